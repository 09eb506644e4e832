"""compare's designs (issue 24): one model per row (the verdict agrees with its interval), the
smallest detectable change, a reference mode that cancels a host-wide shift, replicated runs with
the run as a random effect, and in-run A/B. Synthetic sets written through the real scheduler and
writer, then given the load a shared host puts on every mode of a round."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import effects
from analysis.cli import main as analysis_main
from analysis.compare import IN_RUN, NO_CHANGE, REPLICATED, Rule, ab, compare, verdict_of
from analysis.load import load
from analysis.metrics import measured, with_derived
from bench.cli import isobench_main
from bench.core.errors import UserError
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
from bench.schedule.scripted import scripted_run

ROUNDS = 40


def _modes(*names: str) -> list[SyntheticMode]:
    return [
        SyntheticMode(n, "native" if i == 0 else "hyperv", dict(DEFAULT_PHASE_MS), 0.06) for i, n in enumerate(names)
    ]


def _host(path: Path, load_of_round: Callable[[int], float], plant: dict[str, float]) -> Path:
    """Every sample of round r times load_of_round(r) (the host, shared by the modes of a round);
    a mode's start times plant[mode] (the change under study)."""
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        rec = json.loads(line)
        if rec.get("type") == "sample" and rec.get("duration_ns"):
            factor = load_of_round(rec["round"]) * (plant.get(rec["mode"], 1.0) if rec["phase"] == "start" else 1.0)
            rec["duration_ns"] = int(rec["duration_ns"] * factor)
        out.append(json.dumps(rec))
    path.write_text("\n".join(out) + "\n")
    return path


def _drift(seed: int, level: float = 1.0, sd: float = 0.08) -> Callable[[int], float]:
    """A host's load that wanders from round to round (AR(1) on the log scale) around ``level``."""
    rng = np.random.default_rng(seed)
    log_load = np.zeros(ROUNDS + 10)
    for i in range(1, len(log_load)):
        log_load[i] = 0.8 * log_load[i - 1] + rng.normal(0, sd * 0.6)
    return lambda r: level * math.exp(log_load[r])


def _set(
    tmp_path: Path,
    name: str,
    seed: int,
    level: float = 1.0,
    plant: dict[str, float] | None = None,
    modes: tuple[str, ...] = ("runc", "runsc"),
    drift: float = 0.08,
) -> Path:
    path = scripted_run(tmp_path / f"{name}.jsonl", _modes(*modes), rounds=ROUNDS, seed=seed)
    return _host(path, _drift(seed + 1000, level, drift), plant or {})


def _compare(*paths: Path, **kw):
    loaded = load(list(paths), warn=False)
    rule = Rule(**{k: kw.pop(k) for k in list(kw) if k in Rule.__dataclass_fields__})
    return compare(loaded, measured(with_derived(loaded.frame)), rule=rule, **kw)


def _row(cmp, mode: str, phase: str = "startup"):
    return next(r for r in cmp.rows if r.mode == mode and r.phase == phase)


# -- one model per row -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(log_ratio=st.floats(-0.5, 0.5), se=st.floats(0.001, 0.3), df=st.floats(2, 200), min_effect=st.floats(0, 0.3))
def test_the_verdict_is_its_interval(log_ratio, se, df, min_effect):
    """A change exactly when the 95% CI lies wholly beyond the band; equivalent exactly when it lies
    wholly inside; the p-value says the same as the interval."""
    est = effects.Estimate(log_ratio, se, df, "batches", (10, 10))
    low, high = est.interval()
    p = est.p_beyond(min_effect)
    verdict = verdict_of(est.ratio, low, high, p, 0.05, min_effect)
    band = 1 + min_effect
    beyond = low > band or high < 1 / band
    if abs(min(abs(math.log(low) - math.log(band)), abs(math.log(high) + math.log(band)))) < 1e-9:
        return  # on the edge to rounding
    assert (verdict in ("slower", "faster")) == beyond
    assert (p < 0.05) == beyond
    if verdict == "equivalent":
        assert 1 / band <= low and high <= band


def test_a_planted_20_percent_is_slower_and_its_ci_clears_the_band(tmp_path):
    """The issue's case: two 40-round runs on a steady host, runc's start 1.2x in the second."""
    cmp = _compare(_set(tmp_path, "a", 1, drift=0.01), _set(tmp_path, "b", 2, plant={"runc": 1.2}, drift=0.01))
    runc, runsc = _row(cmp, "runc"), _row(cmp, "runsc")
    assert runc.verdict == "slower" and runc.ci_low > 1.05 and runc.family and runc.p_adjusted < 0.05
    assert runsc.verdict != "slower"
    assert not _row(cmp, "runc", "start").family  # outside the family, still shown
    assert _row(cmp, "runc", "start").verdict == "slower"


# -- what a comparison can detect -----------------------------------------------------------


def test_every_row_says_what_it_could_have_detected(tmp_path):
    cmp = _compare(_set(tmp_path, "a", 1), _set(tmp_path, "b", 2), plan_rounds=300)
    for r in cmp.rows:
        assert r.detectable > 0.05 and 0.05 < r.detectable_planned < r.detectable  # more rounds, smaller


def test_a_change_of_the_detectable_size_is_found_about_80_percent_of_the_time():
    rng = np.random.default_rng(3)

    def pair(true: float):
        return 100 * rng.lognormal(0, 0.1, 60), 100 * true * rng.lognormal(0, 0.1, 60)

    probe = effects.two_runs(*pair(1.0))
    assert probe is not None
    mde = effects.detectable(probe, 0.05)
    found = 0
    trials = 300
    for _ in range(trials):
        est = effects.two_runs(*pair(1 + mde))
        assert est is not None
        low, high = est.interval()
        found += verdict_of(est.ratio, low, high, est.p_beyond(0.05), 0.05, 0.05) == "slower"
    assert 0.65 <= found / trials <= 0.93, (found, mde)


# -- a reference mode cancels the host ---------------------------------------------------------


def test_a_reference_mode_cancels_a_host_wide_shift(tmp_path):
    """The second run's host is 30% slower for every mode and runc's start is 1.2x: without a
    reference both modes look slower and the output names a host-wide shift; with runsc as the
    reference, runc is slower by its own change alone."""
    a = _set(tmp_path, "a", 1)
    b = _set(tmp_path, "b", 2, level=1.3, plant={"runc": 1.2})
    plain = _compare(a, b)
    assert _row(plain, "runc").verdict == "slower" and _row(plain, "runsc").verdict == "slower"
    assert any(n.startswith("host-wide shift in startup") and "--reference" in n for n in plain.notes)
    ref = _compare(a, b, reference="runsc")
    runc = _row(ref, "runc")
    assert runc.verdict == "slower" and runc.reference == "runsc" and 1.1 < runc.ratio < 1.3
    assert runc.ci_high - runc.ci_low < _row(plain, "runc").ci_high - _row(plain, "runc").ci_low
    assert {r.mode for r in ref.rows} == {"runc"} and not any("host-wide" in n for n in ref.notes)


def test_a_reference_does_not_invent_a_change_when_only_the_host_moved(tmp_path):
    a, b = _set(tmp_path, "a", 5), _set(tmp_path, "b", 6, level=1.3)
    assert _row(_compare(a, b, reference="runsc"), "runc").verdict != "slower"


def test_a_reference_that_no_set_has_is_one_sentence(tmp_path, capsys):
    a, b = _set(tmp_path, "a", 1), _set(tmp_path, "b", 2)
    code = analysis_main(["compare", str(a), str(b), "--reference", "kata", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "--reference kata" in err and "runc, runsc" in err and "Traceback" not in err


# -- replicated runs ------------------------------------------------------------------------


def _replicated_sides(tmp_path: Path, plant: float, run_sd: float = 0.12) -> tuple[list[Path], list[Path]]:
    """Three runs a side, each on a host whose load differs from run to run by ``run_sd``."""
    rng = np.random.default_rng(17)
    sides: tuple[list[Path], list[Path]] = ([], [])
    for i in range(6):
        level = float(rng.lognormal(0, run_sd))
        side = sides[i % 2]  # alternated in time, A B A B A B
        p = {"runc": plant} if i % 2 else {}
        side.append(_set(tmp_path, f"2026010{i}T000000Z_{'ab'[i % 2]}{i}", 30 + i, level=level, plant=p))
    return sides


def test_replicated_runs_model_the_run_and_find_the_change(tmp_path, capsys):
    old, new = _replicated_sides(tmp_path, 1.25, run_sd=0.04)
    code = analysis_main(["compare", *map(str, old), "--", *map(str, new), "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0 and "replicated runs: 3 runs" in out
    loaded = load(old + new, warn=False)
    cmp = compare(loaded, measured(with_derived(loaded.frame)), [p.stem for p in old], new_sets=[p.stem for p in new])
    assert cmp.design == REPLICATED and _row(cmp, "runc").method.startswith("runs")
    assert _row(cmp, "runc").verdict == "slower"
    assert _row(cmp, "runsc").verdict != "slower"


def test_replicated_runs_keep_their_false_positive_rate_where_runs_differ():
    """A/A with run-to-run differences of the host (12%): one run a side calls many of them a
    change; three runs a side through the mixed model call at most about 5%."""
    rng = np.random.default_rng(23)

    def run() -> np.ndarray:
        return 100 * rng.lognormal(0, 0.12) * rng.lognormal(0, 0.08, 40)

    replicated = single = 0
    trials = 80
    for _ in range(trials):
        old, new = [run() for _ in range(3)], [run() for _ in range(3)]
        est = effects.replicated(old, new)
        assert est is not None
        low, high = est.interval()
        replicated += verdict_of(est.ratio, low, high, est.p_beyond(0.05), 0.05, 0.05) != NO_CHANGE and not (
            1 / 1.05 <= low and high <= 1.05
        )
        one = effects.two_runs(old[0], new[0])
        assert one is not None
        lo1, hi1 = one.interval()
        single += verdict_of(one.ratio, lo1, hi1, one.p_beyond(0.05), 0.05, 0.05) in ("slower", "faster")
    assert replicated / trials <= 0.075, (replicated, single)
    assert single >= 3 * max(replicated, 3), (replicated, single)


def test_replicated_runs_need_two_sets_a_side(tmp_path, capsys):
    a, b, c = (_set(tmp_path, n, i) for i, n in enumerate("abc"))
    code = analysis_main(["compare", str(a), "--", str(b), str(c), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "replicated runs need at least two sets a side (got 1 and 2)" in err


def test_patterns_name_the_sides(tmp_path, capsys):
    old, new = _replicated_sides(tmp_path, 1.0)
    code = analysis_main(
        ["compare", str(tmp_path / "*_a*.jsonl"), "--", str(tmp_path / "*_b*.jsonl"), "--out", str(tmp_path / "o")]
    )
    assert code == 0 and "3 runs" in capsys.readouterr().out
    code = analysis_main(["compare", str(tmp_path / "nothing*.jsonl"), str(old[0])])
    assert code == 2 and "no result set matches" in capsys.readouterr().err


# -- in-run A/B -------------------------------------------------------------------------------


def test_in_run_ab_compares_round_by_round(tmp_path):
    path = _set(tmp_path, "ab", 9, plant={"runc-candidate": 1.06}, modes=("runc", "runc-candidate"))
    loaded = load([path], warn=False)
    frame = measured(with_derived(loaded.frame))
    cmp = ab(loaded, frame, path.stem, "runc", "runc-candidate", Rule(min_effect=0.02))
    start = _row(cmp, "runc-candidate", "start")
    assert cmp.design == IN_RUN and start.method == "paired batches" and start.reference == "runc"
    assert start.verdict == "slower" and 1.03 < start.ratio < 1.09
    two = _compare_modes_as_runs(tmp_path, path)
    assert start.ci_high - start.ci_low < two  # pairing by round is the narrower design


def _compare_modes_as_runs(tmp_path: Path, path: Path) -> float:
    """The width of the same contrast taken as two independent runs (no pairing)."""
    loaded = load([path], warn=False)
    f = measured(with_derived(loaded.frame))
    a = f[(f["mode"] == "runc") & (f["phase"] == "start") & f["ok"]].sort_values("round")["duration_ms"].to_numpy()
    b = f[(f["mode"] == "runc-candidate") & (f["phase"] == "start") & f["ok"]].sort_values("round")
    est = effects.two_runs(a, b["duration_ms"].to_numpy())
    assert est is not None
    low, high = est.interval()
    return high - low


def test_ab_from_a_set_through_the_command(tmp_path, capsys):
    path = _set(tmp_path, "ab", 9, plant={"runc-candidate": 1.3}, modes=("runc", "runc-candidate"))
    code = isobench_main(["ab", "--from", str(path), "--mode", "runc", "--mode", "runc-candidate"])
    out = capsys.readouterr().out
    assert code == 0 and "in-run A/B" in out and "slower" in out
    assert (path.parent / f"ab_{path.stem}" / "compare.csv").is_file()
    code = isobench_main(["ab", "--from", str(path), "--mode", "runc"])
    assert code == 2 and "ab needs exactly two different modes" in capsys.readouterr().err
    with pytest.raises(UserError, match="mode 'kata' has no measured samples"):
        loaded = load([path], warn=False)
        ab(loaded, measured(with_derived(loaded.frame)), path.stem, "runc", "kata")
