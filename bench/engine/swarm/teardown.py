"""Taking the swarm apart, whatever state it is in, and proving nothing is left.

It works from the names in `layout` (not only from the state file), so it also clears what a
crashed or killed `up` left behind. Order matters: containers and daemons first (they hold the
namespaces and mounts), then cgroups, namespaces (which takes the bridge and veths with them),
mounts, and the state directory last.
"""

from __future__ import annotations

import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from bench.engine.swarm import layout, netns, procs, state, swarm
from bench.engine.swarm.api import ping
from bench.engine.swarm.cmd import run
from bench.engine.swarm.daemon import STOP_TIMEOUT_S

KILL_WAIT_S = 10.0


def _leave_all() -> int:
    """Every answering node leaves the swarm at once (force-removing its tasks); returns how many did."""
    answering = [s for s in layout.NODES if ping(s, timeout=1.0)]

    def leave(spec: layout.NodeSpec) -> bool:
        try:
            swarm.leave(spec)
            return True
        except Exception:  # noqa: BLE001 - not in a swarm, or broken: the daemon is stopped next anyway
            return False

    with ThreadPoolExecutor(max_workers=len(layout.NODES)) as pool:
        return sum(pool.map(leave, answering))


def stop_daemons(mnts: dict[str, Optional[str]]) -> dict[str, int]:
    """SIGTERM every node dockerd (it stops its containerd), SIGKILL what outlives STOP_TIMEOUT_S,
    then SIGKILL every other process still belonging to a node (shims, containers, a lone containerd)."""
    dockerds = {s.name: pid for s in layout.NODES if (pid := procs.dockerd_pid(s)) is not None}
    procs.signal_all(dockerds.values(), signal.SIGTERM)
    stubborn = procs.wait_gone(dockerds.values(), STOP_TIMEOUT_S)
    procs.signal_all(stubborn, signal.SIGKILL)
    procs.wait_gone(stubborn, KILL_WAIT_S)
    orphans = set().union(*procs.all_nodes_pids(mnts).values())
    procs.signal_all(orphans, signal.SIGKILL)
    procs.wait_gone(orphans, KILL_WAIT_S)
    return {"daemons": len(dockerds), "killed": len(stubborn), "orphans": len(orphans)}


def _mounts() -> list[str]:
    """Host mount points that are ours: under the state dir, or a namespace's bind mount."""
    ours = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if (
            point.startswith(str(layout.STATE_DIR) + "/")
            or point == str(layout.STATE_DIR)
            or point.startswith(f"{netns.NETNS_DIR}/{layout.PREFIX}-")
        ):
            ours.append(point)
    return ours


def unmount_all() -> int:
    points = sorted(_mounts(), key=lambda p: -len(p))  # deepest first
    for point in points:
        if run(["umount", point], timeout=20, check=False).returncode != 0:
            run(["umount", "-l", point], timeout=20, check=False)  # busy: detach it now, freed when unused
    return len(points)


def leftovers() -> list[str]:
    """Everything of the swarm that still exists, one phrase each (empty: the machine is clean)."""
    left = [f"node {s.name}'s dockerd (pid {pid})" for s in layout.NODES if (pid := procs.dockerd_pid(s))]
    left += [f"{len(p)} process(es) of node {n}" for n, p in procs.all_nodes_pids({}).items() if p]
    left += [f"network namespace {ns}" for ns in netns.ours()]
    left += [f"link {name} in the host namespace" for name in netns.host_links()]
    left += [f"mount {m}" for m in _mounts()]
    left += [f"cgroup {d}" for s in layout.NODES for d in procs.cgroup_dirs(s)]
    if layout.STATE_DIR.exists():
        left.append(f"directory {layout.STATE_DIR}")
    return left


def anything_there() -> bool:
    return bool(leftovers())


def teardown(say: Callable[[str], Any] = print, quiet: bool = False) -> dict[str, Any]:
    """Removes the whole swarm; returns what it did. Raises nothing for a part already gone."""
    st = state.load()
    mnts = {n.name: n.mount_ns for n in st.nodes} if st else {}
    t0 = time.monotonic()
    left_swarm = _leave_all()
    leave_s = time.monotonic() - t0
    stopped = stop_daemons(mnts)
    stop_s = time.monotonic() - t0 - leave_s
    stayed = [d for s in layout.NODES for d in procs.remove_cgroups(s)]
    namespaces = netns.ours()
    for ns in namespaces:
        netns.delete(ns)
    unmounted = unmount_all()
    if layout.STATE_DIR.exists():
        shutil.rmtree(layout.STATE_DIR, ignore_errors=True)
    report = {
        **stopped,
        "left_swarm": left_swarm,
        "namespaces": len(namespaces),
        "unmounted": unmounted,
        "cgroups_stayed": stayed,
        "leave_s": round(leave_s, 2),
        "stop_s": round(stop_s, 2),
        "seconds": round(time.monotonic() - t0, 2),
    }
    if not quiet:
        say(
            f"swarm: stopped {stopped['daemons']} node daemon(s), removed {len(namespaces)} namespace(s) "
            f"(with the bridge and veths), {unmounted} mount(s) and {layout.STATE_DIR} in {report['seconds']} s"
        )
    return report
