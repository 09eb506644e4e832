"""The scheduler on scripted times (the executor seam): rounds, warm-up, budget, precision, failures."""

from __future__ import annotations

import itertools
from collections import Counter
from types import SimpleNamespace

from bench.core.config import RunSettings, Timeouts
from bench.core.precision import order_stat_median_ci, relative_halfwidth
from bench.measure.executor import ScriptedExecutor
from bench.results.records import Sample
from bench.results.resultset import ResultWriter, read_resultset
from bench.results.synthetic import header
from bench.schedule.scheduler import Output, Position, Scheduler, derived_of, end_record

HEADER = header([], run_id="s")


def rt(name):
    return SimpleNamespace(mode=SimpleNamespace(name=name, timeouts=Timeouts()))


def run(tmp_path, settings, script, modes=("a", "b"), seed=1, clock=None):
    path = tmp_path / "s.jsonl"
    w = ResultWriter.create(path, HEADER)
    sched = Scheduler(settings, [rt(m) for m in modes], ScriptedExecutor(script), Output(w), Position(seed))
    if clock:
        sched.clock = clock
    out = sched.run()
    w.close(end_record(out, 0, []))
    return out, read_resultset(path)


def test_rounds_warmup_and_counts(tmp_path):
    out, rs = run(tmp_path, RunSettings(rounds=4, warmup=2, min_rounds=1, budget_s=None), lambda m, p, r: 1_000_000)
    assert out.status == "complete" and out.measured_rounds == 4
    c = Counter((s.mode, s.warmup) for s in rs.samples)
    assert c == {("a", True): 12, ("b", True): 12, ("a", False): 24, ("b", False): 24}
    assert rs.end.counts["a"]["create"] == {"ok": 4, "failed": 0}


def test_order_is_shuffled_and_reproducible_from_the_seed(tmp_path):
    def orders(seed, sub):
        _, rs = run(
            tmp_path / sub,
            RunSettings(rounds=30, warmup=0, min_rounds=1, budget_s=None),
            lambda m, p, r: 1,
            modes=("a", "b", "c"),
            seed=seed,
        )
        return [tuple(s.mode for s in rs.samples if s.phase == "create" and s.round == r) for r in range(30)]

    for sub in ("x", "y", "z"):
        (tmp_path / sub).mkdir()
    first, again, other = orders(5, "x"), orders(5, "y"), orders(6, "z")
    assert first == again and first != other
    assert len(set(first)) > 1  # not one fixed order


def test_failures_are_samples_and_later_phases_not_run(tmp_path):
    def script(mode, phase, rnd):
        return "timeout" if (mode == "b" and phase == "start") else 2_000_000

    out, rs = run(tmp_path, RunSettings(rounds=3, warmup=0, min_rounds=1, budget_s=None), script)
    b = [s for s in rs.samples if s.mode == "b"]
    assert Counter(s.error for s in b) == {None: 3, "timeout": 3, "not_run": 12}
    assert out.tally.startups["b"] == [] and len(out.tally.startups["a"]) == 3


def test_budget_stops_before_overrunning(tmp_path):
    ticks = itertools.count()
    # each clock read advances 1 s; the budget allows only a few rounds
    out, _ = run(
        tmp_path,
        RunSettings(rounds=100, warmup=0, min_rounds=1, budget_s=10),
        lambda m, p, r: 1,
        clock=lambda: float(next(ticks)),
    )
    assert out.status == "complete" and "time budget" in out.reason and out.measured_rounds < 100


def test_precision_rule_stops_once_medians_are_tight(tmp_path):
    out, _ = run(
        tmp_path,
        RunSettings(rounds=500, warmup=0, min_rounds=20, budget_s=None, precision=0.05),
        lambda m, p, r: 10_000_000 + (r % 7) * 10_000,
    )
    assert out.measured_rounds == 20 and "known to" in out.reason


def test_startup_needs_all_three_phases():
    base = dict(round=0, pos=0, mode="m", warmup=False, wall_ns=1)
    ok = [Sample(**base, phase=p, ok=True, duration_ns=10) for p in ("create", "start", "ready")]
    assert derived_of(ok) == 30
    assert derived_of(ok[:2]) is None
    assert derived_of([*ok[:2], Sample(**base, phase="ready", ok=False, duration_ns=None)]) is None


def test_median_ci_brackets_the_median():
    values = list(range(1, 101))
    low, mid, high = order_stat_median_ci(values)
    assert low < mid < high and mid == 50.5
    assert order_stat_median_ci([1, 2, 3]) is None and relative_halfwidth([5]) == float("inf")


class Control:
    """A stand-in engine control: counts how often the scheduler had to restore the engine."""

    kind = "scripted"

    def __init__(self):
        self.calls = []

    def stop(self):
        self.calls.append("stop")

    def start(self):
        self.calls.append("start")


def test_cold_rounds_follow_warm_ones_with_engine_phases_first(tmp_path):
    controls = {"a": Control(), "b": Control()}
    path = tmp_path / "s.jsonl"
    w = ResultWriter.create(path, HEADER)
    settings = RunSettings(rounds=3, warmup=1, min_rounds=1, budget_s=None, scenario="both", cold_rounds=2)
    sched = Scheduler(
        settings,
        [rt("a"), rt("b")],
        ScriptedExecutor(lambda m, p, r: 1_000_000),
        Output(w),
        Position(1),
        controls=controls,
    )
    out = sched.run()
    w.close(end_record(out, 0, []))
    rs = read_resultset(path)
    assert out.status == "complete" and out.reason == "3 rounds done; 2 cold rounds done"
    warm = [s for s in rs.samples if s.scenario == "warm"]
    cold = [s for s in rs.samples if s.scenario == "cold"]
    assert {s.round for s in warm} == {0, 1, 2, 3} and {s.round for s in cold} == {4, 5}
    assert not any(s.warmup for s in cold)
    first_cycle = [s.phase for s in cold if s.round == 4 and s.mode == "a"]
    assert first_cycle == ["engine_stop", "engine_up", "create", "start", "ready", "exec", "stop", "remove"]
    # the precision rule sees warm startups only
    assert len(out.tally.startups["a"]) == 3
    assert controls["a"].calls == []  # nothing failed: no restore


def test_a_cold_cycle_whose_engine_does_not_start_is_recorded_and_the_engine_restored(tmp_path):
    controls = {"a": Control()}

    def script(mode, phase, rnd):
        return "engine_control" if (phase == "engine_up" and rnd == 0) else 1_000_000

    path = tmp_path / "s.jsonl"
    w = ResultWriter.create(path, HEADER)
    settings = RunSettings(rounds=1, warmup=0, min_rounds=1, budget_s=None, scenario="cold", cold_rounds=2)
    sched = Scheduler(
        settings,
        [rt("a")],
        ScriptedExecutor(script),
        Output(w),
        Position(1),
        controls=controls,
        reconnect=lambda r: False if not controls["a"].calls else True,
    )
    out = sched.run()
    w.close(end_record(out, 0, []))
    rs = read_resultset(path)
    r0 = {s.phase: s for s in rs.samples if s.round == 0}
    assert r0["engine_up"].error == "engine_control" and r0["create"].error == "not_run"
    assert controls["a"].calls == ["stop", "start"]  # restored before going on
    assert out.status == "complete" and all(s.ok for s in rs.samples if s.round == 1)
    assert not any(s.scenario == "warm" for s in rs.samples)  # cold only: no warm rounds
