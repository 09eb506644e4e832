"""The one-machine swarm (bench.engine.swarm), for real: three node dockerds in their own network
namespaces, a service placed across the runc and runsc nodes, and a `down` that leaves nothing.

The host's own engine (/var/run/docker.sock, /var/run/docker.pid) is only read: it must stay out
of any swarm and keep its containers. Timings (up, down, the service's time to running) are
printed; run with -s to see them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from bench.core.errors import UserError
from bench.engine.swarm import layout, main
from bench.engine.swarm.api import client
from bench.engine.swarm.state import ClusterState
from bench.engine.swarm.state import load as load_state

pytestmark = [pytest.mark.engine, pytest.mark.slow]

HOST_SOCKET = "unix:///var/run/docker.sock"
HOST_PIDFILE = Path("/var/run/docker.pid")
OTHER_RUNS = {"isobench.run", "isobench.lease"}  # labels of what other isobench runs keep on the host engine
SERVICE = "isobench-swarm-test"
REPLICAS = 4
POLL_S = 0.075  # GET /tasks every 50-100 ms, as the measurement will


@pytest.fixture(scope="module", autouse=True)
def needs_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("the swarm needs root")
    for tool in ("ip", "dockerd", "containerd", "runsc", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"the swarm needs {tool}")


def _host_pid() -> int | None:
    try:
        return int(HOST_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None


def host_engine() -> dict[str, Any]:
    """The host engine's swarm state and containers; waits up to 60 s for it (other tests on this
    machine sometimes restart it). Containers of isobench runs are left out: other runs share the host
    engine and create and remove theirs meanwhile."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with docker.APIClient(base_url=HOST_SOCKET, timeout=30) as c:
                info = c.info()
                found = c.containers(all=True)
                ids = {x["Id"]: x.get("Names") for x in found if not (x.get("Labels") or {}).keys() & OTHER_RUNS}
            return {"swarm": info["Swarm"]["LocalNodeState"], "containers": ids}
        except Exception:  # noqa: BLE001 - retried until the deadline
            if time.monotonic() > deadline:
                pytest.skip("the host's Docker engine does not answer")
            time.sleep(1)


def live_dockerds() -> dict[int, str]:
    """Every running dockerd on the machine (zombies excluded): pid -> command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if argv and os.path.basename(argv[0].decode()) == "dockerd" and state != "Z":
            found[int(entry)] = b" ".join(argv).decode(errors="replace").strip()
    return found


def our_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(layout.PREFIX + "-")]


def mounts_under_state_dir() -> list[str]:
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [p for p in points if p.startswith(str(layout.STATE_DIR)) or p.startswith(f"/run/netns/{layout.PREFIX}-")]


def assert_nothing_left(dockerds_before: dict[int, str]) -> None:
    host = _host_pid()
    new = {p: cmd for p, cmd in live_dockerds().items() if p != host and p not in dockerds_before}
    assert not new, f"dockerds left besides the host's (pid {host}): {new}"
    assert not [cmd for cmd in live_dockerds().values() if str(layout.STATE_DIR) in cmd]
    assert our_namespaces() == []
    link = subprocess.run(["ip", "link", "show", layout.BRIDGE], capture_output=True, timeout=10)
    assert link.returncode != 0, "the swarm's bridge is in the host namespace"
    assert mounts_under_state_dir() == []
    assert not layout.STATE_DIR.exists() or not any(layout.STATE_DIR.iterdir())
    cgroups = Path("/sys/fs/cgroup")
    assert [*cgroups.glob(f"{layout.PREFIX}-*"), *cgroups.glob(f"*/{layout.PREFIX}-*")] == []


@pytest.fixture
def clean_machine():
    """Starts from no swarm and always ends with none (even when the test fails half way)."""
    main("down", lambda _: None)
    before = live_dockerds()
    yield before
    main("down", lambda _: None)


def _service_spec() -> dict[str, Any]:
    """4 replicas spread by the runtime label (2 on the runsc node, 2 over the runc nodes), DNS round
    robin (no IPVS here), no published ports, isolation sent explicitly."""
    spec = docker.types.ContainerSpec(
        layout.IMAGE,
        command=["sh", "-c", "echo ready from $(hostname); sleep 300"],
        isolation="default",
        stop_grace_period=1_000_000_000,
    )
    placement = docker.types.Placement(
        constraints=[f"node.labels.{layout.RUNTIME_LABEL} != none"],
        preferences=[("spread", f"node.labels.{layout.RUNTIME_LABEL}")],
    )
    template = docker.types.TaskTemplate(
        spec, placement=placement, restart_policy=docker.types.RestartPolicy(condition="none")
    )
    return {
        "task_template": template,
        "name": SERVICE,
        "mode": docker.types.ServiceMode("replicated", REPLICAS),
        "endpoint_spec": docker.types.EndpointSpec(mode="dnsrr"),
    }


def wait_running(c: docker.APIClient, timeout: float = 120) -> tuple[list[dict[str, Any]], float]:
    t0 = time.monotonic()
    while True:
        tasks = c.tasks(filters={"service": SERVICE})
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        if len(running) == REPLICAS:
            return running, time.monotonic() - t0
        failed = [t["Status"].get("Err") for t in tasks if t["Status"]["State"] in ("failed", "rejected")]
        assert not failed, f"tasks failed: {failed}"
        assert time.monotonic() - t0 < timeout, [t["Status"] for t in tasks]
        time.sleep(POLL_S)


def check_nodes(st: ClusterState) -> None:
    with client(layout.MANAGER, timeout=30) as c:
        nodes = c.nodes()
    roles = sorted(n["Spec"]["Role"] for n in nodes)
    assert roles == ["manager", "worker", "worker"]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    runsc = st.node("worker-runsc")
    listed = {n["ID"]: n for n in nodes}[runsc.node_id]
    assert listed["Spec"]["Labels"][layout.RUNTIME_LABEL] == "runsc"
    for spec in layout.NODES:
        with client(spec, timeout=30) as c:
            info = c.info()
        assert info["DefaultRuntime"] == spec.runtime
        assert info["Swarm"]["NodeAddr"] == spec.ip  # swarm speaks on the namespace address only
        routes = subprocess.run(
            ["ip", "-n", spec.netns, "route", "show"], capture_output=True, text=True, timeout=10
        ).stdout
        assert "default" not in routes and spec.ip in routes


def check_task_output(st: ClusterState, tasks: list[dict[str, Any]]) -> dict[str, int]:
    """Each task's container, read on its own node: it printed its line, under its node's runtime."""
    by_id = {n.node_id: n for n in st.nodes}
    runtimes: dict[str, int] = {}
    for task in tasks:
        node = by_id[task["NodeID"]]
        cid = task["Status"]["ContainerStatus"]["ContainerID"]
        with client(layout.node(node.name), timeout=30) as c:
            assert c.inspect_container(cid)["HostConfig"]["Runtime"] == node.runtime
            deadline = time.monotonic() + 30
            while b"ready from" not in c.logs(cid):
                assert time.monotonic() < deadline, f"no output from {cid[:12]} on {node.name}"
                time.sleep(0.1)
        runtimes[node.runtime] = runtimes.get(node.runtime, 0) + 1
    return runtimes


def remove_service() -> None:
    with client(layout.MANAGER, timeout=30) as c:
        c.remove_service(SERVICE)
    for spec in layout.NODES:
        with client(spec, timeout=30) as c:
            deadline = time.monotonic() + 30
            while c.containers(all=True, filters={"label": f"com.docker.swarm.service.name={SERVICE}"}):
                assert time.monotonic() < deadline, f"the service's containers stayed on {spec.name}"
                time.sleep(0.2)


def _exec(spec: layout.NodeSpec, cid: str, argv: list[str]) -> tuple[int, str]:
    with client(spec, timeout=30) as c:
        ex = c.exec_create(cid, argv)
        out = c.exec_start(ex["Id"]).decode(errors="replace")
        return c.exec_inspect(ex["Id"])["ExitCode"], out


def check_overlay(st: ClusterState) -> None:
    """An overlay network (VXLAN between the node namespaces) with a dnsrr service on the two runc
    nodes: a task resolves the service's tasks and reaches the one on the other node."""
    name, net = f"{SERVICE}-ov", f"{SERVICE}-net"
    spec = docker.types.ContainerSpec(layout.IMAGE, command=["sleep", "300"], stop_grace_period=1_000_000_000)
    placement = docker.types.Placement(
        constraints=[f"node.labels.{layout.RUNTIME_LABEL} == runc"],
        preferences=[("spread", f"node.labels.{layout.NODE_LABEL}")],
    )
    with client(layout.MANAGER, timeout=30) as c:
        c.create_network(net, driver="overlay")
        c.create_service(
            docker.types.TaskTemplate(spec, placement=placement, networks=[net]),
            name=name,
            mode=docker.types.ServiceMode("replicated", 2),
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        )
        deadline, tasks = time.monotonic() + 60, []
        while len(tasks) < 2:
            assert time.monotonic() < deadline, "the overlay service did not run"
            time.sleep(0.2)
            tasks = [t for t in c.tasks(filters={"service": name}) if t["Status"]["State"] == "running"]
    by_id = {n.node_id: n for n in st.nodes}
    here, there = (layout.node(by_id[t["NodeID"]].name) for t in tasks)
    assert here != there, "both overlay tasks landed on one node"
    peer = tasks[1]["NetworksAttachments"][0]["Addresses"][0].split("/")[0]
    cid = tasks[0]["Status"]["ContainerStatus"]["ContainerID"]
    code, out = _exec(here, cid, ["/bin/busybox", "ping", "-c", "2", "-W", "3", peer])
    assert code == 0, f"{here.name} could not reach {peer} on {there.name} over VXLAN: {out}"
    code, out = _exec(here, cid, ["/bin/busybox", "nslookup", f"tasks.{name}"])
    assert code == 0 and peer in out, out
    with client(layout.MANAGER, timeout=30) as c:
        c.remove_service(name)
        deadline = time.monotonic() + 30
        while True:
            try:
                c.remove_network(net)
                break
            except docker.errors.APIError:  # in use until both tasks are gone
                assert time.monotonic() < deadline, "the overlay network stayed in use"
                time.sleep(0.2)


def test_up_service_across_runtimes_down(clean_machine):
    host_before = host_engine()
    assert host_before["swarm"] == "inactive"
    said: list[str] = []
    t0 = time.monotonic()
    assert main("up", said.append) == 0
    up_s = time.monotonic() - t0
    st = load_state()
    assert st is not None and st.phase == "up", said
    assert st.facts["endpoint_mode"] == "dnsrr" and "ipvs" in st.facts and "vxlan" in st.facts
    check_nodes(st)
    again: list[str] = []
    assert main("up", again.append) == 0 and "reusing" in again[0]  # idempotent
    status: list[str] = []
    assert main("status", status.append) == 0
    assert "worker-runsc" in "\n".join(status) and f"{layout.RUNTIME_LABEL}=runsc" in "\n".join(status)

    with client(layout.MANAGER, timeout=30) as c:
        c.create_service(**_service_spec())
        tasks, running_s = wait_running(c)
    runtimes = check_task_output(st, tasks)
    assert runtimes.get("runc", 0) >= 1 and runtimes.get("runsc", 0) >= 1, runtimes
    remove_service()
    if st.facts["vxlan"]:
        check_overlay(st)

    down_said: list[str] = []
    t0 = time.monotonic()
    assert main("down", down_said.append) == 0
    down_s = time.monotonic() - t0
    assert_nothing_left(clean_machine)
    host_after = host_engine()
    assert host_after["swarm"] == "inactive"
    assert len(host_after["containers"]) == len(host_before["containers"]), (host_before, host_after)
    print(
        f"\nswarm timings: up {up_s:.1f} s, {REPLICAS}-replica service running after {running_s:.2f} s "
        f"({runtimes}), down {down_s:.1f} s"
    )


def test_down_with_nothing_up_says_so(clean_machine):
    said: list[str] = []
    assert main("down", said.append) == 0
    assert said == ["swarm: nothing to bring down (no node daemon, namespace, mount or state directory of the swarm)"]
    status: list[str] = []
    assert main("status", status.append) == 1 and status == ["swarm: not up"]


def test_an_unknown_action_is_one_sentence():
    with pytest.raises(UserError, match="unknown swarm action 'sideways': use one of up, down, status."):
        main("sideways")


@pytest.mark.parametrize("after_lines", [1, 2])
def test_ctrl_c_during_up_leaves_nothing(clean_machine, after_lines):
    """SIGINT after the namespaces (1) or the daemons (2) are up: `up` removes what it made and exits 130.

    `up` waits on its stdin after that line, so the signal lands while it is still building (on a loaded
    host the rest of `up` could otherwise finish before the signal arrives, and exit 0 rightly)."""
    code = (
        "import sys\nfrom bench.core.command import run_command\nimport bench.engine.swarm as s\n"
        "said = []\n"
        "def say(line):\n"
        "    print(line, flush=True)\n"
        "    said.append(line)\n"
        f"    if len(said) == {after_lines}:\n"
        "        sys.stdin.readline()\n"
        "sys.exit(run_command(lambda action: s.main(action, say), 'up'))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if len(lines) == after_lines:
            proc.send_signal(signal.SIGINT)
            assert proc.stdin is not None
            proc.stdin.close()  # a lost signal then lets `up` finish (exit 0, a failure) instead of hanging
    assert proc.wait(timeout=120) == 130, lines
    assert "swarm: up did not finish; removing what it made" in lines
    assert_nothing_left(clean_machine)


def test_a_node_that_cannot_start_is_one_sentence_and_leaves_nothing(clean_machine, monkeypatch):
    """A node dockerd that exits at start (here: an option it does not know) ends `up` with one
    sentence naming the node and its log, and the half-built cluster is gone."""
    from bench.engine.swarm import daemon

    real = daemon.config

    def broken(spec, runsc):
        cfg = real(spec, runsc)
        if spec.name == "worker-runsc":
            cfg["no-such-option"] = True
        return cfg

    monkeypatch.setattr(daemon, "config", broken)
    with pytest.raises(UserError) as err:
        main("up", lambda _: None)
    message = str(err.value)
    assert message.startswith("node worker-runsc's dockerd exited at start (") and "no-such-option" in message
    assert message.endswith(f"see {layout.LOG_DIR / 'worker-runsc.log'}.")
    assert_nothing_left(clean_machine)


def test_not_root_is_one_sentence(tmp_path):
    """As an unprivileged user `up` refuses before touching anything."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root")
    code = (
        "import sys\nfrom bench.core.command import run_command\nimport bench.engine.swarm as s\n"
        "sys.exit(run_command(s.main, 'up'))\n"
    )
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "isobench: the swarm needs root (network namespaces, mounts, daemons): run 'isobench swarm up' as root."
    )
