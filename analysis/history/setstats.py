"""A set's level per mode and metric: the median with its 95% CI from compare's batch-means model.

A run's samples share its drift, so (as ``analysis.effects.two_runs`` does) the run is cut into
stretches of rounds and the stretches' log medians are the independent units: their mean is the
set's level on the log scale, with a t interval of len(units) - 1 degrees of freedom
(``effects.one_run``). The durations and per-round ratios are read as compare reads them
(``analysis.compare.Samples``). The history's change points and drift are computed on these levels,
each weighted by its own standard error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from analysis import effects
from analysis.compare import Samples, family_of
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
    est = effects.one_run(np.log(x))
    if est is None:
        return None
    low, high = est.interval()
    return Level(
        mode, metric, len(x), failures, float(np.median(x)), est.ratio, low, high, est.log_ratio, est.se, est.df,
        est.method,
    )  # fmt: skip


def metric_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples outside warm-up with the derived metrics, phases named as compare names them (cold
    cycles as "cold <phase>", scale levels as "burst N=8 <phase>", services per replica count)."""
    every = replicas_apart(scale_phases_apart(cold_phases_apart(with_derived(frame))))
    return every[~every["warmup"]]


def set_levels(frame: pd.DataFrame, reference: Optional[str] = None) -> tuple[Level, ...]:
    """Every mode's level of every startup metric the set has (the metrics compare's gates read). With a
    ``reference`` mode: each other mode's per-round ratio to it instead (as compare --reference): whatever
    slowed the whole host between two sets cancels within each round. A set without the reference mode
    has no level."""
    data = metric_frame(frame)
    metrics = family_of(sorted(map(str, data["phase"].unique())), None)
    data = data[data["phase"].isin(metrics)]
    samples = Samples(data)
    out = []
    for set_name, mode, metric in sorted(samples.groups):
        if reference and (mode == reference or not samples.has(set_name, reference, metric)):
            continue
        values = (
            samples.ratios(set_name, mode, reference, metric)
            if reference
            else samples.durations(set_name, mode, metric)
        )
        level = level_of(values, str(mode), str(metric), samples.failures(set_name, mode, metric))
        if level is not None:
            out.append(level)
    return tuple(out)
