"""Slow creep: a level that moves a little with every set, so no single step is large enough to be a
change, yet over the window the cumulative change is beyond the minimum effect (airspeed-velocity/asv#932).

The rule: over the last ``window`` sets after the newest accepted change (so a step is never counted
twice), a weighted least-squares line through the log levels (each set weighted as the change test
weights it); the cumulative change is the slope times the window's length. A drift is flagged when
the slope is significant (p < alpha * DRIFT_SHARE, t with sets - 2 degrees of freedom: the series'
false-alarm level is shared with the two ways of analysis.history.changes) and the cumulative change
is beyond 1 ± minimum effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from analysis import effects
from analysis.history.changes import DRIFT_SHARE, Change
from analysis.history.setstats import Level

WINDOW = 12  # sets: about a quarter of weekly runs, or the last dozen updates
MIN_SETS = 6  # fewer leave the slope too uncertain to call anything


@dataclass(frozen=True)
class Drift:
    """Creep over sets ``start`` .. ``end`` (inclusive): the fitted level at the end / at the start."""

    start: int
    end: int
    ratio: float
    low: float
    high: float
    p: float


def _trend(logs: np.ndarray, ses: np.ndarray) -> effects.Estimate:
    """The cumulative change over the window from a weighted line, as an Estimate (log scale)."""
    x = np.arange(len(logs), dtype=float)
    slope0, icept0 = np.polyfit(x, logs, 1)
    resid = logs - (slope0 * x + icept0)
    tau2 = max(0.0, float((resid**2).sum() / (len(logs) - 2) - np.mean(ses**2)))
    w = 1.0 / (ses**2 + tau2)
    xm = (w * x).sum() / w.sum()
    sxx = float((w * (x - xm) ** 2).sum())
    slope = float((w * (x - xm) * (logs - (w * logs).sum() / w.sum())).sum() / sxx)
    fitted = (w * logs).sum() / w.sum() + slope * (x - xm)
    # The weights' scale may be off (tau2 is an estimate): scale the variance by the weighted residuals.
    scale = max(1.0, float((w * (logs - fitted) ** 2).sum() / (len(logs) - 2)))
    span = len(logs) - 1
    se = math.sqrt(scale / sxx) * span
    return effects.Estimate(slope * span, se, float(len(logs) - 2), "trend over sets", (len(logs), len(logs)))


def find_drift(
    levels: Sequence[Level],
    changes: Sequence[Change],
    min_effect: float = 0.05,
    alpha: float = 0.05,
    window: int = WINDOW,
) -> Optional[Drift]:
    """The creep over the newest window, or None."""
    n = len(levels)
    start = max([n - window] + [c.index for c in changes] + [0])
    if n - start < MIN_SETS:
        return None
    logs = np.array([lv.log_center for lv in levels[start:]])
    ses = np.array([lv.se if math.isfinite(lv.se) else 0.0 for lv in levels[start:]])
    est = _trend(logs, ses)
    p = est.p_beyond(0.0)
    if not (p < alpha * DRIFT_SHARE and abs(est.log_ratio) >= math.log1p(min_effect)):
        return None
    low, high = est.interval()
    return Drift(start, n - 1, est.ratio, low, high, p)
