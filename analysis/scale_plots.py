"""Figures of the scale scenarios (matplotlib, Agg; PNG and SVG beside the report).

Startup against burst size per mode (log-log, the median's CI as a band, p99 dashed), throughput
against burst size, density's probe startup and memory per container against containers
running, startup from the scheduled arrival against arrival rate with each mode's knee marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator

from analysis.plots import _save, log_axis, plt


def _level_ticks(ax: plt.Axes, levels: pd.Series) -> None:
    """The levels run (1, 2, 4, 8, 16; the rates tried) as the x axis's labelled ticks."""
    ax.xaxis.set_major_locator(FixedLocator(sorted({float(v) for v in levels})))


def _colours(modes: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(modes)}


def startup_vs_n(table: pd.DataFrame, out_dir: Path, name: str = "scale_startup_vs_n") -> list[Path]:
    """Median startup per burst size with its 95% CI band, p99 dashed; log-log."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    modes = sorted(map(str, table["mode"].unique()))
    colour = _colours(modes)
    for m in modes:
        g = table[table["mode"] == m].sort_values("level")
        x = g["level"].to_numpy(float)
        ax.plot(x, g["p50"], "o-", color=colour[m], label=f"{m} ({g['role'].iloc[0]}) p50")
        ax.fill_between(x, g["p50_low"], g["p50_high"], color=colour[m], alpha=0.2, linewidth=0)
        ax.plot(x, g["p99"], "--", color=colour[m], alpha=0.7, label=f"{m} p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_axis(ax, "x")
    log_axis(ax, "y")
    _level_ticks(ax, table["level"])
    ax.set_xlabel("containers started at once (N)")
    ax.set_ylabel("startup per container (ms): create + start + ready")
    ax.set_title("Startup under concurrent starts (band: 95% CI of the median)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def throughput_vs_n(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Containers ready per second of a burst's makespan, per burst size."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    modes = sorted(map(str, table["mode"].unique()))
    colour = _colours(modes)
    for m in modes:
        g = table[table["mode"] == m].sort_values("level")
        x = g["level"].to_numpy(float)
        ax.plot(x, g["throughput_per_s"], "o-", color=colour[m], label=m)
        ax.fill_between(x, g["throughput_low"], g["throughput_high"], color=colour[m], alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    log_axis(ax, "x")
    _level_ticks(ax, table["level"])
    ax.set_xlabel("containers started at once (N)")
    ax.set_ylabel("throughput: N / median makespan (containers/s)")
    ax.set_title("Burst throughput (band: from the makespan's 95% CI)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "scale_throughput_vs_n")


def density(table: pd.DataFrame, out_dir: Path, slo_ms: Optional[float] = None) -> list[Path]:
    """Two panels against containers running: the probes' median startup, and memory per container."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    modes = sorted(map(str, table["mode"].unique()))
    colour = _colours(modes)
    for m in modes:
        g = table[table["mode"] == m].sort_values("running")
        x = g["running"].to_numpy(float)
        top.plot(x, g["probe_p50_ms"], "o-", color=colour[m], label=m)
        top.fill_between(x, g["probe_p50_low"], g["probe_p50_high"], color=colour[m], alpha=0.2, linewidth=0)
        bottom.plot(x, g["pss_per_container_mib"], "o-", color=colour[m], label=f"{m}: runtime PSS")
        bottom.plot(
            x, g["mem_drop_per_container_mib"], "s--", color=colour[m], alpha=0.7, label=f"{m}: MemAvailable drop"
        )
    highest = float(np.nanmax(table[["probe_p50_ms", "probe_p50_high"]].to_numpy(float))) if len(table) else 0.0
    if slo_ms and slo_ms <= 3 * highest:
        top.axhline(slo_ms, color="#C44E52", linewidth=1, label=f"SLO {slo_ms / 1000:g} s")
    elif slo_ms:  # far above the data: a line there would flatten them
        top.plot([], [], " ", label=f"SLO {slo_ms / 1000:g} s: far above")
    top.set_ylabel("probe startup, median (ms)")
    top.set_title("Density: probe startup and memory per container as containers accumulate")
    bottom.set_ylabel("memory per container (MiB)")
    bottom.set_xlabel("idle containers running")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, out_dir, "scale_density")


def rate(table: pd.DataFrame, knees: dict[str, Optional[float]], out_dir: Path, slo_ms: float) -> list[Path]:
    """Startup from the scheduled arrival (p50, p99 dashed) against the arrival rate; knees marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    modes = sorted(map(str, table["mode"].unique()))
    colour = _colours(modes)
    for m in modes:
        g = table[table["mode"] == m].sort_values("rate")
        x = g["rate"].to_numpy(float)
        ax.plot(x, g["p50"], "o-", color=colour[m], label=f"{m} p50")
        ax.fill_between(x, g["p50_low"], g["p50_high"], color=colour[m], alpha=0.2, linewidth=0)
        ax.plot(x, g["p99"], "--", color=colour[m], alpha=0.7, label=f"{m} p99")
        knee = knees.get(m)
        if knee is not None:
            y = float(g.loc[np.isclose(g["rate"], knee), "p99"].iloc[0])
            ax.plot([knee], [y], "X", color=colour[m], markersize=12, label=f"{m} knee: {knee:g}/s")
    ax.axhline(slo_ms, color="#C44E52", linewidth=1, label=f"SLO {slo_ms / 1000:g} s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_axis(ax, "x")
    log_axis(ax, "y")
    _level_ticks(ax, table["rate"])
    ax.set_xlabel("arrival rate (starts/s, open loop)")
    ax.set_ylabel("startup from the scheduled arrival (ms)")
    ax.set_title("Latency against arrival rate (X: the knee)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "scale_rate")
