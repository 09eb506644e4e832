"""`isobench swarm up|down|status`: a real three-node Docker Swarm on this one machine.

`up` builds, in order: the network (namespaces, hub bridge, veths), the node daemons, the swarm
(init on the manager, ingress removed, workers joined with the worker token, node labels),
then the test image on every node, writing the state file as it goes. It reuses a healthy
cluster, clears a broken or partial leftover first, and removes everything it made when it
fails or is interrupted (Ctrl-C, SIGTERM). `down` removes everything and verifies it. The host's
own dockerd is never touched: it is not a node, never joins, and is not signalled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import time
from typing import Any, Callable, Iterator, Optional

import docker
import requests

from bench.core.errors import UserError
from bench.engine.swarm import daemon, kernel, layout, netns, procs, state, swarm, teardown
from bench.engine.swarm.api import client, ping
from bench.engine.swarm.cmd import CommandFailed
from bench.engine.swarm.layout import MANAGER, NODES
from bench.engine.swarm.state import ClusterState, NodeState

Say = Callable[[str], Any]


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """One swarm command at a time (two `up`s would build the same namespaces). The lock is on the
    build directory itself, so `down` leaves no lock file behind."""
    parent = layout.STATE_DIR.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError("another 'isobench swarm' command is running: wait for it to finish.") from None
        yield
    finally:
        os.close(fd)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise UserError("the swarm needs root (network namespaces, mounts, daemons): run 'isobench swarm' as root.")


# -- up ------------------------------------------------------------------------------


def _network(st: ClusterState, say: Say) -> None:
    netns.create_hub()
    for spec in NODES:
        netns.add_node(spec)
        if any(r.startswith("default") for r in netns.routes(spec)):
            raise UserError(
                f"namespace {spec.netns} has a default route: remove it (ip -n {spec.netns} route del default)."
            )
    st.facts = kernel.facts(netns.probe_vxlan())
    state.save(st)
    say(
        f"swarm: namespaces and bridge {layout.BRIDGE} ready ({layout.UNDERLAY}, no default route); "
        f"IPVS {'yes' if st.facts['ipvs'] else 'no'}, VXLAN {'yes' if st.facts['vxlan'] else 'no'}"
    )


def _daemons(st: ClusterState, say: Say) -> None:
    runsc = shutil.which("runsc")
    for spec in NODES:
        daemon.write_files(spec, runsc)
    started = {spec.name: daemon.start(spec) for spec in NODES}
    for name, proc in started.items():
        st.node(name).pid = proc.pid  # recorded before waiting: a `down` after a kill finds them
    state.save(st)
    ready = daemon.wait_ready(started)
    for spec in NODES:
        node = st.node(spec.name)
        node.ready_s, node.mount_ns = ready[spec.name], procs.mount_ns(started[spec.name].pid)
    state.save(st)
    say(f"swarm: {len(NODES)} node daemons answering after {max(ready.values()):.1f} s")


def _swarm(st: ClusterState, say: Say) -> None:
    st.swarm_id = swarm.init()
    swarm.remove_ingress()
    for spec in NODES:
        if spec is not MANAGER:
            swarm.join(spec)
    ids = {spec.name: swarm.node_id(spec) for spec in NODES}
    swarm.wait_ready(ids)
    for spec in NODES:
        node = st.node(spec.name)
        node.node_id = ids[spec.name]
        node.labels = swarm.label(ids[spec.name], spec.labels)
    state.save(st)
    say(f"swarm: {st.swarm_id[:12]} with 1 manager and {len(NODES) - 1} workers, labelled by {layout.RUNTIME_LABEL}")


def _image(st: ClusterState, say: Say) -> None:
    from bench.engine.image import expected_layer, find_busybox, rootfs_tar  # the recipe `bench image` uses

    busybox = find_busybox()
    layer = expected_layer(busybox)[0]
    saved = swarm.import_image(MANAGER, rootfs_tar(busybox))
    for spec in NODES:
        if spec is not MANAGER:
            swarm.load_image(spec, saved)
    found = {spec.name: swarm.image(spec) for spec in NODES}
    ids = {name: img["Id"] for name, img in found.items()}
    st.image = {
        "ref": layout.IMAGE,
        "id": ids[MANAGER.name],
        "layer": layer,
        "ids": ids,
        "same_id_everywhere": len(set(ids.values())) == 1,
        "same_layer_everywhere": all((img.get("RootFS") or {}).get("Layers") == [layer] for img in found.values()),
    }
    if not st.image["same_id_everywhere"]:
        raise UserError(f"the nodes hold different images after docker load ({ids}): see {MANAGER.log}.")
    say(f"swarm: {layout.IMAGE} ({ids[MANAGER.name][7:19]}, layer {layer[7:19]}) on every node")


def _describe(st: ClusterState) -> None:
    for spec in NODES:
        info = swarm.engine(spec)
        node = st.node(spec.name)
        node.engine_version, node.storage_driver = info.get("ServerVersion"), info.get("Driver")
        if info.get("DefaultRuntime") != spec.runtime:
            raise UserError(
                f"node {spec.name} defaults to {info.get('DefaultRuntime')} instead of {spec.runtime}: see {spec.log}."
            )


def _bring_up(say: Say) -> ClusterState:
    t0 = time.monotonic()
    st = ClusterState(
        phase="starting",
        started=dt.datetime.now(dt.timezone.utc).isoformat(),
        owner_pid=os.getpid(),
        nodes=[NodeState.planned(spec) for spec in NODES],
    )
    state.save(st)  # before the first namespace: a `down` after a kill -9 knows there is something to clear
    marks = {}
    for step in (_network, _daemons, _swarm, _image):
        step(st, say)
        marks[step.__name__.strip("_")] = round(time.monotonic() - t0, 2)
    _describe(st)
    st.phase = "up"
    st.timings = {**{f"{k}_done_s": v for k, v in marks.items()}, "total_s": round(time.monotonic() - t0, 2)}
    state.save(st)
    say(f"swarm: up in {st.timings['total_s']:.1f} s; manager {MANAGER.endpoint}")
    return st


def health(st: Optional[ClusterState]) -> Optional[str]:
    """None when the recorded cluster is whole and answering, else what is wrong (one phrase)."""
    if st is None:
        return "no cluster is recorded"
    if st.phase != "up":
        running = procs.alive(st.owner_pid)
        owner = f"its `up` (pid {st.owner_pid}) is still running" if running else "its `up` did not finish"
        return f"no complete cluster is recorded ({owner})"
    for spec in NODES:
        node = st.node(spec.name)
        if node.pid is None or procs.dockerd_pid(spec) != node.pid:
            return f"node {spec.name}'s dockerd is not running"
        if not ping(spec):
            return f"node {spec.name} does not answer"
    try:
        with client(MANAGER, timeout=10) as c:
            listed = {n["ID"]: n["Status"]["State"] for n in c.nodes()}
        for spec in NODES:
            with client(spec, timeout=10) as c:
                c.inspect_image(layout.IMAGE)
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        return f"the swarm does not answer as recorded ({detail})"
    down = [n.name for n in st.nodes if listed.get(n.node_id) != "ready"]
    return f"node {', '.join(down)} is not ready in the swarm" if down else None


def up(say: Say = print) -> ClusterState:
    """Brings the swarm up, or reuses a healthy one; on any failure or interruption removes what it made."""
    kernel.preflight()
    with _lock():
        st = state.load()
        problem = health(st)
        if problem is None and st is not None:
            say(f"swarm: reusing the running cluster ({(st.swarm_id or '-')[:12]}, manager {st.manager_endpoint})")
            return st
        if st is not None or teardown.anything_there():
            say(f"swarm: clearing a broken or partial leftover first ({problem})")
            teardown.teardown(say, quiet=True)
        try:
            return _bring_up(say)
        except BaseException as exc:
            # Ctrl-C, SIGTERM (bench.errors.Terminated) or a failure: nothing of a half-built cluster stays.
            say("swarm: up did not finish; removing what it made")
            teardown.teardown(say, quiet=True)
            if isinstance(exc, (CommandFailed, docker.errors.DockerException, requests.RequestException)):
                detail = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                raise UserError(f"swarm up failed ({detail}): see the node logs in {layout.LOG_DIR}.") from None
            raise


# -- down ----------------------------------------------------------------------------


def down(say: Say = print) -> bool:
    """Removes the swarm and verifies nothing of it is left; False when there was nothing to remove."""
    _require_root()
    with _lock():
        if not teardown.anything_there():
            say("swarm: nothing to bring down (no node daemon, namespace, mount or state directory of the swarm)")
            return False
        teardown.teardown(say)
        left = teardown.leftovers()
        if left:
            raise UserError(
                f"swarm down left {', '.join(left)} behind: run 'isobench swarm down' again, or remove it by hand."
            )
        return True
