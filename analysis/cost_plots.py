"""The startup waterfall figure, one per mode: the harness's start and ready above, the engine's
steps (median ms each, stacked in the order they happen) below, on one time axis from the start call."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.plots import _save  # noqa: E402

STEP_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
                "#CCB974", "#64B5CD", "#1B9E77")  # fmt: skip


def waterfall(
    matrix: pd.DataFrame, start_ms: float, ready_ms: float, mode: str, out_dir: Path, name: str
) -> list[Path]:
    """``matrix``: analysis.cost.step_matrix of one mode; ``name``: the file's (a safe one: cost_report)."""
    steps = [c for c in matrix.columns if c != "total"]
    medians = matrix[steps].median()
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.barh(["harness"], [start_ms], color="#555555", label="start (harness)")
    ax.barh(["harness"], [ready_ms], left=[start_ms], color="#AAAAAA", label="ready (harness)")
    left = 0.0
    for i, step in enumerate(steps):
        width = float(medians[step])
        ax.barh(["engine"], [width], left=[left], color=STEP_COLOURS[i % len(STEP_COLOURS)], label=step,
                edgecolor="white", linewidth=0.5)  # fmt: skip
        if width > 0.06 * max(1.0, float(medians.sum())):
            ax.text(left + width / 2, 1, step, ha="center", va="center", fontsize=7, color="white")  # the engine row
        left += width
    ax.set_xlabel("ms from the start call (medians, stacked)")
    ax.set_title(f"{mode}: startup waterfall (n = {len(matrix)} cycles)")
    ax.legend(ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out_dir, name)
