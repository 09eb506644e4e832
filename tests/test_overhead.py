"""`isobench overhead` (#11): the order of its sides, its figures on scripted times, the stand-in
engine that isolates the client paths' cost, and one short real run."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bench.overhead.order import round_order, williams_rows
from bench.overhead.stub import client_cost
from bench.overhead.summary import (
    PHASE_TARGET,
    ClientCost,
    Times,
    client_lines,
    paired_ratio,
    phase_lines,
    throughput_lines,
)
from tests.helpers import labelled_containers, run_bench


@pytest.mark.parametrize("n", range(2, 8))
def test_every_side_follows_every_other_side_equally_often(n: int) -> None:
    rows = williams_rows(n)
    assert all(sorted(row) == list(range(n)) for row in rows)
    follows = Counter((row[i], row[i + 1]) for row in rows for i in range(n - 1))
    assert len(follows) == n * (n - 1) and len(set(follows.values())) == 1


def _followers_of(first: str, rows: list[list[str]]) -> set[str]:
    return {row[row.index(first) + 1] for row in rows if row[-1] != first}


def test_a_rotated_order_would_not_be_balanced() -> None:
    """Why the design: rotating one order keeps its neighbours, so one side always follows the CLI."""
    sides = ["cli", "harness", "raw"]
    rotated = [sides[i:] + sides[:i] for i in range(3)]
    assert _followers_of("cli", rotated) == {"harness"}
    assert _followers_of("cli", [round_order(i, sides) for i in range(6)]) == {"harness", "raw"}


def _times(harness: dict[str, list[float]], raw: dict[str, list[float]], drift: list[float]) -> Times:
    """Times in ms per phase and round; ``drift`` multiplies both sides of a round alike (host load)."""
    times = Times()
    for side, table in (("harness", harness), ("raw", raw)):
        for phase, values in table.items():
            shape = "run" if phase == "wait" else "full"
            for r, ms in enumerate(values):
                times.add_phases(side, shape, r, {phase: int(ms * drift[r] * 1e6)})
    return times


PHASE_MS = {"create": 8.0, "start": 210.0, "ready": 0.04, "exec": 55.0, "stop": 50.0, "remove": 6.5, "wait": 35.0}


def test_a_path_that_adds_nothing_is_judged_within_target_despite_the_hosts_drift() -> None:
    drift = [1.0, 1.6, 0.9, 2.2, 1.1, 1.3, 0.8, 1.9] * 4  # bursts of load, as on this host
    same = {p: [v] * len(drift) for p, v in PHASE_MS.items()}
    lines, worst = phase_lines(_times(same, same, drift))
    assert worst == pytest.approx(1.0)
    assert all("OVER" not in line for line in lines)
    assert lines[-1] == "worst per-phase ratio: 1.000 (ready judged by its absolute bound)"


def test_a_path_that_adds_five_percent_to_one_phase_is_over() -> None:
    drift = [1.0, 1.4, 0.9, 1.2] * 8
    raw = {p: [v] * len(drift) for p, v in PHASE_MS.items()}
    harness = dict(raw, exec=[PHASE_MS["exec"] * 1.05] * len(drift))
    lines, worst = phase_lines(_times(harness, raw, drift))
    assert worst == pytest.approx(1.05, abs=1e-3) and worst > PHASE_TARGET
    assert [line.split()[0] for line in lines if line.endswith("OVER")] == ["exec"]


def test_ready_is_judged_by_its_absolute_bound() -> None:
    drift = [1.0] * 30
    raw = {p: [v] * 30 for p, v in PHASE_MS.items()}
    for extra_ms, verdict in ((0.03, "OK"), (0.08, "OVER")):
        harness = dict(raw, ready=[PHASE_MS["ready"] + extra_ms] * 30)
        lines, worst = phase_lines(_times(harness, raw, drift))
        ready = next(line for line in lines if line.startswith("ready"))
        assert ready.endswith(verdict) and f"harness - raw = {extra_ms:.3f} ms" in ready
        assert worst == pytest.approx(1.0)  # ready's ratio is not the worst ratio


def test_a_phase_without_samples_on_one_side_fails_the_target() -> None:
    raw = {p: [v] * 30 for p, v in PHASE_MS.items()}
    harness = {p: v for p, v in raw.items() if p != "stop"}
    lines, worst = phase_lines(_times(harness, raw, [1.0] * 30))
    assert worst == float("inf") and any(line.startswith("stop") and "no successful samples" in line for line in lines)


def test_pairing_by_round_removes_the_drift_a_ratio_of_medians_keeps() -> None:
    """Raw HTTP ran in the loaded half of the rounds: medians apart, pairs equal."""
    top = {r: 100 for r in range(30)}
    bottom = {r: 100 for r in range(30)}
    assert paired_ratio(top, bottom).value == 1.0
    noisy = {r: 100 + (r % 7) for r in range(30)}
    ratio = paired_ratio(noisy, bottom)
    assert ratio.low <= ratio.value <= ratio.high and ratio.value > 1.0


def _cycles(ms: dict[str, float], n: int = 30) -> Times:
    times = Times()
    for side, value in ms.items():
        times.cycles[side] = {r: int(value * (1 + 0.01 * (r % 3)) * 1e6) for r in range(n)}
    return times


def test_throughput_names_the_ceiling_the_engine_sets() -> None:
    times = _cycles({"harness full": 330, "raw full": 330, "harness run": 256, "raw run": 255, "cli": 282})
    lines = throughput_lines(times)
    ratio = next(line for line in lines if line.startswith("throughput ratio run-cycle / CLI"))
    assert re.search(r"CLI: 1\.10\d", ratio) and ratio.endswith("UNDER")
    ceiling = next(line for line in lines if line.startswith("ceiling on this engine"))
    assert "the CLI costs 27.3 ms a cycle" in ceiling and "the harness 1.0 ms" in ceiling
    fast = throughput_lines(_cycles({"harness full": 330, "raw full": 330, "harness run": 100, "raw run": 100,
                                     "cli": 282}))  # fmt: skip
    assert next(line for line in fast if line.startswith("throughput ratio")).endswith("OK")


def test_without_the_cli_the_throughput_comparison_says_it_was_skipped() -> None:
    times = _cycles({"harness full": 330, "raw full": 330, "harness run": 256, "raw run": 255})
    times.cycles["cli"] = {}
    assert throughput_lines(times)[-1] == "no docker CLI on PATH: throughput comparison skipped"


def test_the_client_cost_bounds_the_shortest_phase() -> None:
    times = _times({}, {p: [v] * 30 for p, v in PHASE_MS.items()}, [1.0] * 30)
    cheaper = client_lines(ClientCost({"create": 50.0, "start": 48.0}, {"create": 90.0, "start": 80.0}, 100), times)
    assert "extra cost per call: -32.0 us" in cheaper[1] and "(remove, 6.50 ms)" in cheaper[1]
    assert "at most 1.0000" in cheaper[1]
    dearer = client_lines(ClientCost({"create": 150.0}, {"create": 85.0}, 100), times)
    assert "at most 1.0100" in dearer[1]


def test_the_stand_in_engine_times_both_client_paths() -> None:
    """No engine needed: both paths send real requests over a unix socket to the stand-in, which
    answers as the engine would (201 with an id, 204), so each median is a positive, finite cost."""
    kwargs = {"image": "isobench/busybox:latest", "command": ["true"], "labels": {"isobench.run": "stub"}}
    cost = client_cost(kwargs, calls=200)
    assert set(cost.harness_us) == set(cost.raw_us) == {"create", "start", "remove"}
    assert all(0 < v < 50_000 for v in [*cost.harness_us.values(), *cost.raw_us.values()])
    assert cost.calls == 200


@pytest.mark.engine
@pytest.mark.slow
def test_a_short_overhead_run_prints_every_figure_and_leaves_nothing(engine) -> None:
    proc = run_bench("overhead", "--rounds", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for phase in ("create", "start", "ready", "exec", "stop", "remove", "wait (run)"):
        assert re.search(rf"^{re.escape(phase)}\s+\d+\.\d{{3}}\s+\d+\.\d{{3}}\s", out, re.M), phase
    assert re.search(r"^worst per-phase ratio: \d+\.\d{3} ", out, re.M)
    assert re.search(r"^throughput ratio run-cycle / CLI: \d+\.\d{3} \(95% CI", out, re.M)
    assert re.search(r"^the harness's extra cost per call: [+-]\d+\.\d us", out, re.M)
    assert "order balanced for carry-over" in out
    assert labelled_containers(engine) == []
