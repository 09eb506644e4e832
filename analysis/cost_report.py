"""The report's costs part (issue 23): CPU per start with CIs, one waterfall figure per mode, where each
mode's extra start time over the native one goes, and the harness's footprint. Built once as content
(analysis.export), and a few lines for the terminal."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from rich.console import Console

from analysis import cost, cost_plots
from analysis.cost import CostSection
from analysis.export.content import Figure, Figures, Notes, Section, plain
from analysis.tables import table_of
from bench.core.costs import CPU_ENGINE, STEPS
from bench.core.paths import safe_name
from bench.results.records import Header

TITLE = "CPU per start, and where a start's time goes (the engine's own side)"


def build(
    frame: pd.DataFrame, costs: pd.DataFrame, header: Header, out_dir: Optional[Path], with_figures: bool
) -> CostSection:
    """``frame``: every sample of the set (the harness's start and ready); ``costs``: its cost table."""
    data, warm_costs = cost.warm(frame), cost.warm(costs)
    cpu, steps = cost.cpu_table(warm_costs), cost.waterfall_table(warm_costs)
    native = cost.native_mode(warm_costs)
    extra = cost.extra_table(warm_costs, native) if native and not steps.empty else pd.DataFrame()
    bursts = cost.burst_shares(costs)
    if cpu.empty and steps.empty and bursts.empty:
        return CostSection()
    figures: list[Path] = []
    if with_figures and out_dir is not None:
        for mode, name in figure_names(list(steps["mode"].unique()) if not steps.empty else []).items():
            start, ready = (float(data.loc[(data["mode"] == mode) & (data["phase"] == p) & data["ok"],
                                           "duration_ms"].median()) for p in ("start", "ready"))  # fmt: skip
            figures += cost_plots.waterfall(cost.step_matrix(warm_costs, mode), start, ready, mode, out_dir, name)
    notes = _method_notes(header) + _finding_notes(data, warm_costs, cpu, steps, extra, native)
    return CostSection(cpu, steps, extra, bursts, tuple(f for f in figures if f.suffix == ".png"), tuple(notes))


def figure_names(modes: list[Any]) -> dict[str, str]:
    """Each mode's waterfall file name (without suffix): a mode's name is the user's text, so it goes
    through safe_name, as a host's does; two modes that come out alike are told apart by a number."""
    names: dict[str, str] = {}
    for mode in map(str, modes):
        name, i = f"waterfall_{safe_name(mode)}", 2
        while name in names.values():
            name, i = f"waterfall_{safe_name(mode)}-{i}", i + 1
        names[mode] = name
    return names


def _method_notes(header: Header) -> list[str]:
    """How each figure was had (the header's harness.cost), and per mode what could not be."""
    rec = header.harness.get("cost") or {}
    notes = []
    for mode, sources in (rec.get("modes") or {}).items():
        for source, how in sources.items():
            if how.get("unavailable"):
                notes.append(f"{mode}: no {cost.SOURCES.get(source, source)} CPU: {how['unavailable']}")
            elif source == CPU_ENGINE:
                notes.append(f"{mode}: engine stack CPU: {how.get('method')} ({how.get('counter')})")
    wf = rec.get("waterfall") or {}
    if wf.get("unavailable"):
        notes.append(f"no waterfall: {wf['unavailable']}")
    elif wf:
        notes.append(f"waterfall: {wf.get('source')}, on {wf.get('clock')}")
    if wf.get("containerd_task_events"):
        notes.append(f"containerd's task events: {wf['containerd_task_events']}")
    if rec:
        notes.append(f"every CPU figure covers {rec.get('window')}; a figure that could not be read is absent, never 0")
    return notes


def _finding_notes(
    frame: pd.DataFrame,
    costs: pd.DataFrame,
    cpu: pd.DataFrame,
    steps: pd.DataFrame,
    extra: pd.DataFrame,
    native: Optional[str],
) -> list[str]:
    out = []
    for _, r in cpu[cpu["source"] == "engine stack"].iterrows() if not cpu.empty else ():
        out.append(f"{r['mode']}: engine stack CPU per start {r['median_ms']:.1f} ms "
                   f"(95% CI {r['ci_low']:.1f}-{r['ci_high']:.1f}, n = {r['n']})")  # fmt: skip
    for _, r in steps[steps["step"] == "start + ready (median)"].iterrows() if not steps.empty else ():
        summed = steps[(steps["mode"] == r["mode"]) & (steps["step"] == "sum of the steps' medians")]
        s = float(summed["median_ms"].iloc[0])
        verdict = "within" if r.get("within_5pct") else "NOT within"
        out.append(f"{r['mode']}: the steps' medians sum to {s:.1f} ms against start + ready's median "
                   f"{r['median_ms']:.1f} ms ({(s / r['median_ms'] - 1) * 100:+.1f}%: {verdict} 5%; each cycle's "
                   "steps sum to its start + ready exactly: a gap is skew: medians do not add)")  # fmt: skip
        share, lead = cost.clock_check(costs, frame, str(r["mode"]))
        if share == share:
            out.append(f"{r['mode']}: clocks agree: the runtime's start exited before the harness saw the start call "
                       f"return in {share:.0%} of cycles, a median {lead:.1f} ms before it")  # fmt: skip
    for mode in extra["mode"].unique() if not extra.empty else ():
        top = cost.largest_extra(extra, str(mode))
        total = extra[(extra["mode"] == mode) & (extra["step"] == "total")]
        if top is not None and not total.empty:
            t = total.iloc[0]
            out.append(f"{mode}'s start + ready is {t['extra_ms']:+.1f} ms over {native}'s; the largest part: "
                       f"{top['step']} ({_what(top['step'])}), {top['extra_ms']:+.1f} ms "
                       f"(95% CI {top['ci_low']:+.1f} to {top['ci_high']:+.1f}), "
                       f"{top['share_of_extra']:.0%} of it")  # fmt: skip
    return out


def _what(step: str) -> str:
    return next((what for s, _, what in STEPS if s == step), step)


def sections(sec: CostSection) -> list[Section]:
    if sec.empty:
        return []
    blocks: list[Any] = [Notes(tuple(plain(n) for n in sec.notes))]
    for table in (sec.cpu, sec.steps, sec.extra, sec.bursts):
        if not table.empty:
            blocks.append(table_of(table))
    if sec.figures:
        blocks.append(Figures(tuple(Figure(f, f.stem) for f in sec.figures)))
    return [Section(TITLE, tuple(blocks))]


def print_costs(costs: pd.DataFrame, console: Console) -> None:
    """The terminal's share: engine CPU per start per mode, and at N = 16 the harness's CPU share."""
    cpu = cost.cpu_table(cost.warm(costs))
    for _, r in cpu[cpu["source"] == "engine stack"].iterrows() if not cpu.empty else ():
        console.print(f"{r['mode']}: engine stack CPU per start {r['median_ms']:.1f} ms (95% CI "
                      f"{r['ci_low']:.1f}-{r['ci_high']:.1f})", markup=False, highlight=False)  # fmt: skip
    bursts = cost.burst_shares(costs)
    for _, r in bursts.iterrows():
        if r["N"] == 16 and not math.isnan(r["share"]):
            console.print(f"{r['mode']}: harness CPU share at N=16: {r['share'] * 100:.1f}%", markup=False,
                          highlight=False)  # fmt: skip
