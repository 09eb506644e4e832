"""Image size (scenarios size and first-start with `level` = the image's size in MiB): per mode and size the
p50 of startup, of the pull and of first_start (pull + startup), with 95% CIs, as a table and as figures
of each against image size (log x, the CI as a band)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis import stats
from analysis.export.content import Section
from analysis.plots import _save, plt
from analysis.scenarios.base import PartInput
from analysis.tables import table_of
from bench.core.phases import FIRST_START, PULL, SIZE

TITLE = "Image size: p50 per mode and size (ms, successes; 95% CI)"

METRICS = (("startup", SIZE), ("startup", FIRST_START), (PULL, FIRST_START), ("first_start", FIRST_START))
COLUMNS = ["scenario", "metric", "mode", "size_mib", "n", "failed", "p50", "p50_low", "p50_high"]


def size_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (scenario, metric, mode, size): successes, failures, p50 and its CI (ms), outside warm-up.
    ``frame``: with derived metrics (analysis.metrics.with_derived)."""
    rows = []
    data = frame[~frame["warmup"] & frame["level"].notna()]
    for metric, scenario in METRICS:
        part = data[(data["phase"] == metric) & (data["scenario"] == scenario)]
        for (mode, level), g in part.groupby([part["mode"].astype(str), "level"], observed=True):
            ok = g.loc[g["ok"], "duration_ms"].to_numpy(float)
            low, high = stats.median_ci(ok) if len(ok) else (np.nan, np.nan)
            p50 = float(np.median(ok)) if len(ok) else np.nan
            rows.append([scenario, metric, mode, float(level), len(ok), int((~g["ok"]).sum()), p50, low, high])
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["scenario", "metric", "mode", "size_mib"])


def figures(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One figure per (scenario, metric): p50 against image size per mode, its CI as a band."""
    out: list[Path] = []
    for (scenario, metric), part in table.groupby(["scenario", "metric"], sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for mode, rows in part.groupby("mode"):
            rows = rows.sort_values("size_mib")
            ax.plot(rows["size_mib"], rows["p50"], "o-", label=str(mode))
            ax.fill_between(rows["size_mib"], rows["p50_low"], rows["p50_high"], alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_xticks(sorted(part["size_mib"].unique()), [f"{v:g}" for v in sorted(part["size_mib"].unique())])
        ax.set_xlabel("image size (MiB)")
        ax.set_ylabel(f"{metric} p50 (ms, 95% CI)")
        ax.set_title(f"{metric} against image size ({scenario})")
        ax.grid(True, alpha=0.3)
        ax.legend()
        out += _save(fig, out_dir, f"size_{scenario}_{metric}".replace("-", "_"))
    return [p for p in out if p.suffix == ".png"]


@dataclass
class SizePart:
    """The size and first-start scenarios' part of a report (analysis.scenarios: both name it): the table
    by mode and size and its figures; empty for a set without sized cycles."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: list[Path] = field(default_factory=list)

    @property
    def headline_figure(self) -> Optional[Path]:
        return next((f for f in self.figures if f.name == "size_size_startup.png"), None)

    def sections(self) -> list[Section]:
        return [Section(TITLE, (table_of(self.table, 1),))] if not self.table.empty else []

    def print(self, console: Console, brief: bool = False) -> None:
        if self.table.empty:
            return
        t = Table(title=TITLE)
        for col in ("scenario", "metric", "mode", "MiB", "n", "failed", "p50", "95% CI"):
            t.add_column(col, justify="left" if col in ("scenario", "metric", "mode") else "right")
        for r in self.table.itertuples():
            t.add_row(str(r.scenario), str(r.metric), str(r.mode), f"{r.size_mib:g}", str(r.n), str(r.failed),
                      f"{r.p50:.0f}", f"{r.p50_low:.0f}-{r.p50_high:.0f}")  # fmt: skip
        console.print(t)


def part(inp: PartInput) -> SizePart:
    """With an output folder: size_summary.csv and (``inp.figures``) the figures."""
    table = size_table(inp.every)
    if table.empty or inp.out_dir is None:
        return SizePart(table)
    table.to_csv(inp.out_dir / "size_summary.csv", index=False)
    return SizePart(table, figures(table, inp.out_dir) if inp.figures else [])


def must_show(warm_set: Path, first_set: Path) -> str:
    """The table mode x size: warm startup p50 and first-start (pull + startup) p50 with CIs, and the pull's."""
    from analysis.load import read_set
    from analysis.metrics import with_derived

    tables = [size_table(with_derived(read_set(p, p.stem).frame)) for p in (warm_set, first_set)]
    t = pd.concat(tables)

    def cell(scenario: str, metric: str, mode: str, mib: float) -> str:
        r = t[(t["scenario"] == scenario) & (t["metric"] == metric) & (t["mode"] == mode) & (t["size_mib"] == mib)]
        if r.empty:
            return "-"
        x = r.iloc[0]
        return f"{x.p50:.0f} [{x.p50_low:.0f}–{x.p50_high:.0f}] (n={x.n}{f', {x.failed} failed' if x.failed else ''})"

    lines = ["| mode | size (MiB) | warm startup p50 ms [95% CI] | first start (pull+startup) p50 ms [95% CI] "
             "| pull p50 ms [95% CI] |", "|---|---|---|---|---|"]  # fmt: skip
    for mode in sorted(t["mode"].unique()):
        for mib in sorted(t["size_mib"].unique()):
            cells = [cell(SIZE, "startup", mode, mib), cell(FIRST_START, "first_start", mode, mib)]
            cells.append(cell(FIRST_START, PULL, mode, mib))
            lines.append(f"| {mode} | {mib:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(must_show(Path(sys.argv[1]), Path(sys.argv[2])))
