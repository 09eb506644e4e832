"""How well a median is known: a distribution-free 95% CI from order statistics.

Used by the scheduler's optional "stop when precise enough" rule. The analysis
uses a bootstrap instead; this one is cheap enough to run after every round.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
from scipy.stats import binom


def order_stat_median_ci(
    values: Union[Sequence[float], np.ndarray], confidence: float = 0.95
) -> Optional[tuple[float, float, float]]:
    """(low, median, high), or None with too few values for a two-sided interval."""
    xs = np.sort(np.asarray(values, dtype=float))
    n = len(xs)
    if n < 6:
        return None
    alpha = 1 - confidence
    # Ranks j < k with P(X_(j) <= median <= X_(k)) >= confidence (binomial(n, 1/2)).
    j = int(binom.ppf(alpha / 2, n, 0.5))
    k = n - j + 1
    j = max(j, 1)
    k = min(k, n)
    return float(xs[j - 1]), float(np.median(xs)), float(xs[k - 1])


def relative_halfwidth(values: Sequence[float]) -> float:
    ci = order_stat_median_ci(values)
    if ci is None or ci[1] <= 0:
        return math.inf
    low, mid, high = ci
    return (high - low) / 2 / mid
