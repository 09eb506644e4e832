"""The service scenario against a server that answers as a Windows swarm manager (tests/fake_windows_engine.py):
a service's task template carries the isolation and the placement, and a Windows task error (HCS) is
recorded as failed samples under its category, with the engine's own words."""

from __future__ import annotations

from fake_windows_engine import FakeWindowsEngine, WindowsHost
from helpers import only_result, read, run_bench, write_config

MODE = """
[service]
replicas = [2]
ready_s = 3
scale_down_s = 5
remove_s = 5
poll_s = 0.05

[[mode]]
preset = "swarm-hyperv"
endpoint = "{url}"
allow_plain_tcp = true
timeouts = {{ create = 10, start = 10, ready = 10, exec = 10, stop = 10, remove = 10, ping = 5 }}
"""


def _run(tmp_path, host: WindowsHost):
    with FakeWindowsEngine(host) as eng:
        cfg = write_config(tmp_path / "w.toml", MODE.format(url=eng.url), rounds=1, warmup=0)
        proc = run_bench(
            "run", "--config", str(cfg), "--scenario", "service", "--results", str(tmp_path / "res"), "--quiet",
            "--no-summary", timeout=120,
        )  # fmt: skip
        return proc, [r for r in eng.requests if r["path"] == "/services/create"], eng


def test_the_task_template_carries_the_isolation_and_a_windows_task_error_is_categorised(tmp_path):
    proc, creates, eng = _run(tmp_path, WindowsHost(build=17763, swarm=True))
    assert proc.returncode == 0, proc.stderr
    assert len(creates) == 1
    spec = creates[0]["body"]
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert container["Isolation"] == "hyperv"
    assert container["Image"] == "mcr.microsoft.com/windows/nanoserver:1809"
    assert spec["TaskTemplate"]["Placement"]["Constraints"] == ["node.platform.os==windows"]
    assert {k.lower(): v for k, v in spec["Mode"].items()} == {"replicated": {"Replicas": 2}}  # Go reads any case
    assert "isobench.run" in spec["Labels"] and "isobench.run" in container["Labels"]
    assert not eng.services, "the service was left on the manager"
    rs = read(only_result(tmp_path / "res"))
    assert rs.end.status == "complete"
    startup = [s for s in rs.samples if s.phase == "service_startup"]
    assert len(startup) == 2 and {s.slot for s in startup} == {1, 2}
    for s in startup:
        assert not s.ok and s.error == "no_hypervisor", s
        assert "0xc0351000" in s.message and s.detail["node"] == "WINHOST"
        assert s.scenario == "service" and s.level == 2
    first = [s for s in rs.samples if s.phase == "create_to_schedule"]
    assert all(s.error == "no_hypervisor" for s in first)
    assert all(s.error == "not_run" for s in rs.samples if s.phase in ("schedule_to_run", "run_to_ready"))
    span = next(s for s in rs.samples if s.phase == "makespan")
    assert not span.ok and span.error == "no_hypervisor" and "0 of 2 tasks ready" in span.message
    assert [s.ok for s in rs.samples if s.phase in ("scale_down", "service_remove")] == [True, True]
    offsets = rs.header.service["modes"]["swarm-hyperv"]["clock_offsets"]["winnode1"]
    assert abs(offsets["offset_ns"]) < 5e9, offsets  # local time with its UTC offset, read as UTC


def test_an_os_mismatch_from_a_process_isolated_task_is_categorised(tmp_path):
    from fake_windows_engine import OS_MISMATCH

    host = WindowsHost(build=17763, swarm=True, task_error="starting container failed: " + OS_MISMATCH.format(cid="x"))
    proc, _, _ = _run(tmp_path, host)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    assert {s.error for s in rs.samples if s.phase == "service_startup"} == {"os_mismatch"}


def test_a_plain_engine_is_not_a_swarm_manager(tmp_path):
    proc, creates, _ = _run(tmp_path, WindowsHost(build=17763, swarm=False))
    assert proc.returncode == 2 and not creates
    assert "is not a swarm manager (its swarm state is inactive)" in proc.stderr, proc.stderr
