"""Figures of the scale scenarios (matplotlib, Agg; PNG and SVG beside the report).

Startup against burst size per mode (log-log, the median's CI as a band, p99 dashed), throughput
against burst size, density's probe startup and memory per container against containers
running, startup from the scheduled arrival against arrival rate with each mode's knee marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

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


def _by_mode(table: pd.DataFrame, x_column: str) -> Iterator[tuple[str, str, pd.DataFrame, np.ndarray]]:
    """Per mode, in name order: the mode, its colour (a mode keeps its colour in every figure of a
    set), its rows in x order and their x values."""
    modes = sorted(map(str, table["mode"].unique()))
    colour = _colours(modes)
    for m in modes:
        rows = table[table["mode"] == m].sort_values(x_column)
        yield m, colour[m], rows, rows[x_column].to_numpy(float)


def _with_band(
    ax: plt.Axes, x: np.ndarray, rows: pd.DataFrame, columns: tuple[str, str, str], colour: str, label: str
) -> None:
    """A median line and, as a band, its 95% CI: ``columns`` are (median, low, high)."""
    median, low, high = columns
    ax.plot(x, rows[median], "o-", color=colour, label=label)
    ax.fill_between(x, rows[low], rows[high], color=colour, alpha=0.2, linewidth=0)


def _p50_band_p99(ax: plt.Axes, x: np.ndarray, rows: pd.DataFrame, mode: str, colour: str, p50_label: str) -> None:
    """The p50 with its CI band, and the p99 dashed in the same colour."""
    _with_band(ax, x, rows, ("p50", "p50_low", "p50_high"), colour, p50_label)
    ax.plot(x, rows["p99"], "--", color=colour, alpha=0.7, label=f"{mode} p99")


def _finish_log_axes(ax: plt.Axes, levels: pd.Series, log_y: bool, xlabel: str, ylabel: str, title: str) -> None:
    """Log x over the levels run (their values the ticks), log y if asked, labels, grid and legend.
    Called after the data are drawn: log_axis picks its ticks from the limits the data set."""
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    log_axis(ax, "x")
    if log_y:
        log_axis(ax, "y")
    _level_ticks(ax, levels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def startup_vs_n(table: pd.DataFrame, out_dir: Path, name: str = "scale_startup_vs_n") -> list[Path]:
    """Median startup per burst size with its 95% CI band, p99 dashed; log-log."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, colour, rows, x in _by_mode(table, "level"):
        _p50_band_p99(ax, x, rows, m, colour, f"{m} ({rows['role'].iloc[0]}) p50")
    _finish_log_axes(
        ax,
        table["level"],
        log_y=True,
        xlabel="containers started at once (N)",
        ylabel="startup per container (ms): create + start + ready",
        title="Startup under concurrent starts (band: 95% CI of the median)",
    )
    return _save(fig, out_dir, name)


def throughput_vs_n(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Containers ready per second of a burst's makespan, per burst size."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, colour, rows, x in _by_mode(table, "level"):
        _with_band(ax, x, rows, ("throughput_per_s", "throughput_low", "throughput_high"), colour, m)
    _finish_log_axes(
        ax,
        table["level"],
        log_y=False,
        xlabel="containers started at once (N)",
        ylabel="throughput: N / median makespan (containers/s)",
        title="Burst throughput (band: from the makespan's 95% CI)",
    )
    return _save(fig, out_dir, "scale_throughput_vs_n")


def density(table: pd.DataFrame, out_dir: Path, slo_ms: Optional[float] = None) -> list[Path]:
    """Two panels against containers running: the probes' median startup, and memory per container."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for m, colour, rows, x in _by_mode(table, "running"):
        _with_band(top, x, rows, ("probe_p50_ms", "probe_p50_low", "probe_p50_high"), colour, m)
        bottom.plot(x, rows["pss_per_container_mib"], "o-", color=colour, label=f"{m}: runtime PSS")
        bottom.plot(
            x, rows["mem_drop_per_container_mib"], "s--", color=colour, alpha=0.7, label=f"{m}: MemAvailable drop"
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
    for m, colour, rows, x in _by_mode(table, "rate"):
        _p50_band_p99(ax, x, rows, m, colour, f"{m} p50")
        knee = knees.get(m)
        if knee is not None:
            y = float(rows.loc[np.isclose(rows["rate"], knee), "p99"].iloc[0])
            ax.plot([knee], [y], "X", color=colour, markersize=12, label=f"{m} knee: {knee:g}/s")
    ax.axhline(slo_ms, color="#C44E52", linewidth=1, label=f"SLO {slo_ms / 1000:g} s")
    _finish_log_axes(
        ax,
        table["rate"],
        log_y=True,
        xlabel="arrival rate (starts/s, open loop)",
        ylabel="startup from the scheduled arrival (ms)",
        title="Latency against arrival rate (X: the knee)",
    )
    return _save(fig, out_dir, "scale_rate")
