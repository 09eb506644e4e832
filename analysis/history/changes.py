"""Change points in a series of set levels: E-Divisive means (Apache Otava's implementation of
Matteson and James, with its permutation test) proposes them, and each is kept only when the sets
either side differ significantly and by at least the minimum effect.

E-Divisive means splits the series of log levels where the energy distance between the two sides is
largest and keeps a split when a permutation test finds it significant, then looks inside each part
again. It knows nothing of each set's own uncertainty, so every split it proposes is then tested as
compare tests two sides: the inverse-variance weighted mean log level of the sets either side (each
set weighted by 1 / (its own se² + the variance between sets of one level), so a noisy set counts for
less and a quiet host is not over-trusted), a t interval with the sets as units, and the rule that a
change is significant (p < alpha) and large enough (the estimated ratio beyond 1 ± minimum effect). A
split that fails is dropped and the remaining ones are tested again on the longer sides that leaves.

The newest set alone is always a candidate too: a permutation test cannot find one set significant
against the rest (treeverse/dvc-bench#105: a regression found only once it is no longer the newest),
so the gate would never fire on the set that brought the change. One set is the least evidence there
is, so it must meet compare's own verdict rule: its interval wholly beyond the minimum effect.

A series can raise an alarm three ways: a split, its newest set, and the drift rule
(analysis.history.drift). ``alpha`` is the series' false-alarm level, shared among them (Bonferroni):
half to the splits, a quarter each to the newest set and the drift. With each at the full alpha, a
flat series of this host's real noise raised one in 6-12% of series; with a third each, a real 40 ms
delay planted in the last 4 of 10 sets went unfound (E-Divisive's p 0.018 against 0.017), and the
splits, which find most changes, get the largest share. The split's own significance is E-Divisive's
permutation test, the one test here that knows the split was chosen as the best of all positions (a t
test of a chosen split does not: proposing at Otava's relaxed first-pass level, 10 alpha, and leaving
the decision to the t raised false alarms in 30% of flat series). PERMUTATIONS is sized so that the
permutation p-value can fall well below that level (its smallest value is 1 / (PERMUTATIONS + 1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from analysis import effects
from analysis.history.setstats import Level
from bench.core.errors import UserError


@dataclass(frozen=True)
class Change:
    """A persistent change: the level moves at set ``index`` (the first set of the new level)."""

    index: int
    ratio: float  # after / before
    low: float
    high: float
    p: float  # of "no change", from the weighted t
    sets_before: int
    sets_after: int


def between_variance(logs: np.ndarray, ses: np.ndarray, bounds: Sequence[int]) -> float:
    """Variance between sets of one level beyond each set's own (a moment estimate, floored at 0):
    what a host adds from run to run, which a set's own CI cannot show."""
    resid = np.concatenate([logs[a:b] - logs[a:b].mean() for a, b in zip(bounds, bounds[1:]) if b > a])
    dof = len(logs) - (len(bounds) - 1)
    if dof < 1:
        return 0.0
    return max(0.0, float((resid**2).sum() / dof - np.mean(ses**2)))


def _side(logs: np.ndarray, ses: np.ndarray, tau2: float) -> tuple[float, float]:
    w = 1.0 / (ses**2 + tau2)
    return float((w * logs).sum() / w.sum()), float(1.0 / w.sum())


def segment_estimate(logs: np.ndarray, ses: np.ndarray, left: slice, right: slice, tau2: float) -> effects.Estimate:
    """after / before for two runs of sets, as compare's Estimate (so the same interval and test)."""
    m_a, v_a = _side(logs[left], ses[left], tau2)
    m_b, v_b = _side(logs[right], ses[right], tau2)
    n_a, n_b = len(logs[left]), len(logs[right])
    return effects.Estimate(m_b - m_a, math.sqrt(v_a + v_b), float(max(n_a + n_b - 2, 1)), "sets", (n_a, n_b))


WINDOW, STEP = 120, 60  # E-Divisive's cost grows as n² per permutation: long series are read in windows


# Shares of a series' false-alarm level: see the module's docstring.
SPLIT_SHARE, NEWEST_SHARE, DRIFT_SHARE = 0.5, 0.25, 0.25
PERMUTATIONS = 199


def proposed(logs: np.ndarray, alpha: float, seed: int) -> list[int]:
    """E-Divisive means' change points (indices of the first set after each): Otava's original
    algorithm (its compute_change_points_orig, with PERMUTATIONS permutations instead of its 100)
    drawn from a generator seeded here, so a site is reproducible. A series longer than WINDOW sets
    is read in windows overlapping by half, as Otava's own split step does for long series (a
    thousand sets in one piece took 7 s; in windows, under 1 s)."""
    try:
        from otava.change_point_divisive.calculator import PairDistanceCalculator
        from otava.change_point_divisive.detector import ChangePointDetector
        from otava.change_point_divisive.significance_test import PermutationsSignificanceTester
    except ImportError:
        raise UserError(
            "change points need the apache-otava package, which installs on Python 3.10 or newer: run "
            "`make setup` with such a Python."
        ) from None
    found: set[int] = set()
    starts = range(0, max(1, len(logs) - STEP), STEP) if len(logs) > WINDOW else range(1)
    for start in starts:
        part = logs[start : start + WINDOW]
        tester = PermutationsSignificanceTester(alpha, PERMUTATIONS, PairDistanceCalculator, seed)
        points = ChangePointDetector(tester, PairDistanceCalculator).get_change_points(part)
        found |= {start + int(cp.index) for cp in points if 0 < cp.index < len(part)}
    return sorted(found)


def _weakest_failing(
    logs: np.ndarray, ses: np.ndarray, points: list[int], min_effect: float, alpha: float
) -> tuple[Optional[int], list[Change]]:
    """(the position in ``points`` of the weakest split that fails the test, or None; the changes)."""
    bounds = [0] + points + [len(logs)]
    tau2 = between_variance(logs, ses, bounds)
    found: list[Change] = []
    worst: Optional[tuple[float, int]] = None
    for i, cp in enumerate(points):
        est = segment_estimate(logs, ses, slice(bounds[i], cp), slice(cp, bounds[i + 2]), tau2)
        p = est.p_beyond(0.0)
        big = abs(est.log_ratio) >= math.log1p(min_effect)
        if cp == len(logs) - 1:  # one set alone: its CI must clear the band (compare's verdict rule)
            big = est.p_beyond(min_effect) < alpha * NEWEST_SHARE
        if not (p < alpha * SPLIT_SHARE and big):
            score = (abs(est.log_ratio) / est.se) if est.se > 0 else math.inf
            worst = (score, i) if worst is None or score < worst[0] else worst
            continue
        low, high = est.interval()
        found.append(Change(cp, est.ratio, low, high, p, cp - bounds[i], bounds[i + 2] - cp))
    return (worst[1] if worst else None), found


def find_changes(
    levels: Sequence[Level], min_effect: float = 0.05, alpha: float = 0.05, seed: int = 0
) -> tuple[Change, ...]:
    """The persistent changes in a series of levels (in series order), each significant and beyond
    the minimum effect; ``alpha``: the series' false-alarm level, shared with the drift rule. Fewer
    than 4 sets: none (no side would have a spread to judge it by)."""
    if len(levels) < 4:
        return ()
    logs = np.array([lv.log_center for lv in levels])
    ses = np.array([lv.se if math.isfinite(lv.se) else 0.0 for lv in levels])
    points = proposed(logs, alpha * SPLIT_SHARE, seed)
    if len(logs) - 1 not in points:
        points.append(len(logs) - 1)  # the newest set alone: see the module's docstring
    while True:
        drop, found = _weakest_failing(logs, ses, points, min_effect, alpha)
        if drop is None:
            return tuple(found)
        points = points[:drop] + points[drop + 1 :]
