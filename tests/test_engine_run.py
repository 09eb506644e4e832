"""The timing core on the real local engine: runc and runsc, skips, timeouts, signals."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest

from bench.core.phases import PHASES
from bench.results.resultset import SCHEMA_VERSION
from helpers import REPO, labelled_containers, only_result, read, run_bench, write_config

pytestmark = pytest.mark.engine

TWO_MODES = """
[[mode]]
preset = "runc"

[[mode]]
preset = "runsc"
"""


@pytest.fixture(scope="module")
def short_run(engine, tmp_path_factory):
    """One short run over runc and runsc, shared by the checks below."""
    tmp = tmp_path_factory.mktemp("short")
    cfg = write_config(tmp / "bench.toml", TWO_MODES, rounds=3, warmup=1, seed=7)
    # Not --quiet: the output is not a terminal, as in CI logs or `make bench > log`.
    proc = run_bench("run", "--config", str(cfg), "--results", str(tmp / "results"), check=True)
    return proc, read(only_result(tmp / "results"))


def test_a_run_ends_with_the_answer_and_logs_plain_progress(short_run):
    """`make bench` ends with each mode's startup and the claim verdict (as `report` prints them), and
    where stderr is not a terminal, progress is one plain line per round instead of a redrawn bar."""
    proc, rs = short_run
    out = proc.stdout
    assert "startup (ms, successes only)" in out and "runc" in out and "runsc" in out
    assert "claim Startup time ranks native < hyperv < toolbox" in out
    assert f"isobench report {rs.path}" in out
    rounds = [line for line in proc.stderr.splitlines() if line.startswith("round ")]
    assert [r.split(" ")[1] for r in rounds] == ["1/4", "2/4", "3/4", "4/4"]
    assert "startup: runc" in rounds[-1] and "━" not in proc.stderr and "ETA" not in proc.stderr


def test_short_run_has_every_phase_for_both_modes(short_run):
    proc, rs = short_run
    assert rs.end is not None and rs.end.status == "complete", rs.end
    assert set(rs.header.modes) == {"runc", "runsc"}
    counts = Counter((s.mode, s.phase, s.warmup) for s in rs.samples)
    for mode in ("runc", "runsc"):
        for phase in PHASES:
            assert counts[(mode, phase, False)] == 3, (mode, phase, counts)
            assert counts[(mode, phase, True)] == 1, (mode, phase, counts)
    assert all(s.ok for s in rs.samples), [s for s in rs.samples if not s.ok]
    assert rs.end.measured_cycles == 6
    assert rs.end.counts["runsc"]["ready"] == {"ok": 3, "failed": 0}


def test_header_records_host_engine_and_image(short_run):
    _, rs = short_run
    h = rs.header.to_json()  # the nested sections read as the JSON they are
    assert h["schema"] == "isobench.resultset" and h["version"] == SCHEMA_VERSION and h["seed"] == 7
    assert h["host"]["cpu_count"] >= 1 and h["host"]["kernel"]
    assert h["packages"]["docker"]
    for name, runtime in (("runc", "runc"), ("runsc", "runsc")):
        m = h["modes"][name]
        assert m["engine"]["version"] and m["engine"]["os_type"] == "linux" and m["engine"]["storage_driver"]
        assert m["api_version"] and m["ping_rtt_ns"] > 0 and len(m["ping_samples_ns"]) == 5
        assert m["runtime_reported"] == runtime
        assert m["isolation_reported"] in ("", "default")
        assert m["image"]["id"].startswith("sha256:") and m["image"]["size"] > 0


def test_phases_are_in_a_sensible_order(short_run):
    """Within each cycle the wall clock moves forward phase by phase, the engine's
    events come in create < start < die < destroy order, and stop did not wait
    out the grace period (the command handles SIGTERM)."""
    _, rs = short_run
    cycles = defaultdict(dict)
    for s in rs.samples:
        cycles[(s.round, s.mode)][s.phase] = s
    assert len(cycles) == 8
    for key, phases in cycles.items():
        walls = [phases[p].wall_ns for p in PHASES]
        assert walls == sorted(walls), key
        assert phases["ready"].wall_ns >= phases["start"].wall_ns + phases["start"].duration_ns - 1_000_000
        assert len({phases[p].cid for p in PHASES}) == 1
        events = [phases[p].engine["time_nano"] for p in ("create", "start", "stop", "remove")]
        assert events == sorted(events), key
        stop = phases["stop"].detail
        assert stop["used_grace"] is False and stop["exit_code"] == 0
        assert phases["stop"].duration_ns < stop["grace_s"] * 1e9
        # the client waits for the engine: a phase is never shorter on the client than
        # the engine's own create->start gap would allow (1 ms tolerance)
        assert all(phases[p].duration_ns > 0 for p in PHASES)


def test_round_order_is_shuffled_by_the_recorded_seed(short_run):
    _, rs = short_run
    orders = defaultdict(list)
    for s in rs.samples:
        if s.phase == "create":
            orders[s.round].append((s.pos, s.mode))
    assert all(sorted(p for p, _ in v) == [0, 1] for v in orders.values())


def test_no_container_left_after_a_run(short_run, engine):
    _, rs = short_run
    assert labelled_containers(engine, rs.run_id) == []
    assert rs.end.leaked == []


def test_pyperf_export_is_readable_by_pyperf(short_run, tmp_path):
    _, rs = short_run
    out = tmp_path / "suite.json"
    proc = run_bench("export", "--pyperf", str(rs.path), "-o", str(out), check=True)
    assert "benchmarks" in proc.stdout
    stats = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(out)], capture_output=True, text=True)
    assert stats.returncode == 0, stats.stderr
    assert "runc.startup" in stats.stdout and "runsc.create" in stats.stdout
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(out))
    startup = suite.get_benchmark("runc.startup")
    assert len(startup.get_values()) == 3


def test_unknown_runtime_and_rejected_isolation_are_skipped_with_reasons(engine, tmp_path, results):
    cfg = write_config(
        tmp_path / "bench.toml",
        """
        [[mode]]
        preset = "runc"

        [[mode]]
        preset = "runc"
        name = "bogus-runtime"
        runtime = "no-such-runtime"

        [[mode]]
        preset = "runc"
        name = "hyperv-on-linux"
        isolation = "hyperv"
        """,
        rounds=1,
        warmup=0,
    )
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", check=True)
    rs = read(only_result(results))
    skipped = rs.header.skipped
    assert skipped["bogus-runtime"]["skip_category"] == "runtime_unknown"
    assert "no-such-runtime" in skipped["bogus-runtime"]["skip_reason"]
    assert skipped["hyperv-on-linux"]["skip_category"] == "isolation_rejected"
    assert "linux only supports 'default'" in skipped["hyperv-on-linux"]["skip_reason"].lower()
    assert set(rs.header.modes) == {"runc"}
    assert rs.end.status == "complete"
    assert "bogus-runtime: skipped" in proc.stderr
    assert labelled_containers(engine, rs.run_id) == []


def test_no_usable_mode_exits_2_with_one_sentence_per_mode(engine, tmp_path, results):
    cfg = write_config(
        tmp_path / "bench.toml",
        """
        [[mode]]
        preset = "runc"
        name = "a"
        runtime = "nope"

        [[mode]]
        preset = "runc"
        name = "b"
        image = "isobench/not-there:1"
        """,
    )
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "mode 'a': runtime 'nope' is not registered" in proc.stderr
    assert "mode 'b': image 'isobench/not-there:1' is not on the engine" in proc.stderr
    assert list(results.rglob("*.jsonl")) == []


def test_every_line_is_flushed_as_taken(engine, tmp_path, results):
    """While a run is going, the file on disk already holds whole cycles."""
    cfg = write_config(tmp_path / "bench.toml", '[[mode]]\npreset = "runc"\n', rounds=50, warmup=0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--config", str(cfg), "--results", str(results), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline and len(lines) < 13:
            files = list(results.rglob("*.jsonl"))
            lines = open(files[0]).read().splitlines() if files else []
            time.sleep(0.05)
        assert len(lines) >= 13
        whole = [json.loads(line) for line in lines]
        assert whole[0]["type"] == "header"
    finally:
        proc.kill()
        proc.wait()
        from bench.engine.sweep import sweep

        sweep(engine)
