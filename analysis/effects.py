"""How much one thing changed against another, with one model per design: the estimate, its
confidence interval and its p-value always come from the same t model on log durations, so a
verdict can never disagree with its own interval.

The designs, from least to most able to detect a change on a shared host:

- ``two_runs``: one run a side. Samples of a run share its drift, so each run (in round order) is
  cut into BATCHES stretches and the stretches' log medians are compared (batch means, Welch's t).
  Whatever shifted the whole host between the two runs is not in this model: only a reference mode
  (``paired_series`` of the two runs) or several runs a side (``replicated``) can take it out.
- ``replicated``: several runs a side. A mixed model (statsmodels MixedLM, REML) of the stretches'
  log medians with the run as a random intercept, so run-to-run variance is estimated, not ignored;
  its t has the runs' degrees of freedom (runs - 2), since the runs, not the rounds, are the
  replicates of a side.
- ``paired``: both sides in the same interleaved rounds of one run (in-run A/B), or a mode's ratio to
  a reference mode measured in the same rounds. Per round, log(candidate / base); the batches'
  medians of those log ratios take a one-sample t. Drift of the host cancels within a round.

A change is called when the interval lies wholly beyond the minimum effect (``p_beyond``: the test
of "the change is within the band", from the same t): significance and the minimum effect are one
test, so the chance of calling a change that is really within the band is at most alpha. Every
estimate carries its standard error and degrees of freedom, so the minimum detectable effect
(``detectable``) is that of the same model.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
POWER = 0.80
BATCHES = 10  # contiguous stretches of rounds a run is cut into
MIN_BATCH = 2  # samples a stretch needs; below BATCHES * MIN_BATCH, each sample is its own unit


@dataclass(frozen=True)
class Estimate:
    """new / old (or candidate / base) as exp(log difference), with the model it came from."""

    log_ratio: float
    se: float  # standard error of log_ratio
    df: float  # degrees of freedom of its t
    method: str  # "batches", "samples", "paired batches", "paired rounds", "runs (mixed model)", "runs (means)"
    units: tuple[int, int]  # the units the model compared: (old, new) stretches, rounds or runs

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        if self.se == 0:
            return self.ratio, self.ratio
        if not math.isfinite(self.se) or self.df <= 0:
            return math.nan, math.nan
        half = float(sps.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return math.exp(self.log_ratio - half), math.exp(self.log_ratio + half)

    def p_beyond(self, min_effect: float) -> float:
        """p of "the change lies within ±min_effect" (on the log scale, so 1/(1+e) .. 1+e), from the
        same t as the interval, doubled as a two-sided test is: p < 1 - confidence exactly when the
        interval lies wholly beyond the band. With min_effect 0 it is the usual p of "no change"."""
        excess = abs(self.log_ratio) - math.log1p(min_effect)
        if self.se == 0:
            return 0.0 if excess > 0 else 1.0
        if not math.isfinite(self.se) or self.df <= 0:
            return math.nan
        return min(1.0, float(2 * sps.t.sf(excess / self.se, self.df)))


def batch_medians(values: np.ndarray, batches: int = BATCHES) -> Optional[np.ndarray]:
    """Medians of ``batches`` contiguous stretches of ``values`` (in time order); None when a
    stretch would hold fewer than MIN_BATCH values."""
    x = np.asarray(values, dtype=float)
    if len(x) < batches * MIN_BATCH:
        return None
    return np.array([np.median(part) for part in np.array_split(x, batches)])


def units(log_values: np.ndarray) -> tuple[np.ndarray, str]:
    """The independent units of one run's log values in time order: the stretches' medians where
    the run is long enough, else the values themselves."""
    x = np.asarray(log_values, dtype=float)
    batched = batch_medians(x)
    return (batched, "batches") if batched is not None else (x, "samples")


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(mean(b) - mean(a), its se, Welch-Satterthwaite df)."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(b.mean() - a.mean()), 0.0, float(len(a) + len(b) - 2)
    df = (va + vb) ** 2 / ((va**2 / (len(a) - 1) if va else 0) + (vb**2 / (len(b) - 1) if vb else 0))
    return float(b.mean() - a.mean()), se, float(df)


def two_runs(old: np.ndarray, new: np.ndarray) -> Optional[Estimate]:
    """One run a side: ``old`` and ``new`` are positive durations (or ratios) in round order.
    None when a side has fewer than 3 values."""
    a, b = np.asarray(old, dtype=float), np.asarray(new, dtype=float)
    if len(a) < 3 or len(b) < 3 or (a <= 0).any() or (b <= 0).any():
        return None
    ua, method_a = units(np.log(a))
    ub, method_b = units(np.log(b))
    method = "batches" if method_a == method_b == "batches" else "samples"
    if method == "samples":  # both sides at the same grain
        ua, ub = np.log(a), np.log(b)
    diff, se, df = _welch(ua, ub)
    return Estimate(diff, se, df, method, (len(ua), len(ub)))


def one_run(log_values: np.ndarray) -> Optional[Estimate]:
    """One run's level: the mean of its units (``units``) of log values in round order, with a t of
    units - 1 degrees of freedom. None with fewer than 3 values."""
    x = np.asarray(log_values, dtype=float)
    if len(x) < 3:
        return None
    u, method = units(x)
    se = float(u.std(ddof=1) / math.sqrt(len(u)))
    return Estimate(float(u.mean()), se, float(len(u) - 1), method, (len(u), len(u)))


def paired(log_ratios: np.ndarray) -> Optional[Estimate]:
    """Both sides in the same rounds: ``log_ratios`` holds log(candidate / base) per round, in round
    order, and its level (``one_run``) is the change. None with fewer than 3 rounds."""
    est = one_run(log_ratios)
    if est is None:
        return None
    return replace(est, method=f"paired {'batches' if est.method == 'batches' else 'rounds'}")


def replicated(old_runs: Sequence[np.ndarray], new_runs: Sequence[np.ndarray]) -> Optional[Estimate]:
    """Several runs a side, each a series of positive values in round order: a mixed model of
    the runs' stretch medians (log) with the run as a random intercept. None with fewer than 2 runs a
    side or a run too short to use."""
    if len(old_runs) < 2 or len(new_runs) < 2:
        return None
    per_run: list[tuple[int, np.ndarray]] = []
    for side, runs in ((0, old_runs), (1, new_runs)):
        for values in runs:
            v = np.asarray(values, dtype=float)
            if len(v) < 3 or (v <= 0).any():
                return None
            per_run.append((side, units(np.log(v))[0]))
    df = float(len(per_run) - 2)
    fitted = _mixed_model(per_run)
    if fitted is not None:
        diff, se = fitted
        return Estimate(diff, se, df, "runs (mixed model)", (len(old_runs), len(new_runs)))
    means = [(side, float(u.mean())) for side, u in per_run]  # the model did not fit: one value a run
    a = np.array([m for s, m in means if s == 0])
    b = np.array([m for s, m in means if s == 1])
    diff, se, _ = _welch(a, b)
    return Estimate(diff, se, df, "runs (means)", (len(a), len(b)))


def _mixed_model(per_run: list[tuple[int, np.ndarray]]) -> Optional[tuple[float, float]]:
    """(side effect, its se) from MixedLM, or None when it does not converge to a usable fit."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    y = np.concatenate([u for _, u in per_run])
    side = np.concatenate([np.full(len(u), s, dtype=float) for s, u in per_run])
    groups = np.concatenate([np.full(len(u), i) for i, (_, u) in enumerate(per_run)])
    exog = np.column_stack([np.ones_like(side), side])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            fit = sm.MixedLM(y, exog, groups=groups).fit(reml=True)
        except (ValueError, np.linalg.LinAlgError):
            return None
    diff, se = float(fit.fe_params[1]), float(fit.bse_fe[1])
    return (diff, se) if math.isfinite(diff) and math.isfinite(se) and se > 0 else None


def detectable(
    est: Estimate, min_effect: float, alpha: float = 1 - CONFIDENCE, power: float = POWER, scale_se: float = 1.0
) -> float:
    """The smallest true change (as a fraction: 0.12 = 12%) that this design calls a change with
    ``power`` chance: an interval (at ``alpha``) wholly beyond the minimum effect.

    ``scale_se`` rescales the standard error, e.g. sqrt(n_now / n_planned) for another number of
    rounds (which shrinks only what varies within a run)."""
    se = est.se * scale_se
    if not math.isfinite(se) or est.df <= 0:
        return math.nan
    t_alpha = float(sps.t.ppf(1 - alpha / 2, est.df))
    t_power = float(sps.t.ppf(power, est.df))
    need = math.log1p(min_effect) + (t_alpha + t_power) * se
    return math.expm1(need)
