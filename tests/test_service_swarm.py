"""The service scenario on the real local swarm (bench.engine.swarm): a run that brings the swarm up,
measures 4-replica services on the runc and runsc nodes and brings it down leaving nothing; a worker's
daemon killed mid-run; SIGINT mid-service. The host's own engine is only read."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import docker
import pytest

from bench.engine.swarm import layout, main
from bench.engine.swarm.state import load as load_state
from bench.engine.swarm.teardown import leftovers
from bench.results.resultset import SCHEMA_VERSION
from helpers import REPO, host_dockerd_pid, only_result, read, run_analysis, run_bench, write_config

pytestmark = [pytest.mark.engine, pytest.mark.slow]

HOST_SOCKET = "unix:///var/run/docker.sock"
CATEGORIES = {"node_down", "timeout", "not_run", "engine_unavailable", "task_failed", "runtime_error", "api_error"}


@pytest.fixture(scope="module", autouse=True)
def needs_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("the swarm needs root")
    for tool in ("ip", "dockerd", "containerd", "runsc", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"the swarm needs {tool}")


def host_swarm_state() -> Optional[str]:
    """The host engine's swarm state (it must stay out of any swarm); None without a host engine. Its
    containers are not counted: other runs share the host engine."""
    try:
        with docker.APIClient(base_url=HOST_SOCKET, timeout=30) as c:
            return str(c.info()["Swarm"]["LocalNodeState"])
    except Exception:  # noqa: BLE001 - no host engine: nothing of it to check
        return None


@pytest.fixture
def no_swarm():
    """No swarm before, none after (even when the test fails half way); the host engine stays out of it."""
    main("down", lambda _: None)
    yield
    main("down", lambda _: None)
    assert leftovers() == []
    assert host_swarm_state() in (None, "inactive")


@pytest.fixture
def swarm_up(no_swarm):
    assert main("up", lambda _: None) == 0
    yield load_state()


def by_phase(rs, phase: str, mode: Optional[str] = None) -> list[dict[str, Any]]:
    return [s for s in rs.samples if s.phase == phase and (mode is None or s.mode == mode)]


def test_a_run_owns_the_swarm_it_brings_up_and_measures_4_replicas_on_runc_and_runsc_nodes(tmp_path, no_swarm):
    res = tmp_path / "res"
    proc = run_bench(
        "run", "--scenario", "service", "--mode", "swarm-runc", "--mode", "swarm-runsc", "--replicas", "4",
        "--rounds", "2", "--warmup", "0", "--results", str(res), "--no-summary", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "swarm: up in" in proc.stderr and "swarm: stopped 3 node daemon(s)" in proc.stderr
    assert leftovers() == [], "the run left its swarm behind"
    rs = read(only_result(res))
    assert rs.end.status == "complete" and rs.header.version == SCHEMA_VERSION
    service = rs.header.service
    assert set(service["modes"]) == {"swarm-runc", "swarm-runsc"}
    assert service["modes"]["swarm-runsc"]["placement_nodes"] == ["worker-runsc"]
    for mode, nodes in (("swarm-runc", {"manager", "worker-runc"}), ("swarm-runsc", {"worker-runsc"})):
        startup = by_phase(rs, "service_startup", mode)
        assert len(startup) == 8 and all(s.ok and s.level == 4 for s in startup), startup
        assert {s.detail["node"] for s in startup} <= nodes
        assert {s.slot for s in startup} == {1, 2, 3, 4}
        assert all("running" in s.detail["states"] and s.detail["line_ns"] for s in startup)
        for metric in ("create_to_schedule", "schedule_to_run", "run_to_ready"):
            assert all(s.ok for s in by_phase(rs, metric, mode))
        for phase in ("makespan", "scale_down", "service_remove"):
            assert [s.ok for s in by_phase(rs, phase, mode)] == [True, True], by_phase(rs, phase, mode)
    ok = {s.detail["task"]: s.duration_ns for s in by_phase(rs, "service_startup")}
    parts = {}
    for metric in ("create_to_schedule", "schedule_to_run", "run_to_ready"):
        for s in by_phase(rs, metric):
            parts[s.detail["task"]] = parts.get(s.detail["task"], 0) + s.duration_ns
    assert parts == ok  # the three CL2 parts add up to service_startup, task by task
    offsets = service["modes"]["swarm-runc"]["clock_offsets"]
    assert len(offsets) == 3 and all("offset_ns" in o and "applied_ns" in o for o in offsets.values())
    # the report has its service section (it is built only for a set with service samples)
    report = run_analysis("report", only_result(res), "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "service_cl2.csv").is_file() and (tmp_path / "report" / "service_nodes.csv").is_file()


def _popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "bench", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(proc: subprocess.Popen, words: str, lines: list[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if words in line:
            return
        assert time.monotonic() < deadline, lines
    raise AssertionError(f"the run ended before {words!r}: {lines}")


def _kill_a_node_mid_run(cfg: Path, swarm: Any, node: str, timeout: float) -> tuple[int, list[str]]:
    """A 4-replica swarm-runc service run of ``cfg``; once its round 0 starts, ``node``'s dockerd is
    SIGKILLed. The run's exit code and output."""
    proc = _popen(
        "run", "--config", str(cfg), "--scenario", "service", "--mode", "swarm-runc", "--replicas", "4",
        "--results", str(cfg.parent / "res"), "--no-summary",
    )  # fmt: skip
    lines: list[str] = []
    try:
        _wait_for(proc, "round 0 service swarm-runc", lines)
        victim = swarm.node(node).pid
        assert victim is not None and victim != host_dockerd_pid()
        os.kill(victim, signal.SIGKILL)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, lines + out.splitlines()


def test_a_worker_daemon_killed_mid_run_its_tasks_rescheduled_or_failed_and_the_run_completes(tmp_path, swarm_up):
    cfg = write_config(tmp_path / "s.toml", "[service]\nready_s = 45\nscale_down_s = 30\n", rounds=4, warmup=0)
    code, lines = _kill_a_node_mid_run(cfg, swarm_up, "worker-runc", timeout=600)
    assert code == 0, "\n".join(lines)
    rs = read(only_result(tmp_path / "res"))
    assert rs.end.status == "complete" and rs.end.measured_rounds == 4
    after = [s for s in rs.samples if s.round >= 1]
    failed = [s for s in after if not s.ok]
    assert {s.error for s in failed} <= CATEGORIES, {(s.phase, s.error, s.message) for s in failed}
    startup = [s for s in after if s.phase == "service_startup"]
    slots = {}
    for s in startup:
        slots.setdefault((s.group, s.slot), []).append(s)
    rescheduled = [k for k, v in slots.items() if len(v) > 1 and any(x.ok for x in v)]
    lost = [s for s in startup if s.error == "node_down"]
    assert rescheduled or lost, "\n".join(lines)
    assert all(s.detail["node"] == "worker-runc" for s in lost)
    superseded = [x for k in rescheduled for x in slots[k] if not x.ok]
    assert all(x.error == "node_down" and x.detail["node"] == "worker-runc" for x in superseded), superseded
    # once swarm knew the node was down, every task ran on the manager
    last = [s for s in startup if s.round == 3]
    assert last and all(s.ok and s.detail["node"] == "manager" for s in last), last
    print(f"\nworker killed: {len(rescheduled)} slot(s) rescheduled, {len(lost)} task(s) failed as node_down")


def test_sigint_mid_service_ends_the_set_interrupted_and_removes_the_service(tmp_path, swarm_up):
    proc = _popen(
        "run", "--scenario", "service", "--mode", "swarm-runsc", "--replicas", "8", "--rounds", "5", "--warmup", "0",
        "--results", str(tmp_path / "res"), "--no-summary",
    )  # fmt: skip
    lines: list[str] = []
    try:
        _wait_for(proc, "writing ", lines)
        time.sleep(0.7)  # an 8-task runsc service takes about 1.5 s to start here
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines += out.splitlines()
    assert proc.returncode == 130, "\n".join(lines)
    rs = read(only_result(tmp_path / "res"))
    assert rs.end.status == "interrupted" and "SIGINT" in rs.end.reason
    assert any(s.error == "interrupted" for s in rs.samples), "\n".join(lines)
    with docker.APIClient(base_url=layout.MANAGER.endpoint, timeout=30) as c:
        assert c.services(filters={"label": "isobench.run"}) == []
        deadline = time.monotonic() + 30
        while c.containers(all=True, filters={"label": "isobench.run"}):
            assert time.monotonic() < deadline, "task containers stayed on the manager"
            time.sleep(0.5)
    for name in ("worker-runsc", "worker-runc"):
        with docker.APIClient(base_url=layout.node(name).endpoint, timeout=30) as c:
            deadline = time.monotonic() + 30
            while c.containers(all=True, filters={"label": "isobench.run"}):
                assert time.monotonic() < deadline, f"task containers stayed on {name}"
                time.sleep(0.5)


def test_scale_from_zero_and_a_dead_runs_service_swept(tmp_path, swarm_up):
    """start = "scale": created with 0, scaled to N (timed); `isobench sweep` on a manager removes the
    services of runs that hold no lease there."""
    with docker.APIClient(base_url=layout.MANAGER.endpoint, timeout=30) as c:
        spec = docker.types.ContainerSpec(
            layout.IMAGE, command=["sleep", "300"], labels={"isobench.run": "deadrun0000"}
        )
        c.create_service(
            docker.types.TaskTemplate(spec), name="isobench-svc-deadrun0000-0", labels={"isobench.run": "deadrun0000"}
        )
    swept = run_bench("sweep", env={"DOCKER_HOST": layout.MANAGER.endpoint}, timeout=120)
    assert swept.returncode == 0 and "removed 1 isobench service(s): isobench-svc-deadrun0000-0" in swept.stdout
    cfg = write_config(tmp_path / "s.toml", '[service]\nstart = "scale"\n', rounds=1, warmup=0)
    proc = run_bench(
        "run", "--config", str(cfg), "--scenario", "service", "--mode", "swarm-runc", "--replicas", "2",
        "--results", str(tmp_path / "res"), "--no-summary", timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    assert rs.header.service["settings"]["start"] == "scale"
    assert rs.header.service["local_swarm"]["facts"]["endpoint_mode"] == "dnsrr"
    startup = by_phase(rs, "service_startup")
    assert len(startup) == 2 and all(s.ok and s.detail["start"] == "scale" for s in startup)
    with docker.APIClient(base_url=layout.MANAGER.endpoint, timeout=30) as c:
        assert c.services() == []


def test_a_manager_that_dies_fails_the_run_with_one_reason(tmp_path, swarm_up):
    cfg = write_config(tmp_path / "s.toml", "[service]\nready_s = 20\n", rounds=6, warmup=0, reconnect_s=5)
    code, lines = _kill_a_node_mid_run(cfg, swarm_up, "manager", timeout=300)
    assert code == 1, "\n".join(lines)
    rs = read(only_result(tmp_path / "res"))
    assert rs.end.status == "failed"
    assert rs.end.reason == "the manager of mode 'swarm-runc' stayed unavailable for 5 s of reconnect attempts"
    lost = [s for s in rs.samples if s.phase == "makespan" and not s.ok]
    assert lost and lost[-1].error == "engine_unavailable"
