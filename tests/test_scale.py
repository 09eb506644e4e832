"""The scale scenarios on the real local engine: bursts overlap inside the engine, open-loop
arrivals keep their schedule on a slowed engine, density stops where told and leaves nothing,
a hung container costs only its own samples, and Ctrl-C mid-burst leaves an interrupted set
and no container."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO, labelled_containers, only_result, read, run_bench, write_config

pytestmark = pytest.mark.engine

RUNC = '[[mode]]\npreset = "runc"\n'
LEASED = "leased by another isobench run"


def run_scale(cfg: Path, results: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`isobench run` on the shared engine: while another run holds its lease, wait and try again."""
    deadline = time.monotonic() + 600
    while True:
        proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", "--no-summary", *args,
                         timeout=timeout)  # fmt: skip
        if LEASED not in proc.stderr or time.monotonic() > deadline:
            return proc
        time.sleep(20)


def samples_of(rs, phase=None, scenario=None):
    return [
        s for s in rs.samples if (phase is None or s.phase == phase) and (scenario is None or s.scenario == scenario)
    ]


def test_a_burst_overlaps_inside_the_engine(engine, tmp_path, results):
    cfg = write_config(tmp_path / "b.toml", RUNC, warmup=0)
    proc = run_scale(cfg, results, "--scenario", "burst", "--burst", "2,4", "--repeat", "1")
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    assert rs.end.status == "complete" and rs.end.leaked == []
    assert all(s.ok for s in rs.samples), [s for s in rs.samples if not s.ok]
    spans = {int(s.level): s for s in samples_of(rs, "makespan")}
    assert set(spans) == {2, 4}
    for n, span in spans.items():
        workers = [s for s in samples_of(rs, "ready") if s.group == span.group]
        assert sorted(s.slot for s in workers) == list(range(n))
        overlap = span.detail["creates_overlap"]
        assert overlap["intervals"] == n and overlap["without_engine_times"] == 0
        assert overlap["overlapped"] is (overlap["max_concurrent"] >= 2) and 0 <= overlap["overlapped_fraction"] <= 1
        if n == 4:  # two creates may happen not to overlap on a busy host; four released together do
            assert overlap["overlapped"] is True and overlap["max_concurrent"] >= 2, overlap
        assert span.detail["barrier"]["broken"] is False
        creates = [s for s in samples_of(rs, "create") if s.group == span.group]
        assert all(s.engine and s.engine["event"] == "create" for s in creates)
    assert rs.header.scale["levels"] == {"runc": [2, 4]} and rs.header.config["scale"]["barrier_s"] > 0
    assert labelled_containers(engine, rs.run_id) == []


def test_open_loop_arrivals_keep_their_schedule_on_a_slow_engine(engine, register_runtime, tmp_path, results):
    """Every runtime create (inside the engine's start) waits 1.5 s: a closed loop would fall behind at 4
    starts/s; an open loop sends each arrival on time and the wait shows up in the arrivals' startup instead."""
    slow = register_runtime("isobench-slow-create", 'case " $* " in *" create "*) sleep 1.5;; esac\nexec runc "$@"')
    body = RUNC + f'runtime = "{slow}"\n\n[scale]\narrivals = "uniform"\n'
    cfg = write_config(tmp_path / "r.toml", body, warmup=0)
    proc = run_scale(cfg, results, "--scenario", "rate", "--rate", "4", "--rate-duration", "2")
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    dispatch = sorted(samples_of(rs, "dispatch"), key=lambda s: s.slot)
    assert len(dispatch) == 8 and all(s.ok for s in dispatch)
    assert max(s.duration_ns for s in dispatch) < 0.25e9  # each went within 250 ms of its schedule
    offsets = [s.detail["scheduled_offset_ns"] for s in dispatch]
    assert offsets == [int(i * 0.25e9) for i in range(8)]
    walls = [s.wall_ns for s in dispatch]
    assert walls[-1] - walls[0] < 2.2e9  # the last arrival went ~1.75 s after the first, not after 8 slow starts
    # The runtime's create runs within the engine's start: the engine really was slow.
    starts = [s for s in samples_of(rs, "start") if s.ok]
    assert len(starts) == 8 and min(s.duration_ns for s in starts) > 1.4e9
    span = samples_of(rs, "makespan")[0]
    assert span.detail["arrivals"] == 8 and span.detail["completed"] == 8
    assert labelled_containers(engine, rs.run_id) == []


def _density(tmp_path, results, *args):
    cfg = write_config(tmp_path / "d.toml", RUNC, warmup=0)
    proc = run_scale(cfg, results, "--scenario", "density", *args)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    teardown = samples_of(rs, "teardown")
    assert len(teardown) == 1 and teardown[0].ok and teardown[0].detail["left"] == []
    return rs, teardown[0].detail


def test_density_stops_at_a_tiny_n_max_and_leaves_nothing(engine, tmp_path, results):
    rs, done = _density(tmp_path, results, "--density-step", "2", "--density-max", "4")
    assert "density_max reached" in done["stop_reason"] and done["running"] == 4 and done["removed"] == 4
    steps = samples_of(rs, "step")
    assert [s.level for s in steps] == [2, 4] and all(s.ok for s in steps)
    for s in steps:
        assert s.detail["memory"]["local"] is True and s.detail["memory"]["mem_available_bytes"] > 0
        assert s.detail["pss_per_container_bytes"] > 0 and s.detail["memory"]["runtime"]["containers_found"] == s.level
    probes = [p for p in samples_of(rs, "ready") if p.scenario == "density"]
    assert len(probes) == 2 * 3 and all(p.ok for p in probes)
    assert labelled_containers(engine, rs.run_id) == []


def test_density_stops_at_an_impossible_reserve_and_leaves_nothing(engine, tmp_path, results):
    rs, done = _density(tmp_path, results, "--reserve-gib", "100000")
    assert "reserve" in done["stop_reason"] and done["running"] == 0
    assert samples_of(rs, "step") == []
    assert labelled_containers(engine, rs.run_id) == []


@pytest.mark.faults
def test_a_hung_container_costs_only_its_own_samples(engine, register_runtime, tmp_path, results):
    """The first start of the burst hangs in the runtime past its timeout: that container's start is a
    timeout, its later phases not_run, its container force-removed; the other two are kept whole."""
    flag = tmp_path / "hung-once"
    script = f'case " $* " in *" start "*) if mkdir {flag} 2>/dev/null; then sleep 8; exit 1; fi;; esac\nexec runc "$@"'
    name = register_runtime("isobench-hang-one", script)
    body = RUNC + f'runtime = "{name}"\ntimeouts = {{ start = 2, remove = 15 }}\n'
    cfg = write_config(tmp_path / "h.toml", body, warmup=0)
    proc = run_scale(cfg, results, "--scenario", "burst", "--burst", "3", "--repeat", "1")
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    starts = sorted(samples_of(rs, "start"), key=lambda s: s.ok)
    assert [s.error for s in starts] == ["timeout", None, None]
    hung = starts[0].slot
    mine = {s.phase: s for s in rs.samples if s.slot == hung}
    assert mine["ready"].error == "not_run" and mine["remove"].error == "not_run"
    assert mine["cleanup"].phase == "cleanup"
    kept = [s for s in samples_of(rs, "ready") if s.ok]
    assert len(kept) == 2
    span = samples_of(rs, "makespan")[0]
    assert not span.ok and span.error == "timeout" and span.detail["ready"] == 2
    assert labelled_containers(engine, rs.run_id) == []


@pytest.mark.faults
def test_ctrl_c_mid_burst_leaves_an_interrupted_set_and_no_container(engine, tmp_path, results):
    body = '[[mode]]\npreset = "runsc"\n'
    cfg = write_config(tmp_path / "i.toml", body, warmup=0)
    proc = _burst_run_in_flight(engine, cfg, results, "8", "20")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    rs = read(only_result(results))
    assert rs.end.status == "interrupted" and rs.end.leaked == []
    assert labelled_containers(engine, rs.run_id) == []
    for burst in {s.group for s in rs.samples}:  # every burst written whole: each slot has its phases
        slots = [s for s in rs.samples if s.group == burst and s.slot is not None and s.phase != "cleanup"]
        assert len(slots) == 8 * 4


def _burst_run_in_flight(engine, cfg: Path, results: Path, sizes: str, repeat: str) -> subprocess.Popen:
    """A burst run of ``cfg`` started in the background, returned once four of its containers are on the
    engine; started again (for up to 10 minutes) while another run holds the engine's lease."""
    args = ["run", "--config", str(cfg), "--results", str(results), "--quiet", "--no-summary", "--scenario", "burst"]
    args += ["--burst", sizes, "--repeat", repeat]
    deadline = time.monotonic() + 600
    while True:
        pipe = subprocess.PIPE
        proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, stdout=pipe, stderr=pipe, text=True)
        if _wait_for_containers(engine, proc, results) is not None:
            return proc
        assert time.monotonic() < deadline, "no burst started"
        time.sleep(20)  # another run held the lease


def _wait_for_containers(engine, proc: subprocess.Popen, results: Path, timeout: float = 120):
    """The run id once the run has four containers of a burst on the engine; None if it exited first
    (another run held the lease)."""
    import json

    deadline = time.monotonic() + timeout
    run_id = None
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(results.rglob("*.jsonl"))
        if run_id is None and files and files[0].stat().st_size:
            run_id = json.loads(files[0].read_text().splitlines()[0])["run_id"]
        if run_id is not None and len(labelled_containers(engine, run_id)) >= 4:
            return run_id
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
    return None


@pytest.mark.faults
def test_sigkill_mid_scale_then_resume_runs_each_group_once(engine, tmp_path, results):
    """A killed scale run: the next run's sweep (here the resume's) removes what it left, and --resume
    runs the groups the set does not hold whole, in the same plan, each once."""
    cfg = write_config(tmp_path / "k.toml", RUNC, warmup=0)
    proc = _burst_run_in_flight(engine, cfg, results, "1,4", "4")
    time.sleep(1.0)
    proc.kill()
    proc.communicate(timeout=30)
    path = only_result(results)
    before = read(path)
    assert before.end is None
    proc = run_bench("run", "--resume", str(path), "--quiet", "--no-summary", timeout=300)
    assert proc.returncode == 0, proc.stderr
    after = read(path)
    assert after.run_id == before.run_id and after.samples[: len(before.samples)] == before.samples
    (resume,) = after.resumes
    assert resume.rounds_done + resume.rounds_remaining == 8  # groups: 2 sizes x 4 repeats
    spans = [s for s in after.samples if s.phase == "makespan" and s.error != "interrupted"]
    whole = [(s.round, s.level) for s in spans]
    assert sorted(whole) == sorted((r, float(n)) for r in range(4) for n in (1, 4))
    assert after.end.status == "complete" and labelled_containers(engine, after.run_id) == []
