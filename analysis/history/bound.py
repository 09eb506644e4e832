"""The most any detector could find at a given set-to-set spread: the yardstick bench-history's rates
are read against, so a missed target says whether the method or the host's noise stands in the way.

An oracle that knows the levels are normal with sd ``spread`` and that a series holds at most one
step, and spends the whole false-alarm level on it, tests the step by the likelihood ratio: the
largest |mean after - mean before| / (spread * sqrt(1/k + 1/(n-k))) over the split positions k,
against its own simulated 95th percentile under no change; the step is found when that largest
statistic clears it at a position within one set of the true one. For creep, the oracle knows the
change (if any) is a straight line: a z test of the least-squares slope at the full level. No
method that also guards against the other kinds of alarm, estimates the spread, or requires the
minimum effect can do better on the same noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import stats as sps

TRIALS = 4000


@dataclass(frozen=True)
class Bound:
    step: float  # share of step series found
    creep: float  # share of creep series flagged
    smallest_step: Optional[float]  # the smallest step found in >= 95% (None: beyond the range tried)


def _max_z(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row (a series, sd 1): the largest two-sample z over split positions, and where."""
    n = x.shape[1]
    c = np.cumsum(x, axis=1)
    k = np.arange(1, n)
    diff = (c[:, -1:] - c[:, :-1]) / (n - k) - c[:, :-1] / k
    z = np.abs(diff) / np.sqrt(1 / k + 1 / (n - k))
    return z.max(axis=1), z.argmax(axis=1) + 1


def step_found(step: float, spread: float, sets: int, first: int, last: int, alpha: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    critical = np.quantile(_max_z(rng.normal(0, 1, (TRIALS, sets)))[0], 1 - alpha)
    at = rng.integers(first, last + 1, TRIALS)
    shift = (np.arange(sets)[None, :] >= at[:, None]) * (math.log(step) / spread)
    z, where = _max_z(rng.normal(0, 1, (TRIALS, sets)) + shift)
    return float(np.mean((z > critical) & (np.abs(where - at) <= 1)))


def creep_found(levels: Sequence[float], spread: float, alpha: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x = np.arange(len(levels), dtype=float)
    xc = x - x.mean()
    y = np.log(np.asarray(levels))[None, :] + rng.normal(0, spread, (TRIALS, len(levels)))
    slope = (y * xc).sum(axis=1) / (xc**2).sum()
    z = np.abs(slope) / (spread / math.sqrt(float((xc**2).sum())))
    return float(np.mean(z > sps.norm.ppf(1 - alpha / 2)))


def bound(
    spread: float, step: float, sets: int, first: int, last: int, creep: Sequence[float], alpha: float, seed: int
) -> Bound:
    steps = (1 + k / 100 for k in range(1, 51))  # x1.01 .. x1.50
    smallest = next((s for s in steps if step_found(s, spread, sets, first, last, alpha, seed) >= 0.95), None)
    return Bound(
        step_found(step, spread, sets, first, last, alpha, seed),
        creep_found(creep, spread, alpha, seed),
        None if smallest is None else float(smallest),
    )
