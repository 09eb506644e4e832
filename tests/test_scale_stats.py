"""The scale statistics on synthetic burst sets whose slowdown is known (no engine needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import scale
from analysis.claims import Claim, check_claim, load_claims
from analysis.load import load
from analysis.metrics import with_derived
from bench.core.errors import UserError
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode, burst_synthetic

FAST = SyntheticMode("fast", "native", DEFAULT_PHASE_MS, noise=0.08)
SLOW = SyntheticMode("slow", "hyperv", {k: 2 * v for k, v in DEFAULT_PHASE_MS.items()}, noise=0.08)
VM = SyntheticMode("vm", "toolbox", {k: 20 * v for k, v in DEFAULT_PHASE_MS.items()}, noise=0.08)


def _frame(tmp_path, slowdown, levels=(1, 8), repeat=6, seed=0, modes=(FAST, SLOW)):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = burst_synthetic(tmp_path / "20261201T000000Z_s_docker-1.jsonl", list(modes), levels, repeat, slowdown, seed)
    return with_derived(load([path], warn=False).frame)


@settings(derandomize=True, max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slow=st.floats(1.0, 6.0), seed=st.integers(0, 10**6))
def test_a_known_slowdown_is_recovered_within_its_ci(tmp_path_factory, slow, seed):
    frame = _frame(tmp_path_factory.mktemp("s"), {"slow": {8: slow}}, seed=seed)
    ok = frame[(frame["phase"] == "startup") & frame["ok"] & (frame["mode"] == "slow")]
    one, eight = ok[ok["level"] == 1], ok[ok["level"] == 8]
    values = [(g["duration_ms"].to_numpy(), g["group"].to_numpy()) for g in (one, eight)]
    ratio, low, high = scale.ratio_ci(*values[0], *values[1], confidence=0.999)
    assert low <= slow <= high
    assert abs(ratio / slow - 1) < 0.15
    table = scale.burst_table(frame)
    row = table[(table["mode"] == "slow") & (table["level"] == 8)].iloc[0]
    assert row["slowdown"] == pytest.approx(ratio)
    assert row["slowdown_low"] <= row["slowdown"] <= row["slowdown_high"]


def test_burst_table_counts_throughput_and_flags_a_small_p99(tmp_path):
    table = scale.burst_table(_frame(tmp_path, {"slow": {8: 3.0}}))
    assert set(table["level"]) == {1, 8} and set(table["mode"]) == {"fast", "slow"}
    row = table[(table["mode"] == "fast") & (table["level"] == 8)].iloc[0]
    assert row["n"] == 48 and row["groups"] == 6 and row["failures"] == 0
    assert "n < 100" in row["p99_flag"]
    assert row["throughput_per_s"] == pytest.approx(8 / (row["makespan_ms"] / 1000))
    assert row["p50_low"] <= row["p50"] <= row["p50_high"] and row["p50"] <= row["p90"] <= row["p99"]


def test_cluster_intervals_are_wider_than_independent_ones():
    """Containers of one burst share its conditions: resampling whole bursts must not pretend
    to know more than the bursts say."""
    rng = np.random.default_rng(1)
    bursts = np.repeat(np.arange(5), 8)
    values = np.repeat(rng.lognormal(0, 0.3, 5), 8) * rng.lognormal(0, 0.02, 40)
    lo_c, hi_c = scale.quantile_cis(values, bursts)[0.5][1:]
    lo_i, hi_i = scale.quantile_cis(values)[0.5][1:]
    assert hi_c - lo_c > 2 * (hi_i - lo_i)


def _claim(claim_id: str) -> Claim:
    return next(c for c in load_claims() if c.id == claim_id)


def test_the_scaling_claims_on_known_slowdowns(tmp_path):
    modes = (FAST, SLOW, VM)
    steeper = _frame(tmp_path / "a", {"fast": {8: 2.0}, "slow": {8: 4.0}, "vm": {8: 2.0}}, modes=modes)
    ranking = check_claim(steeper, _claim("burst-startup-ranking"))
    assert ranking.verdict == "supported", ranking.reason
    assert check_claim(steeper, _claim("burst-slowdown")).verdict == "supported"
    gentler = _frame(tmp_path / "b", {"fast": {8: 4.0}, "slow": {8: 2.0}}, seed=3)
    result = check_claim(gentler, _claim("burst-slowdown"))
    assert result.verdict == "contradicted", result.reason
    assert result.pairs[0].ratio == pytest.approx(0.5, rel=0.15)


def test_a_claim_at_a_level_the_set_lacks_is_untestable_and_says_where(tmp_path):
    frame = _frame(tmp_path, {}, levels=(1, 2))
    result = check_claim(frame, _claim("burst-startup-ranking"))
    assert result.verdict == "untestable" and "at burst level 8" in result.reason


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ({"level": 0}, "level must be a number greater than 0"),
        ({"statistic": "slowdown", "scenario": "burst", "level": 8}, "needs level and baseline_level"),
        ({"level": 8}, "set scenario to burst, rate, density, size or first-start"),
        ({"statistic": "p95"}, 'statistic must be "median" or "slowdown"'),
    ],
)
def test_bad_selectors_are_one_sentence(extra, fragment):
    from analysis.claims import parse_claims

    raw = {"id": "x", "text": "x", "metric": "startup", "order": ["a", "b"], **extra}
    with pytest.raises(UserError, match=fragment):
        parse_claims({"claim": [raw]}, "c.toml")


def test_the_knee_is_the_lowest_rate_over_the_slo_or_falling_behind():
    import pandas as pd

    rates = pd.DataFrame(
        {
            "mode": ["a"] * 4 + ["b"] * 2,
            "rate": [0.5, 1.0, 2.0, 4.0, 0.5, 1.0],
            "over_slo": [False, False, True, True, False, False],
            "behind": [False, True, False, True, False, False],
        }
    )
    assert scale.knees(rates) == {"a": 1.0, "b": None}


def test_a_rate_runs_backlog_counts_arrivals_still_in_flight_when_the_window_closed():
    detail = {"scheduled_offsets_ns": [0, 1e9, 2e9, 3e9], "completed_offsets_ns": [0.5e9, 1.6e9, 4.2e9, 5e9]}
    assert scale._backlog(detail, duration_s=3.5) == (4, 2)


def test_the_pyperf_export_keeps_burst_sizes_apart(tmp_path):
    from bench.results.pyperf import to_suite
    from bench.results.resultset import read_resultset

    path = burst_synthetic(tmp_path / "b.jsonl", [FAST], (1, 8), 6, {"fast": {8: 3.0}})
    benches = {b.get_name(): b for b in to_suite(read_resultset(path)).get_benchmarks()}
    assert {"fast.burst1.startup", "fast.burst8.startup", "fast.burst8.makespan"} <= set(benches)
    assert "fast.startup" not in benches  # no burst sample is pooled with warm cycles
    assert benches["fast.burst8.startup"].get_nrun() == 6 * 8 and benches["fast.burst8.makespan"].get_nrun() == 6
    assert benches["fast.burst8.startup"].median() > 2 * benches["fast.burst1.startup"].median()
