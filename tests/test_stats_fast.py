"""The summary's fast paths give scipy's numbers to the last bit: the bootstrap CI of a median, resample
for resample, and the MAD and outlier count."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis import stats


def _scipy_median_ci(x: np.ndarray) -> tuple[float, float]:
    res = sps.bootstrap(
        (np.sort(x),),
        np.median,
        confidence_level=stats.CONFIDENCE,
        n_resamples=stats.N_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(stats.SEED),
        vectorized=True,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 30, 31, 100, 401])
def test_median_ci_is_scipys_bootstrap_to_the_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    for ties in (False, True):
        x = rng.lognormal(5, 0.3, n)
        x = np.round(x / 10) * 10 if ties else x  # ties: several resampled indices share a value
        assert stats.median_ci(x) == _scipy_median_ci(x)


def test_summary_rows_match_scipys_statistics() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.lognormal(5, 0.2, 40), [900.0, 950.0]])  # two outliers at least
    frame = pd.DataFrame(
        {
            "set": "s",
            "mode": "m",
            "phase": "start",
            "role": "baseline",
            "ok": [True] * 40 + [True, True, False],
            "duration_ms": list(values) + [math.nan],
            "error": [None] * 42 + ["timeout"],
        }
    )
    row = stats.summarize(frame).iloc[0]
    ok = values
    assert row["mad"] == sps.median_abs_deviation(ok, scale=1.0)
    assert row["outliers"] == int(stats.outlier_mask(ok).sum()) >= 2
    assert (row["ci_low"], row["ci_high"]) == _scipy_median_ci(ok)
    assert row["failures"] == 1 and row["failure_reasons"] == "timeout 1" and row["n"] == 42
