"""A set's level per mode and metric: the median with its 95% CI from compare's batch-means model.

A run's samples share its drift, so (as ``analysis.effects.two_runs`` does) the run is cut into
stretches of rounds and the stretches' log medians are the independent units: their mean is the
set's level on the log scale, with a t interval of len(units) - 1 degrees of freedom. The history's
change points and drift are computed on these levels, each weighted by its own standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from analysis import effects
from analysis.compare import family_of
from analysis.metrics import cold_phases_apart, with_derived
from analysis.scale import scale_phases_apart
from analysis.service import replicas_apart


@dataclass(frozen=True)
class Level:
    """One set's level of one mode and metric (ms). ``center``, ``low`` and ``high`` come from the
    batch-means model; ``median`` is the plain median of the successful samples, for reading."""

    mode: str
    metric: str
    n: int
    failures: int
    median: float
    center: float
    low: float
    high: float
    log_center: float
    se: float  # of log_center
    df: float
    method: str


def level_of(durations: np.ndarray, mode: str = "", metric: str = "", failures: int = 0) -> Optional[Level]:
    """The level of positive durations in round order; None with fewer than 3."""
    x = np.asarray(durations, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if len(x) < 3:
        return None
    units, method = effects.units(np.log(x))
    se = float(units.std(ddof=1) / math.sqrt(len(units)))
    est = effects.Estimate(float(units.mean()), se, float(len(units) - 1), method, (len(units), len(units)))
    low, high = est.interval()
    return Level(
        mode, metric, len(x), failures, float(np.median(x)), est.ratio, low, high, est.log_ratio, se, est.df, method
    )


def metric_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples outside warm-up with the derived metrics, phases named as compare names them (cold
    cycles as "cold <phase>", scale levels as "burst N=8 <phase>", services per replica count)."""
    every = replicas_apart(scale_phases_apart(cold_phases_apart(with_derived(frame))))
    return every[~every["warmup"]]


def set_levels(frame: pd.DataFrame, reference: Optional[str] = None) -> tuple[Level, ...]:
    """Every mode's level of every startup metric the set has (the metrics compare's gates read). With a
    ``reference`` mode: each other mode's per-round ratio to it instead (as compare --reference)."""
    data = metric_frame(frame)
    metrics = family_of(sorted(map(str, data["phase"].unique())), None)
    data = data[data["phase"].isin(metrics)]
    if reference:
        return ratio_levels(data, reference)
    out = []
    for (mode, metric), g in data.groupby(["mode", "phase"], observed=True, sort=True):
        ok = g[g["ok"]]
        durations = ok["duration_ms"].to_numpy(dtype=float)[np.argsort(ok["round"].to_numpy(), kind="stable")]
        level = level_of(durations, str(mode), str(metric), int((~g["ok"]).sum()))
        if level is not None:
            out.append(level)
    return tuple(out)


def ratio_levels(data: pd.DataFrame, reference: str) -> tuple[Level, ...]:
    """Each mode's per-round ratio to ``reference`` (rounds where both succeeded, each round's median),
    as levels: whatever slowed the whole host between two sets cancels within each round. A set without
    the reference mode has no level."""
    ok = data[data["ok"]]
    per_round = ok.groupby(["phase", "mode", "round"], observed=True)["duration_ms"].median()
    out = []
    for (metric, mode), g in data.groupby(["phase", "mode"], observed=True, sort=True):
        if mode == reference or (metric, reference) not in per_round.index.droplevel(2):
            continue
        both = pd.concat([per_round.loc[(metric, mode)], per_round.loc[(metric, reference)]], axis=1, join="inner")
        ratios = (both.iloc[:, 0] / both.iloc[:, 1]).sort_index().to_numpy(dtype=float)
        level = level_of(ratios, str(mode), str(metric), int((~g["ok"]).sum()))
        if level is not None:
            out.append(level)
    return tuple(out)
