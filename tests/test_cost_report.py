"""Issue 23, the analysis side: CPU per start with CIs, the waterfall and the extra-time table,
summary.csv's cpu columns, the CPU claim, the burst harness share; older sets are untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import cost
from analysis.claims import load_claims
from analysis.load import load
from analysis.report import build_report
from bench.results import synthetic
from bench.results.records import Cost, End, Record, Sample
from bench.results.resultset import ResultWriter

PHASES_MS = {"runc": {"create": 9, "start": 187, "ready": 0.1, "exec": 47, "stop": 50, "remove": 6},
             "runsc": {"create": 9, "start": 299, "ready": 0.1, "exec": 80, "stop": 120, "remove": 6}}  # fmt: skip
STEPS_MS = {"runc": {"engine": 12, "shim": 12, "create": 8, "init": 20, "hook": 100, "hooked": 15, "created": 7,
                     "start": 7, "app": 6.1},
            "runsc": {"engine": 13, "shim": 14, "create": 35, "gofer": 4, "sandbox": 80, "hook": 95, "hooked": 4,
                      "created": 6, "start": 41, "app": 7.1}}  # fmt: skip
CPU_MS = {"runc": {"cpu_engine": 280, "cpu_harness": 10, "cpu_container": 40},
          "runsc": {"cpu_engine": 365, "cpu_harness": 11, "cpu_container": 113}}  # fmt: skip


def _set(tmp_path: Path, with_costs: bool = True, rounds: int = 20, names: tuple[str, str] = ("runc", "runsc")) -> Path:
    modes = [synthetic.SyntheticMode(names[0], "native", {}), synthetic.SyntheticMode(names[1], "hyperv", {})]
    header = synthetic.header(modes)
    if with_costs:
        cost_rec = {"window": "create to remove", "modes": {}, "waterfall": {"source": "cn_proc"}}
        header = header.but(harness={**header.harness, "cost": cost_rec})
    path = tmp_path / ("costs.jsonl" if with_costs else "old.jsonl")
    w = ResultWriter.create(path, header)
    rng = np.random.default_rng(1)
    for rnd in range(rounds):
        for pos, (kind, name) in enumerate(zip(("runc", "runsc"), names)):
            base: dict[str, Any] = {"round": rnd, "pos": pos, "mode": name, "warmup": False, "wall_ns": 1}
            noise = lambda ms: int(ms * 1e6 * rng.uniform(0.97, 1.03))  # noqa: E731
            recs: list[Record] = [Sample(**base, phase=p, duration_ns=noise(ms), ok=True)
                                  for p, ms in PHASES_MS[kind].items()]  # fmt: skip
            if with_costs:
                costed = {**base, "scenario": "warm"}
                recs += [Cost(**costed, metric=m, value_ns=noise(ms), ok=True) for m, ms in CPU_MS[kind].items()]
                steps = [Cost(**costed, metric="wf_" + s, value_ns=noise(ms), ok=True)
                         for s, ms in STEPS_MS[kind].items()]  # fmt: skip
                total = sum(r.value_ns for r in steps)
                recs += steps + [Cost(**costed, metric="waterfall", value_ns=total, ok=True)]
            w.append(recs)
    w.close(End(status="complete", reason="test"))
    return path


def test_a_set_with_costs_reports_cpu_waterfalls_and_the_extra_time(tmp_path: Path):
    path = _set(tmp_path)
    loaded = load([path])
    assert set(loaded.frame["phase"].astype(str)) == set(PHASES_MS["runc"])  # the costs are no phases
    rep = build_report(loaded, path.stem, load_claims(), tmp_path / "out", with_figures=True)
    csv = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert {"cpu_engine_ms", "cpu_harness_ms"} <= set(csv.columns)
    runc = csv[csv["mode"] == "runc"].iloc[0]
    assert abs(runc["cpu_engine_ms"] - 280) < 10 and abs(runc["cpu_harness_ms"] - 10) < 1
    assert not csv["phase"].isin(["cpu_engine", "waterfall", "wf_sandbox"]).any()  # they have their own section
    md = (tmp_path / "out" / "report.md").read_text()
    assert "CPU per start, and where a start's time goes" in md
    assert "runsc: engine stack CPU per start 36" in md
    assert "within 5%" in md and "NOT within" not in md
    assert "the largest part: sandbox" in md
    assert (tmp_path / "out" / "waterfall_runc.png").exists() and (tmp_path / "out" / "waterfall_runsc.png").exists()
    cpu_claim = next(r for r in rep.claims if r.claim.id == "engine-cpu-ranking")
    assert cpu_claim.verdict == "supported"


def test_the_extra_time_table_names_the_steps_a_mode_has_alone():
    rows = []
    for mode, steps in STEPS_MS.items():
        for rnd in range(12):
            base = {"mode": mode, "round": rnd, "pos": 0, "ok": True, "scenario": "warm", "warmup": False}
            rows += [{**base, "metric": "wf_" + s, "value_ms": ms} for s, ms in steps.items()]
            rows.append({**base, "metric": "waterfall", "value_ms": sum(steps.values())})
    frame = pd.DataFrame(rows)
    extra = cost.extra_table(frame, "runc")
    by = extra.set_index("step")["extra_ms"]
    assert by["sandbox"] == 80 and by["init"] == -20 and by["gofer"] == 4
    assert abs(by["total"] - (sum(STEPS_MS["runsc"].values()) - sum(STEPS_MS["runc"].values()))) < 1e-9
    assert cost.largest_extra(extra, "runsc")["step"] == "sandbox"


def test_an_older_set_has_no_costs_section_and_no_cpu_claim(tmp_path: Path):
    path = _set(tmp_path, with_costs=False)
    rep = build_report(load([path]), path.stem, load_claims(), tmp_path / "out", with_figures=False)
    assert "CPU per start" not in (tmp_path / "out" / "report.md").read_text()
    assert all(r.claim.id != "engine-cpu-ranking" for r in rep.claims)
    assert pd.read_csv(tmp_path / "out" / "summary.csv")["cpu_engine_ms"].isna().all()


def test_burst_shares_per_mode_and_n():
    rows = []
    for b, (mode, n) in enumerate((("runc", 16), ("runc", 16), ("runsc", 16))):
        base = {"mode": mode, "level": float(n), "group": b, "slot": -1, "round": b, "pos": 0, "ok": True,
                "scenario": "burst", "warmup": False}  # fmt: skip
        rows += [{**base, "metric": "cpu_engine", "value_ms": 1600.0}, {**base, "metric": "cpu_harness",
                                                                       "value_ms": 48.0}]  # fmt: skip
    shares = cost.burst_shares(pd.DataFrame(rows))
    assert list(shares["mode"]) == ["runc", "runsc"]
    assert np.allclose(shares["share"], 0.03) and np.allclose(shares["engine_ms_per_container"], 100.0)


def test_a_mode_name_that_is_no_file_name_gets_a_safe_figure_name(tmp_path: Path):
    """A mode's name is the user's text: its waterfall's file name goes through safe_name."""
    path = _set(tmp_path, rounds=12, names=("<script>alert(1)</script>", "a/b"))
    build_report(load([path]), path.stem, load_claims(), tmp_path / "out", with_figures=True)
    assert sorted(p.name for p in (tmp_path / "out").glob("waterfall_*.png")) == [
        "waterfall_a-b.png", "waterfall_script-alert-1-script.png"]  # fmt: skip
    from analysis.cost_report import figure_names

    assert figure_names(["a/b", "a b"]) == {"a/b": "waterfall_a-b", "a b": "waterfall_a-b-2"}
