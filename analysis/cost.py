"""Why one mode is slower (issue 23): CPU per start per source, the startup waterfall's steps, where
each mode's extra start time over the native mode goes, and the harness's own CPU as a share of the
engine stack's. Reads the cost table (analysis.load's ``costs``: one row per cost record, ``metric``
and ``value_ms``, names in bench.core.costs), never the samples' frame, except the harness's own
start and ready; older sets have no cost records and get no section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from analysis import stats
from bench.core.costs import CPU_ENGINE, CPU_HARNESS, STEP_NAMES, STEP_PREFIX, WATERFALL
from bench.core.phases import BURST, WARM

SOURCES = {
    "cpu_engine": "engine stack",
    "cpu_container": "container",
    "cpu_vm": "VM engine (qemu)",
    "cpu_harness": "harness",
}
SUMMARY_CPU = {CPU_ENGINE: "cpu_engine_ms", CPU_HARNESS: "cpu_harness_ms"}
TOLERANCE = 0.05  # the steps' medians must sum to within 5% of start + ready's median
N_BOOT = 2000


def _ok(costs: pd.DataFrame, metric: str, mode: Optional[str] = None) -> np.ndarray:
    sel = (costs["metric"] == metric) & costs["ok"]
    if mode is not None:
        sel &= costs["mode"] == mode
    return costs.loc[sel, "value_ms"].to_numpy(float)


def _modes(frame: pd.DataFrame) -> list[str]:
    return [str(m) for m in frame["mode"].unique()] if len(frame) else []


def cpu_table(costs: pd.DataFrame) -> pd.DataFrame:
    """Per mode and source: CPU ms per start (median, 95% CI, n), and the harness's share of the engine's."""
    rows = []
    for mode in _modes(costs):
        for metric, name in SOURCES.items():
            x = _ok(costs, metric, mode)
            if not len(x):
                continue
            low, high = stats.median_ci(x)
            rows.append({"mode": mode, "source": name, "n": len(x), "median_ms": float(np.median(x)),
                         "ci_low": low, "ci_high": high, "mean_ms": float(x.mean())})  # fmt: skip
        share = harness_share(costs, mode)
        if share == share:
            rows.append({"mode": mode, "source": "harness / engine stack", "n": 0, "median_ms": math.nan,
                         "ci_low": math.nan, "ci_high": math.nan, "mean_ms": math.nan, "share": share})  # fmt: skip
    return pd.DataFrame(rows)


def harness_share(costs: pd.DataFrame, mode: str) -> float:
    """The harness's CPU as a share of the engine stack's, over the cycles (or bursts) that have both."""
    both = costs[(costs["mode"] == mode) & costs["ok"] & costs["metric"].isin([CPU_ENGINE, CPU_HARNESS])]
    if both.empty:
        return math.nan
    both = both.assign(group=both["group"].astype(float).fillna(-1.0), metric=both["metric"].astype(str))
    wide = both.pivot_table(index=["round", "pos", "group"], columns="metric", values="value_ms", aggfunc="sum",
                            observed=True, dropna=False)  # fmt: skip
    wide = wide.dropna()
    if CPU_ENGINE not in wide or CPU_HARNESS not in wide or wide[CPU_ENGINE].sum() <= 0:
        return math.nan
    return float(wide[CPU_HARNESS].sum() / wide[CPU_ENGINE].sum())


def burst_shares(costs: pd.DataFrame) -> pd.DataFrame:
    """Per mode and burst size N: the harness's CPU per container as a share of the engine's (burst sums)."""
    whole = costs["slot"].isna() | (costs["slot"] < 0)  # a group's own: the table holds a null slot as -1
    data = costs[(costs["scenario"] == BURST) & ~costs["warmup"] & whole]
    rows = []
    for (mode, level), g in data.groupby(["mode", "level"], observed=True):
        share = harness_share(g, str(mode))
        engine = g.loc[(g["metric"] == CPU_ENGINE) & g["ok"], "value_ms"]
        if share == share and len(engine):
            per = float(engine.sum()) / (float(level) * len(engine))
            rows.append({"mode": str(mode), "N": int(level), "share": share, "engine_ms_per_container": per})
    return pd.DataFrame(rows)


def step_matrix(costs: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Per cycle with a waterfall (rows), each step's ms (columns, in STEPS order): a step the cycle's
    processes did not show is 0 (runc has no sandbox step), and the `total` is start + ready."""
    data = costs[(costs["mode"] == mode) & costs["ok"]]
    key = ["round", "pos"]
    totals = data[data["metric"] == WATERFALL].set_index(key)["value_ms"].rename("total")
    steps = data[data["metric"].astype(str).str.startswith(STEP_PREFIX)]
    wide = steps.assign(step=steps["metric"].astype(str).str[len(STEP_PREFIX) :]).pivot_table(
        index=key, columns="step", values="value_ms", aggfunc="sum", observed=True
    )
    wide = wide.reindex(totals.index).reindex(columns=[s for s in STEP_NAMES if s in wide.columns]).fillna(0.0)
    return wide.join(totals)


def clock_check(costs: pd.DataFrame, frame: pd.DataFrame, mode: str) -> tuple[float, float]:
    """The kernel's clock against the harness's: the share of cycles whose runtime `start` exited before
    the harness saw the start call return (``frame``'s start samples; as it must: dockerd answers after
    it), and the median time from that exit to the return (dockerd and containerd's way back)."""
    m = step_matrix(costs, mode)
    start = frame[(frame["mode"] == mode) & (frame["phase"] == "start") & frame["ok"]].set_index(["round", "pos"])
    if m.empty or "app" not in m or start.empty:
        return math.nan, math.nan
    exited = (m["total"] - m["app"]).where(m["app"] > 0)  # the runtime start's exit, from the start call
    lead = (start["duration_ms"].reindex(m.index) - exited).dropna()
    return (float((lead >= 0).mean()), float(lead.median())) if len(lead) else (math.nan, math.nan)


def waterfall_table(costs: pd.DataFrame) -> pd.DataFrame:
    """Per mode and step: median ms with its 95% CI; then the steps' medians summed against start +
    ready's median, and whether they agree within TOLERANCE."""
    rows = []
    for mode in _modes(costs):
        m = step_matrix(costs, mode)
        if m.empty:
            continue
        for step in [c for c in m.columns if c != "total"]:
            low, high = stats.median_ci(m[step].to_numpy())
            rows.append({"mode": mode, "step": step, "median_ms": float(m[step].median()), "ci_low": low,
                         "ci_high": high, "n": len(m)})  # fmt: skip
        summed, total = float(m.drop(columns="total").median().sum()), float(m["total"].median())
        rows.append({"mode": mode, "step": "sum of the steps' medians", "median_ms": summed, "n": len(m),
                     "ci_low": math.nan, "ci_high": math.nan})  # fmt: skip
        agree = abs(summed - total) <= TOLERANCE * total
        rows.append({"mode": mode, "step": "start + ready (median)", "median_ms": total, "n": len(m),
                     "ci_low": math.nan, "ci_high": math.nan, "within_5pct": agree})  # fmt: skip
    return pd.DataFrame(rows)


def _diff_ci(a: np.ndarray, b: np.ndarray, seed: int = 23) -> tuple[float, float]:
    """95% percentile-bootstrap CI of median(b) - median(a), the two resampled independently."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    da = np.median(rng.choice(a, (N_BOOT, len(a))), axis=1)
    db = np.median(rng.choice(b, (N_BOOT, len(b))), axis=1)
    low, high = np.percentile(db - da, [2.5, 97.5])
    return float(low), float(high)


def extra_table(costs: pd.DataFrame, native: str) -> pd.DataFrame:
    """Per other mode and step: its median minus the native mode's (ms, 95% CI), and its share of the
    whole extra start + ready time."""
    base = step_matrix(costs, native)
    rows = []
    for mode in [m for m in _modes(costs) if m != native]:
        m = step_matrix(costs, mode)
        if m.empty or base.empty:
            continue
        extra = float(m["total"].median() - base["total"].median())
        for step in [s for s in STEP_NAMES if s in m.columns or s in base.columns] + ["total"]:
            a = base[step].to_numpy() if step in base else np.zeros(len(base))
            b = m[step].to_numpy() if step in m else np.zeros(len(m))
            d = float(np.median(b) - np.median(a))
            low, high = _diff_ci(a, b)
            rows.append({"mode": mode, "over": native, "step": step, "extra_ms": d, "ci_low": low, "ci_high": high,
                         "share_of_extra": d / extra if extra else math.nan})  # fmt: skip
    return pd.DataFrame(rows)


def largest_extra(extra: pd.DataFrame, mode: str) -> Optional[dict[str, Any]]:
    """The step that adds the most to ``mode``'s start over the native mode's."""
    rows = extra[(extra["mode"] == mode) & (extra["step"] != "total")] if not extra.empty else extra
    if rows.empty:
        return None
    return dict(rows.loc[rows["extra_ms"].idxmax()])


def native_mode(costs: pd.DataFrame) -> Optional[str]:
    natives = [str(m) for m in costs.loc[costs["role"] == "native", "mode"].unique()] if len(costs) else []
    return natives[0] if natives else None


def with_cpu_columns(summary: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """summary.csv's rows plus per mode cpu_engine_ms and cpu_harness_ms (medians per start of the warm
    cycles; empty where the set has none)."""
    if summary.empty:
        return summary
    out = summary.copy()
    data = warm(costs)
    for metric, col in SUMMARY_CPU.items():
        medians = {m: float(np.median(x)) for m in _modes(data) if len(x := _ok(data, metric, m))}
        out[col] = out["mode"].astype(str).map(medians)
    return out


def as_metric_rows(costs: pd.DataFrame) -> pd.DataFrame:
    """The cost table in the shape claims read a metric in (``phase``, ``duration_ms``, ``error``): for a
    claim about CPU (claims.toml: engine-cpu-ranking), checked on these rows alone."""
    out = costs.rename(columns={"metric": "phase", "value_ms": "duration_ms"}).drop(columns=["failed_at"])
    return out.assign(error=pd.Categorical([None] * len(out)))


def warm(table: pd.DataFrame) -> pd.DataFrame:
    """The warm scenario's measured rows (of the samples' frame or the cost table)."""
    return table[(table["scenario"] == WARM) & ~table["warmup"]]


@dataclass(frozen=True)
class CostSection:
    """What the report shows of a set's costs (empty for a set without cost records)."""

    cpu: pd.DataFrame = field(default_factory=pd.DataFrame)
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)
    extra: pd.DataFrame = field(default_factory=pd.DataFrame)
    bursts: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.cpu.empty and self.steps.empty and self.bursts.empty
