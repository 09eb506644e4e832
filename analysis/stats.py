"""Statistics on timings (successes only): summaries, confidence intervals, tests.

Choices, and why:
- Medians and rank tests: startup times are skewed with long tails; means and
  t-tests let a few slow cycles decide (pyperf's pooled t-test is avoided).
- Confidence intervals by bootstrap (scipy.stats.bootstrap, percentile) up to
  BOOTSTRAP_MAX samples; above that, the distribution-free order-statistic
  interval for a median and the delta method on log medians for a ratio, which
  agree with the bootstrap at such sizes and cost nothing.
- Values are sorted (or aligned by round when paired) before resampling with a
  fixed seed, so a result depends on the data, not on their order in the file.
- Outliers by modified z-score (Iglewicz & Hoaglin, > 3.5): flagged and
  counted, never dropped.
- Across result sets (compare), the models of analysis.effects: samples of one
  run share its drift, so they are not independent of each other the way two
  runs are.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from bench.core.precision import order_stat_median_ci as order_stat_ci

SEED = 20261128
N_RESAMPLES = 2000
BOOTSTRAP_MAX = 5000
OUTLIER_Z = 3.5
CONFIDENCE = 0.95


def _mad(values: np.ndarray, med: float) -> float:
    """scipy's median_abs_deviation(scale=1.0) without its argument checks (summaries call it per group)."""
    return float(np.median(np.abs(values - med)))


def _z(values: np.ndarray, med: float, mad: float) -> np.ndarray:
    if mad == 0:
        return np.zeros_like(values, dtype=float)
    return 0.6745 * (values - med) / mad


def modified_z(values: np.ndarray) -> np.ndarray:
    med = float(np.median(values))
    return _z(values, med, _mad(values, med))


def outlier_mask(values: np.ndarray) -> np.ndarray:
    return np.abs(modified_z(np.asarray(values, dtype=float))) > OUTLIER_Z


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def median_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n < 2:
        return (math.nan, math.nan)
    if n > BOOTSTRAP_MAX:
        ci = order_stat_ci(x, confidence)
        return (ci[0], ci[2]) if ci else (math.nan, math.nan)
    return _bootstrap_median_ci(x, confidence)


def _bootstrap_median_ci(x: np.ndarray, confidence: float) -> tuple[float, float]:
    """scipy.stats.bootstrap((x,), np.median, method="percentile", vectorized=True) with our seed, resample
    for resample and to the last bit (tests/test_stats_fast.py holds the two side by side), in a third of
    its time: ``x`` is sorted, so a resample's k-th smallest value is x at its k-th smallest index, and
    sorting small integers per row is cheaper than partitioning the resampled values. A report's summary
    takes a median CI per mode and metric, and the history site builds a thousand reports."""
    n = len(x)
    picks = _rng().integers(0, n, (N_RESAMPLES, n))  # the draws scipy's bootstrap makes
    picks.sort(axis=1)
    half = n // 2
    medians = x[picks[:, half]] if n % 2 else (x[picks[:, half - 1]] + x[picks[:, half]]) / 2
    tail = (1 - confidence) / 2  # as scipy forms it: the percentiles are its, to the bit
    low, high = np.percentile(medians, [tail * 100, (1 - tail) * 100])
    return float(low), float(high)


def _log_median_se(x: np.ndarray, confidence: float) -> float:
    ci = order_stat_ci(np.sort(x), confidence)
    if ci is None or ci[0] <= 0:
        return math.inf
    z = sps.norm.ppf(0.5 + confidence / 2)
    return (math.log(ci[2]) - math.log(ci[0])) / (2 * z)


def ratio_ci(
    base: np.ndarray, other: np.ndarray, paired: bool, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """(ratio, low, high) for median(other) / median(base)."""
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    ratio = float(np.median(b) / np.median(a))
    if len(a) < 2 or len(b) < 2:
        return ratio, math.nan, math.nan
    if max(len(a), len(b)) > BOOTSTRAP_MAX:
        z = sps.norm.ppf(0.5 + confidence / 2)
        se = math.hypot(_log_median_se(a, confidence), _log_median_se(b, confidence))
        return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)
    if not paired:
        a, b = np.sort(a), np.sort(b)

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    res = sps.bootstrap(
        (a, b),
        stat,
        paired=paired,
        confidence_level=confidence,
        n_resamples=N_RESAMPLES,
        method="percentile",
        random_state=_rng(),
        vectorized=True,
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def rank_test(base: np.ndarray, other: np.ndarray, paired: bool) -> tuple[str, float]:
    """(test name, two-sided p). Wilcoxon signed-rank on round-paired samples,
    Mann-Whitney U otherwise."""
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if paired:
        diff = b - a
        if np.all(diff == 0):
            return "wilcoxon", 1.0
        return "wilcoxon", float(sps.wilcoxon(b, a, alternative="two-sided").pvalue)
    return "mannwhitneyu", float(sps.mannwhitneyu(b, a, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate).

    Written out because it is four lines; statsmodels would be a large
    dependency for it.
    """
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


def decide(ratio: float, low: float, high: float, p_adj: float, alpha: float, min_effect: float) -> str:
    """How `other` compares with `base`, given ratio = median(other) / median(base).

    A difference is real only if it passes the test *and* clears a minimum factor
    (as asv decides):
    - "slower" / "faster": p_adj < alpha, the point ratio beyond 1 ± min_effect,
      and the CI wholly on that side of 1;
    - "equivalent": the whole CI inside the ±min_effect band (shown to be small);
    - "unchanged": the point ratio inside the band, the CI wider than it (no change
      that matters was found, though one is not ruled out);
    - "unclear": a large point ratio the test does not back: the data do not decide.
    Comparisons across result sets show "unchanged" and "unclear" alike as "no change
    detected" (analysis.compare): neither a change nor shown to be small.
    """
    up, down = 1 + min_effect, 1 / (1 + min_effect)
    if any(math.isnan(v) for v in (ratio, low, high)):
        return "unclear"
    if p_adj < alpha and ratio >= up and low > 1:
        return "slower"
    if p_adj < alpha and ratio <= down and high < 1:
        return "faster"
    if down <= low and high <= up:
        return "equivalent"
    if down < ratio < up:
        return "unchanged"
    return "unclear"


POWER = 0.80  # the chance more rounds are meant to give of settling a row
MAX_ROUNDS = 10_000  # beyond this, "more rounds" is no practical answer: the estimate sits on an edge


def settle_scale(
    ratio: float,
    low: float,
    high: float,
    min_effect: float,
    confidence: float = CONFIDENCE,
    alpha: Optional[float] = None,
) -> Optional[float]:
    """By how much the data behind an undecided comparison must grow (2 = twice the rounds, or runs)
    to most likely settle it; None when no amount will.

    On a log scale the CI's half-width shrinks as 1/sqrt(n). Where the estimate lies inside the
    ±min_effect band, settling means the CI fitting in the band (equivalent); beyond it, the CI
    clearing the band at the level the row is tested at (``alpha``: Holm's worst case, alpha / family
    size; default 1 - confidence), which is a change. Each side of the
    CI is scaled on its own (intervals need not be symmetric), and the margin is sized for a POWER
    chance, as a sample-size calculation does: the new estimate will itself move by about one
    standard error.
    """
    if min_effect <= 0 or not all(v > 0 and math.isfinite(v) for v in (ratio, low, high)):
        return None
    r, lo, hi = math.log(ratio), math.log(low), math.log(high)
    band = math.log1p(min_effect)
    z = sps.norm.ppf(0.5 + confidence / 2)
    if abs(r) < band:  # distance each side of the CI must stay within, and its present extent
        sides = [(band - r, hi - r), (band + r, r - lo)]
        need = z
    else:  # beyond the band: the CI's near side must clear it
        sides = [(abs(r) - band, r - lo if r > 0 else hi - r)]
        need = sps.norm.ppf(1 - (alpha if alpha is not None else 1 - confidence) / 2)
    if min(room for room, _ in sides) <= 0:
        return None
    inflate = (need + sps.norm.ppf(POWER)) / z
    return max((extent * inflate / room) ** 2 for room, extent in sides)


def rounds_to_settle(
    ratio: float,
    low: float,
    high: float,
    n_old: int,
    n_new: int,
    min_effect: float,
    confidence: float = CONFIDENCE,
    alpha: Optional[float] = None,
) -> Optional[int]:
    """Rounds per set (both sets run anew with that many) that would most likely settle a
    comparison that is neither a change nor shown equivalent; None when no practical count will
    (see settle_scale). Two sets of n_old and n_new rounds: the variance goes as 1/n_old + 1/n_new;
    both rerun with N rounds: 2/N. Rounds paired within one set: pass n_old = n_new = rounds."""
    if min(n_old, n_new) < 2:
        return None
    scale = settle_scale(ratio, low, high, min_effect, confidence, alpha)
    if scale is None:
        return None
    needed = math.ceil(2 * max(scale, 1.0) / (1 / n_old + 1 / n_new))
    return needed if needed <= MAX_ROUNDS else None


_EMPTY_TIMINGS = dict.fromkeys(
    ("median", "ci_low", "ci_high", "iqr", "p90", "p99", "mean", "std", "mad", "min", "max"), math.nan
)


def summarize(frame: pd.DataFrame, by: Sequence[str] = ("set", "mode", "phase")) -> pd.DataFrame:
    """One row per group: counts with failure rate, then timing statistics of successes (ms). Each
    group's columns are read as arrays once: pandas' per-group selection cost more than the statistics."""
    rows = []
    needed = list(dict.fromkeys([*by, "ok", "duration_ms", *(c for c in ("role", "error") if c in frame)]))
    for key, g in frame[needed].groupby(list(by), observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        good = g["ok"].to_numpy(dtype=bool)
        ok = g["duration_ms"].to_numpy(dtype=float)[good]
        total = len(g)
        failures = total - len(ok)
        row = dict(zip(by, key))
        row["role"] = str(g["role"].iloc[0]) if "role" in g and len(g) else ""
        row.update(n=len(ok), failures=failures, failure_rate=failures / total if total else math.nan)
        row["failure_reasons"] = _failure_reasons(g, good) if failures else ""
        row.update(_timings(ok) if len(ok) else {**_EMPTY_TIMINGS, "outliers": 0})
        rows.append(row)
    return pd.DataFrame(rows)


def _failure_reasons(g: pd.DataFrame, good: np.ndarray) -> str:
    errs = g.loc[~good, "error"].astype("string").value_counts()
    return "; ".join(f"{k} {v}" for k, v in errs.items())


def _timings(ok: np.ndarray) -> dict[str, float]:
    q25, q50, q75, q90, q99 = np.percentile(ok, [25, 50, 75, 90, 99])
    low, high = median_ci(ok)
    med = float(np.median(ok))
    mad = _mad(ok, med)
    return dict(
        median=q50,
        ci_low=low,
        ci_high=high,
        iqr=q75 - q25,
        p90=q90,
        p99=q99,
        mean=float(ok.mean()),
        std=float(ok.std(ddof=1)) if len(ok) > 1 else math.nan,
        mad=mad,
        min=float(ok.min()),
        max=float(ok.max()),
        outliers=int((np.abs(_z(ok, med, mad)) > OUTLIER_Z).sum()),
    )


def paired_values(frame: pd.DataFrame, mode_a: str, mode_b: str, phase: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Successful samples of two modes in the same rounds of the same set, aligned; None
    when the modes never shared a round."""
    sub = frame[(frame["phase"] == phase) & frame["ok"] & frame["mode"].isin([mode_a, mode_b])]
    wide = sub.pivot_table(index=["set", "round"], columns="mode", values="duration_ms", aggfunc="first", observed=True)
    if mode_a not in wide or mode_b not in wide:
        return None
    wide = wide[[mode_a, mode_b]].dropna()
    if wide.empty:
        return None
    return wide[mode_a].to_numpy(), wide[mode_b].to_numpy()
