"""The scale part of a report: burst, rate and density tables, the knees, the density stops, and
their figures (analysis.scale, analysis.scale_plots): for the terminal, and as report content
(analysis.export) for report.md and index.html."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis import scale, scale_plots
from analysis.export.content import Notes, Section, plain
from analysis.scenarios.base import PartInput
from analysis.tables import table_of
from bench.core.scale import ScaleSettings
from bench.results.records import Header

BURST_COLUMNS = ["mode", "role", "level", "n", "failures", "groups", "p50", "p50_low", "p50_high", "p90",
                 "p99", "p99_flag", "slowdown", "slowdown_low", "slowdown_high", "makespan_ms",
                 "throughput_per_s"]  # fmt: skip
RATE_COLUMNS = ["mode", "rate", "realised_rate", "arrivals", "n", "failures", "p50", "p50_low", "p50_high", "p99",
                "p99_flag", "in_flight_at_end", "backlog_limit", "behind", "over_slo"]  # fmt: skip
DENSITY_COLUMNS = ["mode", "running", "step_ok", "step_ms", "probes", "probe_p50_ms", "mem_available_gib",
                   "mem_drop_per_container_mib", "pss_per_container_mib", "error"]  # fmt: skip


@dataclass
class ScaleSection:
    burst: pd.DataFrame = field(default_factory=pd.DataFrame)
    rate: pd.DataFrame = field(default_factory=pd.DataFrame)
    density: pd.DataFrame = field(default_factory=pd.DataFrame)
    knees: dict[str, Optional[float]] = field(default_factory=dict)
    stops: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    slo_s: float = 5.0

    @property
    def empty(self) -> bool:
        return self.burst.empty and self.rate.empty and self.density.empty and not self.stops

    @property
    def headline_figure(self) -> Optional[Path]:
        return next((f for f in self.figures if f.name == "scale_startup_vs_n.png"), None)

    def sections(self) -> list[Section]:
        return sections(self)

    def print(self, console: Console, brief: bool = False) -> None:
        print_scale(self, console)

    def notes(self) -> list[str]:
        out = []
        for mode, knee in sorted(self.knees.items()):
            out.append(
                f"{mode}: knee at {knee:g} starts/s (p99 over the {self.slo_s:g} s SLO, or completions behind arrivals)"
                if knee is not None
                else f"{mode}: no knee up to the highest rate tried"
            )
        for mode, st in sorted(self.stops.items()):
            left = f"; LEFT ON THE ENGINE: {', '.join(st['left'])}" if st["left"] else "; nothing left on the engine"
            out.append(f"{mode}: density stopped: {st['stop_reason']} ({st['removed']} removed{left})")
        return out


def build(every: pd.DataFrame, header: Header, path: Path, out_dir: Optional[Path], figures: bool) -> ScaleSection:
    """``every``: one set's samples with derived metrics (all scenarios). With no ``out_dir``
    nothing is written (the end-of-run summary)."""
    rows = scale.scale_rows(every)
    if rows.empty:
        return ScaleSection()
    settings = ScaleSettings.from_record(header.config.get("scale"))
    groups = scale.group_records(path)
    sec = ScaleSection(slo_s=settings.slo_s)
    sec.burst = scale.burst_table(every)
    sec.rate = scale.rate_table(every, groups, settings.slo_s, settings.rate_duration_s)
    sec.knees = scale.knees(sec.rate)
    sec.density = scale.density_table(every, groups)
    sec.stops = scale.density_stops(groups)
    if out_dir is None:
        return sec
    if figures:
        if not sec.burst.empty:
            sec.figures += scale_plots.startup_vs_n(sec.burst, out_dir)
            sec.figures += scale_plots.throughput_vs_n(sec.burst, out_dir)
        if not sec.density.empty:
            sec.figures += scale_plots.density(sec.density, out_dir, settings.slo_s * 1000)
        if not sec.rate.empty:
            sec.figures += scale_plots.rate(sec.rate, sec.knees, out_dir, settings.slo_s * 1000)
    for name, table in (("burst", sec.burst), ("rate", sec.rate), ("density", sec.density)):
        if not table.empty:
            table.to_csv(out_dir / f"scale_{name}.csv", index=False)
    return sec


def part(inp: PartInput) -> ScaleSection:
    """The scale scenarios' report part (analysis.scenarios: burst, rate and density share it)."""
    return build(inp.every, inp.header, inp.path, inp.out_dir, inp.figures)


def sections(sec: ScaleSection) -> list[Section]:
    """The report's scale part, in the order shown: a section per table the set has, then the knees and
    the density stops as notes."""
    titled = [
        ("Bursts: startup per container (ms) by burst size N; slowdown p50(N)/p50(1); throughput N/makespan",
         sec.burst, BURST_COLUMNS),
        ("Open-loop arrival rates: startup from the scheduled arrival (ms)", sec.rate, RATE_COLUMNS),
        ("Density: probe startup and memory per container as containers accumulate", sec.density, DENSITY_COLUMNS),
    ]  # fmt: skip
    out = [Section(title, (table_of(table[columns]),)) for title, table, columns in titled if not table.empty]
    notes = sec.notes()
    return out + ([Section(None, (Notes(tuple(plain(n) for n in notes)),))] if notes else [])


def _f(v: Any, digits: int = 0) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def print_scale(sec: ScaleSection, console: Console) -> None:
    """The terminal's share: bursts by size and density by step, compactly; knees and stops as lines."""
    if not sec.burst.empty:
        t = Table(title="bursts: startup per container (ms, successes; CIs resample whole bursts)")
        for col in ("mode", "N", "n", "failed", "p50", "95% CI", "p99", "slowdown", "throughput/s"):
            t.add_column(col, justify="left" if col == "mode" else "right")
        for _, r in sec.burst.iterrows():
            t.add_row(
                str(r["mode"]), str(r["level"]), str(r["n"]), str(r["failures"]), _f(r["p50"]),
                f"{_f(r['p50_low'])}-{_f(r['p50_high'])}", _f(r["p99"]) + ("*" if r["p99_flag"] else ""),
                f"x{_f(r['slowdown'], 2)}", _f(r["throughput_per_s"], 2),
            )  # fmt: skip
        console.print(t)
        console.print("* p99 of fewer than 100 startups: near the maximum", markup=False, highlight=False)
    if not sec.density.empty:
        t = Table(title="density: per step (memory per container in MiB)")
        for col in ("mode", "running", "probe p50 ms", "runtime PSS", "MemAvailable drop", "free GiB"):
            t.add_column(col, justify="left" if col == "mode" else "right")
        for _, r in sec.density.iterrows():
            t.add_row(
                str(r["mode"]), str(r["running"]), _f(r["probe_p50_ms"]), _f(r["pss_per_container_mib"], 1),
                _f(r["mem_drop_per_container_mib"], 1), _f(r["mem_available_gib"], 2),
            )  # fmt: skip
        console.print(t)
    for line in sec.notes():
        console.print(line, markup=False, highlight=False)
