"""The answer printed at the end of every `bench run`: per-mode startup and the claim verdict.

The same figures as `report` prints (same loader, statistics and claim rule), but
nothing is written: the full report stays one command away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
from rich.console import Console

from analysis import cost_report
from analysis.claims import check_all, load_claims
from analysis.load import load
from analysis.metrics import measured, outside_warmup, with_derived
from analysis.report import _console, concurrency_note, print_summary, report_parts, summarize_cold, summarize_set
from analysis.scenarios.base import PartInput
from bench.core.phases import COLD_DERIVED, DERIVED


def print_run_summary(path: Path, console: Optional[Console] = None) -> None:
    console = console or _console()
    loaded = load([Path(path)])
    name = next(iter(loaded.headers))
    every = with_derived(loaded.frame[loaded.frame["set"] == name])
    summary = summarize_set(measured(every))
    startup_rows = summary[summary["phase"].isin(list(DERIVED))] if not summary.empty else summary
    cold_summary = summarize_cold(every, loaded.headers[name])
    if not cold_summary.empty:
        cold_summary = cold_summary[cold_summary["phase"].isin(list(COLD_DERIVED) + ["engine_up"])]
    costs = loaded.costs[loaded.costs["set"] == name]
    results = check_all(outside_warmup(every), load_claims(), loaded.headers[name].skipped, costs)
    print_summary(
        pd.DataFrame(startup_rows),
        results,
        console=console,
        title=f"{Path(path).name}: startup (ms, successes only)",
        cold_summary=cold_summary,
    )
    for part in report_parts(PartInput(every, loaded.headers[name], Path(path), None, False)):
        part.print(console, brief=True)
    cost_report.print_costs(costs, console)
    note = concurrency_note(loaded.headers[name], loaded.ends.get(name))
    if note:
        console.print(note, markup=False, highlight=False)
    console.print(f"full report (every phase, figures): isobench report {path}", markup=False, highlight=False)
