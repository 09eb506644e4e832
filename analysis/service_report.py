"""The service scenario's part of a report: the ClusterLoader2-style table (analysis.service), the
per-node table, the timeline and CDF figures (analysis.service_plots), and what the numbers rest
on (poll interval, clock offsets, how each first line was read). Empty for a set without services.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis import service, service_plots
from analysis.export.content import Notes, Section, plain
from analysis.scenarios.base import PartInput
from analysis.tables import cell_text, table_of
from bench.core.phases import TASK_METRICS

TITLE = "Swarm service startup (ClusterLoader2's pod-startup metrics, per task; ms)"
SHOWN = ("create_to_schedule", "schedule_to_run", "run_to_ready", "service_startup", "makespan")
# Decimals in the service tables' cells (the warm, cold and scale tables show two).
CELL_DIGITS = 1


@dataclass
class ServiceSection:
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    nodes: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.table.empty

    @property
    def headline_figure(self) -> Optional[Path]:
        return next((f for f in self.figures if f.name == "service_startup_cdf.png"), None)

    def print(self, console: Console, brief: bool = False) -> None:
        """``brief``: the end-of-run summary's share, the task metrics only."""
        print_section(self, console, TASK_METRICS if brief else SHOWN)

    def sections(self) -> list[Section]:
        """The report's service part: the CL2 table under what it rests on, then the per-node table."""
        if self.empty:
            return []
        notes = Notes(tuple(plain(n) for n in self.notes))
        return [
            Section(TITLE, (notes, table_of(display(self.table), CELL_DIGITS))),
            Section("Per node", (table_of(self.nodes, CELL_DIGITS),), level=3),
        ]


def _ms(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f}"


def _with_ci(r: Any, name: str) -> str:
    return f"{_ms(r[name])} [{_ms(r[f'{name}_low'])}, {_ms(r[f'{name}_high'])}]"


def display(table: pd.DataFrame, metrics: tuple[str, ...] = SHOWN) -> pd.DataFrame:
    """The CL2 table as shown: p50/p90/p99 with their 95% CIs ('-': a bound the data cannot give),
    the p99 flagged from fewer than 100 values, the SLO mark on service_startup."""
    rows = []
    for _, r in table[table["metric"].isin(metrics)].iterrows():
        rows.append(
            {
                "mode": r["mode"],
                "role": r["role"],
                "N": r["N"],
                "metric": r["metric"],
                "n": int(r["n"]),
                "failed": f"{int(r['failures'])} ({r['failure_rate']:.0%})" if r["failures"] else "0",
                "p50 [95% CI]": _with_ci(r, "p50"),
                "p90 [95% CI]": _with_ci(r, "p90"),
                "p99 [95% CI]": _with_ci(r, "p99") + (f" ({r['p99_flag']})" if r["p99_flag"] else ""),
                "SLO p99<=5s": r["slo"],
            }
        )
    return pd.DataFrame(rows)


def _cell(v: Any) -> str:
    return cell_text(v, CELL_DIGITS)


def notes(data: service.ServiceData) -> list[str]:
    """What the numbers rest on, one sentence each."""
    rec = data.header.service or {}
    settings = rec.get("settings") or {}
    out = [
        f"tasks polled every {settings.get('poll_s', '?')} s (GET /tasks on the manager); each state's time is the "
        "task's own Status.Timestamp, corrected by the stamping node's clock offset; ready = the first line read "
        "on the task's node and swarm reporting it running (run_to_ready is 0 where the line came first)",
        f"services started by {settings.get('start', 'create')}; SLO: p99 of service_startup <= "
        f"{data.slo_ms / 1000:g} s, marked met only when a one-sided 95% upper bound of the p99 is within it "
        f"(at least {service.min_n_for_slo()} tasks); a p99 from fewer than {service.P99_MIN_N} values is flagged",
        "tasks of one service share its create and nodes: the intervals describe these tasks, not independent "
        "draws; the claim compares services (per round, each mode's median task), paired by round",
    ]
    offsets = []
    for m in (rec.get("modes") or {}).values():
        for o in (m.get("clock_offsets") or {}).values():
            if "offset_ns" in o:
                offsets.append(
                    f"{o['name']} {o['offset_ns'] / 1e6:+.1f}±{o['uncertainty_ns'] / 1e6:.1f} ms "
                    f"(applied {o.get('applied_ns', o['offset_ns']) / 1e6:+.1f})"
                )
        break  # every mode sees the same nodes; one mode's view is enough
    if offsets:
        out.append("clock offsets of the nodes against the harness (GET /info): " + ", ".join(offsets))
    runtimes = [
        f"{o['name']} {o['default_runtime']}"
        for m in (rec.get("modes") or {}).values()
        for o in (m.get("clock_offsets") or {}).values()
        if o.get("default_runtime")
    ]
    if runtimes:  # the preflight's trial container ran on the manager: the tasks ran under their nodes' runtimes
        out.append("nodes' default runtimes (what runs their tasks): " + ", ".join(sorted(set(runtimes))))
    startup = data.measured[data.measured["phase"] == "service_startup"]
    via = Counter(str((d or {}).get("line_via") or "not read") for d in startup["detail"])
    if via:
        out.append("first lines read: " + ", ".join(f"{k} {v}" for k, v in sorted(via.items())))
    return out


def part(inp: PartInput) -> ServiceSection:
    """The service scenario's report part (analysis.scenarios.service). It reads the set again (task
    details the frame does not hold), so only a set with service samples pays for it."""
    return build(inp.path, inp.out_dir, inp.figures)


def build(path: Path, out_dir: Optional[Path] = None, with_figures: bool = True) -> ServiceSection:
    """The section for a set (empty without services); with ``out_dir``, its tables as CSV
    (service_cl2.csv, service_nodes.csv) and, ``with_figures``, the timeline and the CDF there."""
    data = service.load_service(path)
    if data is None or data.measured.empty:
        return ServiceSection()
    sec = ServiceSection(service.cl2_table(data), service.node_table(data), [], notes(data))
    if out_dir is not None:
        sec.table.to_csv(out_dir / "service_cl2.csv", index=False)
        sec.nodes.to_csv(out_dir / "service_nodes.csv", index=False)
        if with_figures:
            sec.figures = service_plots.timeline(data, out_dir) + service_plots.cdf(data, out_dir)
    return sec


def print_section(sec: ServiceSection, console: Optional[Console] = None, metrics: tuple[str, ...] = SHOWN) -> None:
    """The CL2 table in the terminal."""
    if sec.empty:
        return
    console = console or Console(width=160)
    shown = display(sec.table, metrics)
    t = Table(title=TITLE)
    for col in shown.columns:
        t.add_column(str(col), justify="left" if col in ("mode", "role", "metric", "SLO p99<=5s") else "right")
    for _, r in shown.iterrows():
        t.add_row(*(_cell(r[c]) for c in shown.columns))
    console.print(t)
