"""The statistics behave as claimed: invariances, planted effects, CI coverage, Holm."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import stats
from analysis.claims import Claim, check_claim
from analysis.compare import compare
from analysis.load import load
from analysis.metrics import measured, with_derived
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
from bench.schedule.scripted import scripted_run

CLAIM = Claim(id="t", text="native < hyperv", metric="startup", order=("native", "hyperv"))


def modes(slow_factor: float = 1.5, noise: float = 0.05):
    return [
        SyntheticMode("fast", "native", DEFAULT_PHASE_MS, noise),
        SyntheticMode("slow", "hyperv", {k: v * slow_factor for k, v in DEFAULT_PHASE_MS.items()}, noise),
    ]


def frame_of(path: Path):
    loaded = load([path], warn=False)
    return loaded, measured(with_derived(loaded.frame))


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    path = scripted_run(tmp_path_factory.mktemp("r") / "a.jsonl", modes(), rounds=40, seed=3)
    return frame_of(path)


def test_a_clear_ranking_is_supported(ranked):
    _, f = ranked
    r = check_claim(f, CLAIM)
    assert r.verdict == "supported"
    p = r.pairs[0]
    assert p.paired and p.test == "wilcoxon" and 1.4 < p.ratio < 1.6 and p.ci_low > 1.05


def test_the_reverse_claim_is_contradicted(ranked):
    _, f = ranked
    r = check_claim(f, Claim(id="r", text="x", metric="startup", order=("hyperv", "native")))
    assert r.verdict == "contradicted"


def test_a_missing_role_is_untestable(ranked):
    _, f = ranked
    r = check_claim(f, Claim(id="t3", text="x", metric="startup", order=("native", "hyperv", "toolbox")))
    assert r.verdict == "untestable"
    assert [p.verdict for p in r.pairs] == ["supported", "untestable", "untestable"]
    assert "no mode plays role 'toolbox'" in r.pairs[1].reason


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), factor=st.floats(0.001, 1000))
def test_verdict_ignores_sample_order_and_scale(ranked, seed, factor):
    _, f = ranked
    base = check_claim(f, CLAIM).pairs[0]
    shuffled = f.sample(frac=1.0, random_state=seed % (2**31)).reset_index(drop=True)
    scaled = f.assign(duration_ms=f["duration_ms"] * factor)
    for variant in (shuffled, scaled):
        p = check_claim(variant, CLAIM).pairs[0]
        assert p.verdict == base.verdict
        assert p.ratio == pytest.approx(base.ratio, rel=1e-9)
        assert (p.ci_low, p.ci_high) == pytest.approx((base.ci_low, base.ci_high), rel=1e-9)


def test_a_mode_cannot_win_by_failing(tmp_path):
    """The claimed-faster mode fails a third of its cycles: its pair is untestable, not supported."""
    ms = modes()
    ms[0] = SyntheticMode("fast", "native", DEFAULT_PHASE_MS, 0.05, failure_rate=0.33, failure_phase="ready")
    _, f = frame_of(scripted_run(tmp_path / "f.jsonl", ms, rounds=40, seed=5))
    r = check_claim(f, CLAIM)
    assert r.verdict == "untestable" and "over the 10% limit" in r.pairs[0].reason


def _two_sets(tmp_path, factor_new: float, noise: float = 0.05, rounds: int = 60):
    old = scripted_run(
        tmp_path / "20260101T000000Z_h_docker-20.10.jsonl",
        modes(noise=noise),
        rounds=rounds,
        seed=11,
        engine_version="20.10",
    )
    new_modes = [
        SyntheticMode(m.name, m.role, {k: v * factor_new for k, v in m.phase_ms.items()}, noise)
        for m in modes(noise=noise)
    ]
    new = scripted_run(
        tmp_path / "20260102T000000Z_h_docker-24.0.jsonl", new_modes, rounds=rounds, seed=12, engine_version="24.0"
    )
    loaded = load([old, new], warn=False)
    return loaded, compare(loaded, measured(with_derived(loaded.frame)))


def test_a_planted_20_percent_slowdown_is_found_slower(tmp_path):
    _, cmp = _two_sets(tmp_path, 1.20)
    assert {r.verdict for r in cmp.rows} == {"slower"}
    assert all(1.1 < r.ratio < 1.3 for r in cmp.rows)
    assert cmp.factors["modes.fast.engine.version"] == ["20.10", "24.0"]


def test_a_1_percent_shift_under_a_5_percent_minimum_is_never_a_change(tmp_path):
    """Equivalent where the CI fits in the ±5% band, no change detected where it does not:
    never slower or faster (tests/test_analysis_compare.py pins each verdict down)."""
    _, cmp = _two_sets(tmp_path, 1.01)
    assert {r.verdict for r in cmp.rows} <= {"equivalent", "no change detected"}
    for r in cmp.rows:
        inside = 1 / 1.05 <= r.ci_low and r.ci_high <= 1.05
        assert (r.verdict == "equivalent") == inside, r


def test_a_set_compared_with_itself_is_never_a_change(tmp_path):
    path = scripted_run(tmp_path / "s.jsonl", modes(), rounds=30, seed=1)
    copy = tmp_path / "copy" / "s2.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    loaded = load([path, copy], warn=False)
    cmp = compare(loaded, measured(with_derived(loaded.frame)))
    assert cmp.rows and all(r.verdict in ("equivalent", "no change detected") and r.ratio == 1.0 for r in cmp.rows)
    assert cmp.factors == {} and cmp.mismatches == {}


def test_compare_refuses_different_hosts_unless_forced(tmp_path):
    from bench.core.errors import UserError

    a = scripted_run(tmp_path / "a.jsonl", modes(), rounds=5, seed=1)
    b = scripted_run(
        tmp_path / "b.jsonl",
        modes(),
        rounds=5,
        seed=2,
        host={"hostname": "other", "cpu_model": "other CPU", "cpu_count": 64},
    )
    loaded = load([a, b], warn=False)
    f = measured(with_derived(loaded.frame))
    with pytest.raises(UserError, match="host.hostname: synthetic vs other"):
        compare(loaded, f)
    assert compare(loaded, f, force=True).mismatches["host.cpu_count"] == [2, 64]


def test_bootstrap_ci_covers_the_true_ratio_near_its_nominal_rate():
    """200 simulated experiments, lognormal times (true median ratio 1.2): the 95% CI of
    the ratio of medians covers 1.2 in about 95% of them."""
    rng = np.random.default_rng(42)
    hits = 0
    trials = 200
    for _ in range(trials):
        a = 100 * rng.lognormal(0, 0.15, 60)
        b = 120 * rng.lognormal(0, 0.15, 60)
        _, lo, hi = stats.ratio_ci(a, b, paired=False)
        hits += lo <= 1.2 <= hi
    assert 0.89 <= hits / trials <= 0.99, hits / trials


def test_large_samples_use_the_cheap_interval_and_agree():
    rng = np.random.default_rng(1)
    a, b = 100 * rng.lognormal(0, 0.1, 20000), 110 * rng.lognormal(0, 0.1, 20000)
    r, lo, hi = stats.ratio_ci(a, b, paired=False)
    assert lo < 1.1 < hi and hi - lo < 0.02 and lo < r < hi


def test_holm_adjustment():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5]) == [0.5]
    assert stats.holm([0.02, 0.02]) == [0.04, 0.04]


def test_outliers_are_flagged_by_modified_z():
    x = np.append(np.random.default_rng(0).normal(10, 0.3, 40), 50.0)
    mask = stats.outlier_mask(x)
    assert mask.sum() == 1 and mask[-1]
    assert not stats.outlier_mask(np.full(10, 3.0)).any()


@pytest.mark.parametrize(
    "ratio, lo, hi, p, expect",
    [
        (1.2, 1.1, 1.3, 0.001, "slower"),
        (0.8, 0.7, 0.9, 0.001, "faster"),
        (1.01, 0.99, 1.03, 0.5, "equivalent"),
        (1.02, 0.9, 1.15, 0.6, "unchanged"),
        (1.3, 0.95, 1.7, 0.2, "unclear"),
        (1.03, 1.01, 1.05, 0.001, "equivalent"),  # significant but below the minimum factor
        (math.nan, 1, 1, 0.1, "unclear"),
    ],
)
def test_decide_needs_a_test_and_a_factor(ratio, lo, hi, p, expect):
    assert stats.decide(ratio, lo, hi, p, 0.05, 0.05) == expect
