"""A comparison's output: the terminal table, compare.md, compare.csv and the figures."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis import plots
from analysis.compare import IN_RUN, NO_CHANGE, REPLICATED, VERDICTS, Comparison, Row
from analysis.identity import short
from analysis.report import _console
from analysis.scale import series_metrics
from analysis.tables import cell_text, md_table

VERDICT_LEGEND = [
    "equivalent: the whole 95% CI lies within ±{e:.0%}: shown not to have changed by that much",
    "no change detected: not significant, and not shown to be within ±{e:.0%}: a change that matters is not "
    "excluded; 'detectable' is the smallest change this comparison would have found with 80% power, and "
    "'rounds' is how many rounds per set (both run anew) would most likely settle the row, from the observed "
    "spread",
    "slower / faster: significant (Holm-corrected within the family) and beyond ±{e:.0%}; the p-value and the "
    "CI come from one model, so with one metric in the family a CI that clears 1 beyond the band is a change",
    "inconclusive: too few successful samples to compare",
    "family: the metrics asked about (--metric; default the startup metrics), corrected together per mode; "
    "the other rows (marked *) are descriptive: corrected among themselves per mode, never read by the gates",
]


def _factors_line(cmp: Comparison, joiner: str = " -> ") -> str:
    return "; ".join(f"{k}: {joiner.join(map(short, v))}" for k, v in cmp.factors.items())


def _settle(r: Any) -> str:
    """'+N (M/set)' for a row more rounds would most likely settle; why not, for an
    undecided row no count will."""
    more, needed = r.get("more_rounds"), r.get("rounds_needed")
    if needed is None or pd.isna(needed):
        return "none likely" if r.get("verdict") == NO_CHANGE and "more runs" not in str(r.get("note")) else ""
    return f"+{int(more)} ({int(needed)}/set)"


def _pct(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _what(cmp: Comparison) -> str:
    if cmp.design == IN_RUN:
        return f"in-run A/B: {cmp.sets[0]}: candidate / {cmp.reference} per round"
    if cmp.design == REPLICATED:
        old, new = cmp.sides
        return f"replicated runs: {len(old)} runs ({', '.join(old)}) -> {len(new)} runs ({', '.join(new)})"
    title = f"{cmp.sets[0]} -> {cmp.sets[-1]}"
    return title + (f" ({len(cmp.sets)} sets, ordered by {cmp.ordered_by})" if len(cmp.sets) > 2 else "")


def _title(cmp: Comparison) -> str:
    what = "candidate / base" if cmp.design == IN_RUN else "new / old"
    if cmp.reference and cmp.design != IN_RUN:
        what += f" of each mode's per-round ratio to {cmp.reference}"
    return f"{what} (minimum effect {cmp.min_effect:.0%}, alpha {cmp.alpha}, Holm within each mode's family)"


def _cells(cmp: Comparison, r: Row, series: bool) -> list[str]:
    sets = [r.old_set[:24], r.new_set[:24]] if series else []
    decimals = 3 if cmp.reference and cmp.design != IN_RUN else 1
    return sets + [
        r.mode + ("" if r.family else " *"),
        r.phase,
        cell_text(r.median_old, decimals),
        cell_text(r.median_new, decimals),
        cell_text(r.ratio, 3),
        f"{cell_text(r.ci_low, 3)}-{cell_text(r.ci_high, 3)}",
        cell_text(r.p_adjusted, 3),
        r.verdict + (f" ({r.note})" if r.note and r.verdict != NO_CHANGE else ""),
        _pct(r.detectable),
        _pct(r.detectable_planned),
        _settle(asdict(r)),
    ]


def print_comparison(cmp: Comparison, console: Optional[Console] = None) -> None:
    console = console or _console()

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)  # set names and paths may hold [brackets]

    say(_what(cmp))
    if cmp.design != IN_RUN:
        say(
            "factor under study: "
            + (_factors_line(cmp) or "none found in the headers (same versions: an A/A comparison)")
        )
    for n in cmp.notes:
        say(f"note: {n}")
    t = Table(title=_title(cmp))
    series = len(cmp.sets) > 2 and cmp.design not in (REPLICATED,)
    cols = (["old set", "new set"] if series else []) + [
        "mode",
        "phase",
        "base" if cmp.design == IN_RUN else "old",
        "candidate" if cmp.design == IN_RUN else "new",
        "ratio",
        "95% CI",
        f"p beyond ±{cmp.min_effect:.0%} (Holm)",
        "verdict",
        "detectable",
        f"at {cmp.plan_rounds} rounds",
        "rounds to settle",
    ]
    for col in cols:
        t.add_column(col)
    for r in cmp.rows:
        t.add_row(*_cells(cmp, r, series))
    console.print(t)
    say(
        "* outside the family: descriptive (corrected among themselves per mode; the gates read the family "
        "only). p: of the test that the change lies within the band. detectable: the smallest change this "
        "comparison would find with 80% power"
    )
    for r in cmp.family_rows:
        if r.verdict == NO_CHANGE and r.rounds_needed is None and r.note:
            say(f"{r.mode} {r.phase}: {r.note}")
    family = cmp.family_rows
    counts = {v: sum(r.verdict == v for r in family) for v in VERDICTS}
    say(
        f"family verdicts ({len(family)} rows): "
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + f" (equivalent: the CI within ±{cmp.min_effect:.0%}; no change detected: a change that matters is not "
        "excluded)"
    )
    for s, modes in cmp.only_in.items():
        say(f"only in {s}: {', '.join(modes)}")


def write_comparison(cmp: Comparison, out_dir: Path, summary: pd.DataFrame) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = cmp.table()
    table.to_csv(out_dir / "compare.csv", index=False)
    figures: list[Path] = []
    if not table.empty:
        series = len(cmp.sets) > 2 and cmp.design != REPLICATED
        t = table.assign(
            label=table["mode"] + " " + table["phase"] + ("" if not series else " (" + table["new_set"].str[:15] + ")")
        )
        figures += plots.forest(t, out_dir, _what(cmp)[:70], min_effect=cmp.min_effect)
    if len(cmp.sets) > 2 and cmp.design not in (REPLICATED, IN_RUN):
        for metric in series_metrics(sorted(map(str, summary["phase"].unique()))):
            figures += plots.series(summary, cmp.sets, out_dir, metric)
    lines = ["# isobench comparison", "", f"{_what(cmp)} ({cmp.design})", ""]
    if cmp.design != IN_RUN:
        lines += [f"Sets, in order ({cmp.ordered_by}): " + ", ".join(cmp.sets), ""]
        lines += ["Factors that differ: " + (_factors_line(cmp) or "none found in the headers"), ""]
    if cmp.mismatches:
        lines += [
            "**Forced past key-metadata differences:** "
            + "; ".join(f"{k}: {' vs '.join(map(short, v))}" for k, v in cmp.mismatches.items()),
            "",
        ]
    lines += [f"- {n}" for n in cmp.notes] + ([""] if cmp.notes else [])
    lines += [_title(cmp), ""]
    lines += ["Verdicts:", ""] + [f"- {v.format(e=cmp.min_effect)}" for v in VERDICT_LEGEND] + [""]
    lines += [
        md_table(
            table.astype({"rounds_needed": object, "more_rounds": object}).fillna(
                {"rounds_needed": "", "more_rounds": ""}
            )
        ),
        "",
    ]
    lines += [f"![{f.stem}]({f.name})" for f in figures if f.suffix == ".png"]
    (out_dir / "compare.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return figures
