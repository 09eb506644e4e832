"""Figures (matplotlib, Agg): one figure per file, PNG and SVG, axes in ms.

Large sets are thinned for drawing only (points are capped per group with a
fixed seed); every statistic drawn (boxes, medians, ECDF quantiles) uses all
successful samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from bench.core.phases import PHASES  # noqa: E402

MAX_POINTS = 1500
MAX_DRIFT_POINTS = 20000
ECDF_POINTS = 2000
PHASE_COLOURS = dict(zip(PHASES, ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")))
PHASE_COLOURS["wait"] = "#DA8BC3"  # the run cycle shape's exit


def _save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def log_axis(ax: plt.Axes, which: str = "y") -> None:
    """A log axis that labels major ticks only (1, 2, 5 x 10^k; plain numbers), with unlabelled minor
    ticks: labelling minor ticks too crowds 600, 700, 800, 900 into each other. Where the data span
    too little for two such ticks, evenly spaced ones (linear steps) are labelled instead."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    majors = LogLocator(base=10, subs=(1.0, 2.0, 5.0))
    inside = [t for t in majors.tick_values(lo, hi) if lo <= t <= hi]
    if len(inside) < 2:
        axis.set_major_locator(FixedLocator([t for t in MaxNLocator(5).tick_values(lo, hi) if lo <= t <= hi and t > 0]))
    else:
        axis.set_major_locator(majors)
    axis.set_major_formatter(plain)
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
    axis.set_minor_formatter(NullFormatter())


def _thin(values: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    if len(values) <= cap:
        return values
    return np.random.default_rng(seed).choice(values, cap, replace=False)


def _modes(frame: pd.DataFrame) -> list[str]:
    return sorted(map(str, frame["mode"].unique()))


def distribution(frame: pd.DataFrame, phase: str, out_dir: Path, title_suffix: str = "") -> list[Path]:
    """Box per mode with the points over it, for one phase; failures counted in the labels."""
    data = frame[frame["phase"] == phase]
    modes = _modes(data)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(modes) + 2), 4.5))
    series, labels = [], []
    for i, m in enumerate(modes):
        g = data[data["mode"] == m]
        ok = g.loc[g["ok"], "duration_ms"].to_numpy()
        series.append(ok if len(ok) else np.array([np.nan]))
        fails = int((~g["ok"]).sum())
        labels.append(f"{m}\nn={len(ok)}" + (f", {fails} failed" if fails else ""))
        pts = _thin(ok, MAX_POINTS, seed=i)
        jitter = np.random.default_rng(i).uniform(-0.18, 0.18, len(pts))
        ax.scatter(np.full(len(pts), i + 1) + jitter, pts, s=6, alpha=0.35, color="#333333", zorder=3)
    ax.boxplot(series, showfliers=False, widths=0.55, medianprops={"color": "#C44E52", "linewidth": 2})
    ax.set_xticks(range(1, len(modes) + 1), labels)
    medians = [float(np.nanmedian(v)) for v in series if np.isfinite(v).any()]
    if medians and min(medians) > 0 and max(medians) / min(medians) > 10:
        # modes an order of magnitude apart (a VM engine beside runc): a linear axis
        # would flatten the fast ones into a line
        ax.set_yscale("log")
        log_axis(ax, "y")
    ax.set_ylabel(f"{phase} time (ms)" + (", log scale" if ax.get_yscale() == "log" else ""))
    ax.set_title(f"{phase}: distribution per mode{title_suffix}")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out_dir, f"distribution_{phase}")


def ecdf(frame: pd.DataFrame, out_dir: Path, metric: str = "startup") -> list[Path]:
    data = frame[(frame["phase"] == metric) & frame["ok"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in _modes(data):
        x = np.sort(data.loc[data["mode"] == m, "duration_ms"].to_numpy())
        if not len(x):
            continue
        q = np.linspace(0, 1, min(len(x), ECDF_POINTS))
        ax.step(np.quantile(x, q), q, where="post", label=f"{m} (n={len(x)})")
    ax.set_xlabel(f"{metric} time (ms)")
    ax.set_ylabel("fraction of cycles at or below")
    ax.set_title(f"{metric}: empirical CDF per mode")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out_dir, f"ecdf_{metric}")


def drift(frame: pd.DataFrame, out_dir: Path, metric: str = "startup") -> list[Path]:
    """Each successful sample against wall time: trends or steps show drift the shuffle spread evenly."""
    data = frame[(frame["phase"] == metric) & frame["ok"]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if len(data):
        t0 = data["wall_ns"].min()
        for i, m in enumerate(_modes(data)):
            g = data[data["mode"] == m]
            if len(g) > MAX_DRIFT_POINTS // 4:
                g = g.sample(MAX_DRIFT_POINTS // 4, random_state=i).sort_values("wall_ns")
            ax.scatter((g["wall_ns"] - t0) / 1e9, g["duration_ms"], s=6, alpha=0.5, label=m)
    ax.set_xlabel("seconds since the first sample")
    ax.set_ylabel(f"{metric} time (ms)")
    ax.set_title(f"{metric} over the run (drift)")
    ax.grid(alpha=0.3)
    ax.legend(markerscale=3)
    return _save(fig, out_dir, f"drift_{metric}")


def breakdown(summary: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Stacked median per phase, per mode: where a cycle's time goes."""
    s = summary[summary["phase"].isin(PHASES)]
    modes = sorted(map(str, s["mode"].unique()))
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.8 * len(modes) + 1.5)))
    left = np.zeros(len(modes))
    for ph in PHASES:
        vals = np.array([float(s.loc[(s["mode"] == m) & (s["phase"] == ph), "median"].fillna(0).sum()) for m in modes])
        ax.barh(modes, vals, left=left, color=PHASE_COLOURS[ph], label=ph)
        left += vals
    ax.set_xlabel("median time per phase (ms), stacked")
    ax.set_title("Where a cycle's time goes (medians)")
    ax.legend(ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.25), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out_dir, "breakdown")


def forest(
    table: pd.DataFrame, out_dir: Path, title: str, name: str = "forest", min_effect: Optional[float] = None
) -> list[Path]:
    """Ratios (new/old or slower/faster) with their 95% CIs, one row per comparison."""
    t = table.dropna(subset=["ratio"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.32 * len(t) + 1.5)))
    colours = {
        "slower": "#C44E52",
        "faster": "#55A868",
        "equivalent": "#4C72B0",
        "no change detected": "#8C8C8C",
        "inconclusive": "#999999",
        "supported": "#55A868",
        "contradicted": "#C44E52",
        "untestable": "#999999",
    }
    y = np.arange(len(t))[::-1]
    for yi, (_, r) in zip(y, t.iterrows()):
        c = colours.get(str(r.get("verdict")), "#333333")
        ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=c, linewidth=2)
        ax.plot([r["ratio"]], [yi], "o", color=c)
    ax.axvline(1.0, color="black", linewidth=1)
    if min_effect:
        ax.axvspan(1 / (1 + min_effect), 1 + min_effect, color="#4C72B0", alpha=0.08, label=f"±{min_effect:.0%} band")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, [f"{r['label']} [{r['verdict']}]" for _, r in t.iterrows()], fontsize=8)
    ax.set_xscale("log")
    log_axis(ax, "x")
    ax.set_xlabel("ratio of medians (log scale), 95% CI")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3, which="both")
    return _save(fig, out_dir, name)


def series(summary: pd.DataFrame, sets: list[str], out_dir: Path, metric: str = "startup") -> list[Path]:
    """Median (with CI) per mode across result sets, in the order given: a version series."""
    s = summary[summary["phase"] == metric]
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(sets) + 2), 4.5))
    x = np.arange(len(sets))
    for m in sorted(map(str, s["mode"].unique())):
        g = s[s["mode"] == m].set_index("set").reindex(sets)
        ax.errorbar(
            x, g["median"], yerr=[g["median"] - g["ci_low"], g["ci_high"] - g["median"]], marker="o", capsize=4, label=m
        )
    ax.set_xticks(x, [str(v)[:28] for v in sets], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"median {metric} (ms), 95% CI")
    ax.set_title(f"{metric} across result sets")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out_dir, "series_" + metric.replace(" ", "_").replace("=", "").replace("/", "_"))
