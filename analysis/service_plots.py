"""The service scenario's figures (matplotlib, Agg; PNG and SVG, axes in ms):

* ``timeline``: one service per mode (the largest N, the run of median makespan among them), one
  row per task, coloured segments from create to ready: create -> assigned, assigned -> starting,
  starting -> running, running -> ready; the first line read marked on each row;
* ``cdf``: the ECDF of service_startup per mode (one line per N, and all N), the SLO and p99 marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from analysis.plots import _save, log_axis, plt
from analysis.service import ServiceData

SEGMENTS = (
    ("create -> assigned", "create_ns", "assigned_ns", "#4C72B0"),
    ("assigned -> starting", "assigned_ns", "starting_ns", "#DD8452"),
    ("starting -> running", "starting_ns", "running_ns", "#55A868"),
    ("running -> ready", "running_ns", "ready_ns", "#C44E52"),
)
MODE_COLOURS = ("#4C72B0", "#C44E52", "#55A868", "#8172B3", "#DD8452", "#937860")
N_STYLES = ("-", "--", ":", "-.")


def _pick(data: ServiceData, mode: str) -> Optional[pd.DataFrame]:
    """The service a mode's timeline shows: of its measured services at the largest N with every task
    ready, the one whose makespan is the median; its tasks' service_startup rows."""
    rows = data.measured[data.measured["mode"] == mode]
    spans = rows[(rows["phase"] == "makespan") & rows["ok"]]
    if spans.empty:
        spans = rows[rows["phase"] == "makespan"]
    if spans.empty:
        return None
    top = spans[spans["level"] == spans["level"].max()].sort_values("duration_ms", na_position="last")
    service = top.iloc[(len(top) - 1) // 2]["service"]
    tasks = rows[(rows["service"] == service) & (rows["phase"] == "service_startup")]
    return tasks.sort_values(["slot", "task"], na_position="last")


def _marks(d: dict[str, Any]) -> dict[str, Optional[float]]:
    """A task's marks in ms after its service's create (starting: the first of starting/running seen)."""
    create = d.get("create_ns")
    states = d.get("states") or {}

    def rel(ns: Optional[int]) -> Optional[float]:
        return None if ns is None or create is None else (ns - create) / 1e6

    starting = next(
        (states[s]["at_ns"] for s in ("starting", "ready", "preparing") if (states.get(s) or {}).get("at_ns")), None
    )
    return {
        "create_ns": 0.0,
        "assigned_ns": rel(d.get("assigned_ns")),
        "starting_ns": rel(starting),
        "running_ns": rel(d.get("running_ns")),
        "ready_ns": rel(d.get("ready_ns")),
        "line_ns": rel(d.get("line_ns")),
    }


def _draw_service(ax: Any, tasks: pd.DataFrame, mode: str) -> None:
    labels = []
    for i, (_, t) in enumerate(tasks.iterrows()):
        m = _marks(t["detail"])
        for label, start, end, colour in SEGMENTS:
            a, b = m.get(start), m.get(end)
            if a is None and start == "starting_ns":
                a = m.get("assigned_ns")
            if a is not None and b is not None and b >= a:
                ax.barh(i, b - a, left=a, color=colour, height=0.6, label=label if i == 0 else None)
        if m["line_ns"] is not None:
            ax.plot(
                [m["line_ns"]],
                [i],
                marker="|",
                color="black",
                markersize=10,
                label="first line read" if i == 0 else None,
            )
        if not t["ok"]:
            ax.text(0, i, f"  {t['error']}", va="center", fontsize=7, color="#C44E52")
        slot = "?" if pd.isna(t["slot"]) else int(t["slot"])
        labels.append(f"slot {slot} {t['node'] or '?'}")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    first = tasks.iloc[0]
    ax.set_title(f"{mode}: service {first['service']} (N={int(first['level'])}, round {first['round']})", fontsize=9)


def timeline(data: ServiceData, out_dir: Path) -> list[Path]:
    modes = sorted(data.measured["mode"].unique())
    picked = [(m, t) for m in modes if (t := _pick(data, m)) is not None and len(t)]
    if not picked:
        return []
    heights = [max(1.5, 0.3 * len(t) + 0.8) for _, t in picked]
    fig, axes = plt.subplots(len(picked), 1, figsize=(9, sum(heights) + 0.8), sharex=True, squeeze=False)
    for ax, (mode, tasks) in zip(axes[:, 0], picked):
        _draw_service(ax, tasks, mode)
    axes[-1, 0].set_xlabel("ms after the service's create request")
    axes[-1, 0].set_xlim(left=0)
    axes[-1, 0].margins(x=0.03)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Per-task state timeline (task states as swarm stamped them, on the harness clock)", fontsize=10)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    return _save(fig, out_dir, "service_timeline")


def cdf(data: ServiceData, out_dir: Path) -> list[Path]:
    startup = data.measured[(data.measured["phase"] == "service_startup") & data.measured["ok"]]
    if startup.empty:
        return []
    fig, ax = plt.subplots(figsize=(8, 4.8))
    levels = sorted(startup["level"].dropna().unique())
    for i, (mode, g) in enumerate(startup.groupby("mode", sort=True)):
        colour = MODE_COLOURS[i % len(MODE_COLOURS)]
        for j, level in enumerate(levels):
            x = np.sort(g.loc[g["level"] == level, "duration_ms"].to_numpy(float))
            if not len(x):
                continue
            y = np.arange(0, len(x) + 1) / len(x)
            style = N_STYLES[j % len(N_STYLES)]
            label = f"{mode} N={int(level)} (n={len(x)})"
            ax.step(np.concatenate([x[:1], x]), y, where="post", color=colour, linestyle=style, label=label)
    lo = float(startup["duration_ms"].min()) * 0.8
    ax.set_xscale("log")
    ax.set_xlim(lo, max(float(startup["duration_ms"].max()), data.slo_ms) * 1.25)
    log_axis(ax, "x")
    ax.axvline(data.slo_ms, color="black", linestyle="--", linewidth=1)
    ax.text(data.slo_ms, 1.02, f"SLO {data.slo_ms / 1000:g} s", fontsize=8, ha="center")
    ax.axhline(0.99, color="grey", linestyle=":", linewidth=1)
    ax.text(lo, 0.965, " p99", fontsize=7, color="grey")
    ax.set_xlabel("service_startup (ms): create to the task's first line and running")
    ax.set_ylabel("fraction of tasks")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("Service startup per task (ECDF), per mode and replica count N", pad=14)
    return _save(fig, out_dir, "service_startup_cdf")
