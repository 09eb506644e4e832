"""The scale scenarios' Windows contract, against a server that answers as a Windows engine
(tests/fake_windows_engine.py): bursts send each mode's isolation, and density records the
Hyper-V memory facts (a utility VM per container, at least 512 MB committed up front)."""

from __future__ import annotations

from bench.engine import memory
from fake_windows_engine import FakeWindowsEngine, WindowsHost
from helpers import only_result, read, run_bench, write_config
from test_windows import MODES


def _run(engine: FakeWindowsEngine, tmp_path, *args: str, modes: str = MODES):
    cfg = write_config(tmp_path / "w.toml", modes.format(url=engine.url), warmup=0)
    return run_bench("run", "--config", str(cfg), "--results", str(tmp_path / "res"), "--quiet", "--no-summary", *args,
                     timeout=180)  # fmt: skip


def test_bursts_send_each_modes_isolation(tmp_path):
    with FakeWindowsEngine(WindowsHost(build=17763)) as eng:
        proc = _run(eng, tmp_path, "--scenario", "burst", "--burst", "1,2", "--repeat", "1")
        creates = [r["body"] for r in eng.requests if r["path"] == "/containers/create"]
        left = [c for c in eng.containers.values() if "isobench.run" in c["labels"]]
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    ours = [c for c in creates if c["Labels"].get("isobench.run") == rs.run_id]
    by_mode: dict[str, set[str]] = {}
    for c in ours:
        by_mode.setdefault(c["Labels"]["isobench.mode"], set()).add(c["HostConfig"]["Isolation"])
    assert by_mode == {"process": {"process"}, "hyperv": {"hyperv"}}
    burst_creates = [s for s in rs.samples if s.phase == "create"]
    assert len(burst_creates) == 2 * (1 + 2) and all(s.ok for s in rs.samples)
    spans = [s for s in rs.samples if s.phase == "makespan"]
    # this engine emits no events: the overlap is not claimed, and the set says why
    assert all(s.detail["creates_overlap"]["overlapped"] is None for s in spans)
    assert {s.detail["creates_overlap"]["without_engine_times"] for s in spans} == {1, 2}
    assert left == []


def test_density_records_the_hyperv_memory_facts(tmp_path):
    hyperv_only = MODES.split("[[mode]]")[2]
    with FakeWindowsEngine(WindowsHost(build=17763)) as eng:
        proc = _run(eng, tmp_path, "--scenario", "density", "--density-step", "1", "--density-max", "2",
                    modes="[[mode]]" + hyperv_only)  # fmt: skip
        left = [c for c in eng.containers.values() if "isobench.run" in c["labels"]]
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    steps = [s for s in rs.samples if s.phase == "step"]
    assert [s.level for s in steps] == [1, 2] and all(s.ok for s in steps)
    for s in steps:
        facts = s.detail["memory"]
        assert facts["local"] is False  # a tcp engine: this host's memory says nothing about it
        hv = facts["hyperv"]
        assert hv["utility_vm_per_container"] is True and hv["isolation"] == "hyperv"
        assert hv["documented_minimum_bytes"] == 512 * 2**20 and "Windows Server 2016" in hv["source"]
    teardown = [s for s in rs.samples if s.phase == "teardown"][0]
    assert teardown.ok and teardown.detail["removed"] == 2 and teardown.detail["left"] == []
    assert left == []


def test_the_utility_vms_host_processes_are_read_from_tasklist():
    out = (
        '"System Idle Process","0","Services","0","8 K"\n'
        '"vmmem","4312","Services","0","1,048,576 K"\n'
        '"vmmem","4444","Services","0","524,288 K"\n'
        '"vmwp.exe","3100","Services","0","20,480 K"\n'
    )
    facts = memory.parse_tasklist(out)
    assert facts == {
        "vmmem": {"count": 2, "working_set_bytes": (1048576 + 524288) * 1024},
        "vmwp": {"count": 1, "working_set_bytes": 20480 * 1024},
    }
