"""The compare table of the two sets either side of a change, by compare's own model: each change on
the regressions page shows what `isobench compare BEFORE AT` would say about every mode."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from analysis.compare import Rule, compare
from analysis.history.setstats import metric_frame
from analysis.load import load
from bench.core.errors import UserError
from bench.results.resultset import ResultFileError

MAX_TABLES = 50  # the newest changes get a table: a page of hundreds would not be read


@dataclass(frozen=True)
class CompareRow:
    mode: str
    phase: str
    median_old: float
    median_new: float
    ratio: float
    ci_low: float
    ci_high: float
    verdict: str


@dataclass(frozen=True)
class CompareTable:
    rows: tuple[CompareRow, ...]
    note: str  # why there is no table, or compare's notes


def either_side(before: Path, after: Path, min_effect: float, alpha: float) -> CompareTable:
    """compare(before, after) on the startup metrics (its family), rows of every mode. The two sets may
    differ in the factor the change is attributed to (a new engine, a new runtime), which compare alone
    refuses: here the table is drawn anyway and its note names what differs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # each set's reader warnings were shown when the site was read
            loaded = load([before, after], warn=False)
        rule = Rule(min_effect=min_effect, alpha=alpha)
        cmp = compare(loaded, metric_frame(loaded.frame), None, rule, force=True)
    except (UserError, ResultFileError) as exc:
        return CompareTable((), str(exc))
    differs = "; ".join(f"{k}: {' vs '.join(map(str, v))}" for k, v in sorted(cmp.mismatches.items()))
    rows = tuple(
        CompareRow(r.mode, r.phase, r.median_old, r.median_new, r.ratio, r.ci_low, r.ci_high, r.verdict)
        for r in cmp.family_rows
    )
    return CompareTable(rows, f"the two sets differ in {differs}" if differs else "")
