"""The analysis keeps cold and warm apart: scripted result sets with both scenarios."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.claims import load_claims
from analysis.load import load
from analysis.report import build_report
from bench.core.config import RunSettings
from bench.measure.executor import ScriptedExecutor
from bench.results import synthetic
from bench.results.resultset import ResultWriter
from bench.schedule.scheduler import Output, Position, Scheduler, end_record

WARM_MS = {"a": 10, "b": 20, "c": 40}  # per phase, warm
COLD_UP_MS = {"a": 500, "b": 700, "c": 9000}


def _write(tmp_path, scenario="both", cold_rounds=8, up_factor=1.0, name="20261128T000000Z_h_docker-1"):
    header = synthetic.header([], run_id="c", host={}).but(
        modes={m: {"role": r} for m, r in (("a", "native"), ("b", "hyperv"), ("c", "toolbox"))},
        cold={m: {"control": "scripted"} for m in "abc"},
    )
    rng = np.random.default_rng(3)

    def script(mode, phase, rnd):
        if phase == "engine_up":
            return int(COLD_UP_MS[mode] * up_factor * 1e6 * rng.uniform(0.95, 1.05))
        if phase == "engine_stop":
            return 1_000_000_000
        return int(WARM_MS[mode] * 1e6 * rng.uniform(0.95, 1.05))

    path = tmp_path / f"{name}.jsonl"
    w = ResultWriter.create(path, header)
    rts = [SimpleNamespace(mode=SimpleNamespace(name=m)) for m in "abc"]
    settings = RunSettings(rounds=20, warmup=1, min_rounds=1, budget_s=None, scenario=scenario, cold_rounds=cold_rounds)
    out = Scheduler(
        settings, rts, ScriptedExecutor(script), Output(w), Position(2), controls={m: object() for m in "abc"}
    ).run()
    w.close(end_record(out, 0, []))
    return path


def test_cold_rows_are_summarised_apart_and_the_warm_summary_is_untouched(tmp_path):
    path = _write(tmp_path)
    loaded = load([path])
    rep = build_report(loaded, path.stem, load_claims(), tmp_path / "out", with_figures=False)
    warm = rep.summary.set_index(["mode", "phase"])
    for m, ms in WARM_MS.items():
        # startup = create + start + ready of warm cycles only: the cold engine_up never leaks in
        assert abs(warm.loc[(m, "startup"), "median"] - 3 * ms) < 3 * ms * 0.06
        assert warm.loc[(m, "startup"), "n"] == 20
    assert "engine_up" not in set(rep.summary["phase"]) and "cold_startup" not in set(rep.summary["phase"])
    cold = rep.cold.set_index(["mode", "phase"])
    for m in "abc":
        assert cold.loc[(m, "cold_startup"), "n"] == 8 and cold.loc[(m, "engine_up"), "n"] == 8
        expected = COLD_UP_MS[m] + 3 * WARM_MS[m]
        assert abs(cold.loc[(m, "cold_startup"), "median"] - expected) < expected * 0.06
    assert (tmp_path / "out" / "cold_summary.csv").is_file()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Cold starts" in md


def test_the_cold_claim_is_checked_only_where_cold_rounds_ran(tmp_path):
    (tmp_path / "x").mkdir()
    both = _write(tmp_path / "x")
    rep = build_report(load([both]), both.stem, load_claims(), tmp_path / "o1", with_figures=False)
    by_id = {r.claim.id: r for r in rep.claims}
    assert by_id["startup-ranking"].verdict == "supported"
    assert by_id["cold-startup-ranking"].verdict == "supported"
    pair = by_id["cold-startup-ranking"].pairs[0]
    assert pair.paired and pair.n_base == 8  # cold rounds pair up across modes by round
    (tmp_path / "y").mkdir()
    warm_only = _write(tmp_path / "y", scenario="warm")
    rep2 = build_report(load([warm_only]), warm_only.stem, load_claims(), tmp_path / "o2", with_figures=False)
    assert [r.claim.id for r in rep2.claims] == ["startup-ranking"]
    assert rep2.cold.empty


def test_too_few_cold_rounds_are_untestable_not_a_verdict(tmp_path):
    path = _write(tmp_path, scenario="cold", cold_rounds=4)
    rep = build_report(load([path]), path.stem, load_claims(), tmp_path / "o", with_figures=False)
    assert [r.claim.id for r in rep.claims] == ["cold-startup-ranking"]
    assert rep.claims[0].verdict == "untestable" and "fewer than 8" in rep.claims[0].reason
    assert rep.summary.empty  # a cold-only set has no warm summary


def test_compare_keeps_cold_rows_apart_and_finds_a_slower_engine_start(tmp_path):
    from analysis.compare import compare
    from analysis.metrics import cold_phases_apart, with_derived

    old = _write(tmp_path, cold_rounds=12, name="20261128T000000Z_h_docker-1")
    new = _write(tmp_path, cold_rounds=12, up_factor=2.0, name="20261128T010000Z_h_docker-1")
    loaded = load([old, new])
    cmp = compare(loaded, cold_phases_apart(with_derived(loaded.frame)))
    rows = {(r.mode, r.phase): r for r in cmp.rows}
    for m in "abc":
        assert rows[(m, "cold engine_up")].verdict == "slower"
        assert rows[(m, "cold engine_up")].ratio == pytest.approx(2.0, rel=0.06)
        # warm rows never see the cold cycles, so the doubled engine start cannot leak into them
        assert rows[(m, "startup")].n_old == 20 and rows[(m, "startup")].verdict != "slower"
        assert rows[(m, "cold create")].verdict != "slower"
