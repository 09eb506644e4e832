"""Result sets side by side: what changed between versions, with significance.

Per mode and phase: old and new median, new/old ratio with a 95% CI and a
Mann-Whitney U test, both over stretches of rounds so that drift within a run
is not taken for a change (stats.batched_ratio_ci), Holm correction across
every comparison, and a verdict:

- ``slower`` / ``faster``: significant *and* beyond the minimum factor;
- ``equivalent``: the whole CI inside the ±minimum-effect band (shown to be small);
- ``no change detected``: neither (the data cannot exclude a change that matters),
  with the rounds per set that would most likely settle it;
- ``inconclusive``: too few successful samples to compute anything.

The factor under study is named from what differs in the headers; sets whose
key metadata differ (host, CPU, image content) are refused unless forced, since
then the comparison would not isolate one factor. Images are matched by content
(analysis.identity), so a re-imported image with a new id is the same image.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from analysis import identity, stats
from analysis.load import Loaded
from analysis.series import get as _get
from analysis.series import order_sets
from bench.core.errors import UserError

EQUIVALENT, NO_CHANGE, INCONCLUSIVE = "equivalent", "no change detected", "inconclusive"
VERDICTS = ("slower", "faster", EQUIVALENT, NO_CHANGE, INCONCLUSIVE)
VERDICT_OF_EFFECT = {
    "slower": "slower",
    "faster": "faster",
    "equivalent": EQUIVALENT,
    "unchanged": NO_CHANGE,
    "unclear": NO_CHANGE,
}

# Must match for a comparison to mean anything (else --force). The image: by content (analysis.identity).
KEY_METADATA = ("host.hostname", "host.cpu_model", "host.cpu_count", "host.memory_bytes")
KEY_MODE_METADATA = ("requested.runtime", "requested.isolation", "role")
# What a comparison usually studies: reported when it differs.
FACTORS = (
    "host.kernel",
    "host.os_version",
    "host.currentbuild",
    "host.ubr",
    "host.distribution.version_id",
    "python.version",
    "packages.docker",
    "packages.isobench",
)
MODE_FACTORS = (
    "engine.version",
    "engine.api_version",
    "api_version",
    "engine.kernel",
    "engine.storage_driver",
    "engine.components.runc",
    "engine.components.containerd",
    "engine.cgroup_version",
    "runtime_reported",
    "isolation_reported",
    "endpoint.scheme",
)


@dataclass
class Row:
    mode: str
    phase: str
    old_set: str
    new_set: str
    n_old: int
    n_new: int
    failures_old: int
    failures_new: int
    median_old: float
    median_new: float
    ratio: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan
    p_adjusted: float = math.nan
    verdict: str = INCONCLUSIVE
    method: str = ""  # "batches" (drift within a run allowed for) or "samples" (too few to batch)
    rounds_needed: Optional[int] = None  # per set, both run anew: most likely settles a "no change detected"
    more_rounds: Optional[int] = None  # rounds_needed beyond the rounds these sets have
    note: str = ""


@dataclass
class Comparison:
    sets: list[str]
    factors: dict[str, list[Any]]
    mismatches: dict[str, list[Any]]
    rows: list[Row] = field(default_factory=list)
    only_in: dict[str, list[str]] = field(default_factory=dict)
    min_effect: float = 0.05
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)
    ordered_by: str = "the order given"

    def table(self) -> pd.DataFrame:
        table = pd.DataFrame([asdict(r) for r in self.rows], columns=list(Row.__dataclass_fields__))
        return table.astype({"rounds_needed": "Int64", "more_rounds": "Int64"})

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "slower"]

    @property
    def not_equivalent(self) -> list[Row]:
        return [r for r in self.rows if r.verdict != EQUIVALENT]


def _note(target: dict[str, list[Any]], key: str, values: list[Any]) -> None:
    if len({repr(v) for v in values}) > 1:
        target[key] = values


def metadata_differences(
    loaded: Loaded, sets: list[str]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], list[str]]:
    """(factors that differ, key metadata that differ, notes), each key -> one value per set."""
    headers = [loaded.headers[s] for s in sets]
    modes = sorted(set.intersection(*(set(h.get("modes", {})) for h in headers)))
    factors: dict[str, list[Any]] = {}
    mismatches: dict[str, list[Any]] = {}
    notes: list[str] = []
    for key in KEY_METADATA:
        _note(mismatches, key, [_get(h, key) for h in headers])
    for key in FACTORS:
        _note(factors, key, [_get(h, key) for h in headers])
    for m in modes:
        records = [h["modes"][m] for h in headers]
        for key in KEY_MODE_METADATA:
            _note(mismatches, f"modes.{m}.{key}", [_get(r, key) for r in records])
        for key in MODE_FACTORS:
            _note(factors, f"modes.{m}.{key}", [_get(r, key) for r in records])
        images = identity.check_images(m, sets, records)
        mismatches.update(images.mismatches)
        factors.update(images.factors)
        notes += images.notes
    return factors, mismatches, notes


def refusal(mismatches: dict[str, list[Any]], notes: list[str]) -> str:
    """One sentence: which key metadata differ (and, for the image, which part of its content)."""
    parts = []
    for key, values in mismatches.items():
        what = identity.describe(key)
        parts.append(f"{key}{f' ({what})' if what else ''}: {' vs '.join(map(identity.short, values))}")
    why = f"; {'; '.join(notes)}" if notes else ""
    return (
        f"these result sets differ in key metadata, so a comparison would not isolate one factor "
        f"({'; '.join(parts)}{why}): compare sets from the same host and image, or pass --force."
    )


def _in_time_order(g: pd.DataFrame) -> np.ndarray:
    """Successful durations in round order: batches are stretches of time."""
    ok = g[g["ok"]]
    return ok["duration_ms"].to_numpy()[np.argsort(ok["round"].to_numpy(), kind="stable")]


def _row(
    old: str, new: str, mode: str, phase: str, go: pd.DataFrame, gn: pd.DataFrame
) -> tuple[Row, np.ndarray, np.ndarray]:
    a, b = _in_time_order(go), _in_time_order(gn)
    row = Row(
        mode,
        phase,
        old,
        new,
        len(a),
        len(b),
        int((~go["ok"]).sum()),
        int((~gn["ok"]).sum()),
        float(np.median(a)) if len(a) else math.nan,
        float(np.median(b)) if len(b) else math.nan,
    )
    return row, a, b


def _estimate(row: Row, a: np.ndarray, b: np.ndarray) -> None:
    """Ratio, CI and p: by stretches of rounds where both sides are long enough (drift within
    a run allowed for: stats.batched_ratio_ci), else sample by sample."""
    batched = stats.batched_ratio_ci(a, b)
    if batched is not None:
        row.ratio, row.ci_low, row.ci_high, row.p = batched
        row.method = "batches"
        return
    row.ratio, row.ci_low, row.ci_high = stats.ratio_ci(a, b, paired=False)
    _, row.p = stats.rank_test(a, b, paired=False)
    row.method = "samples"


def _pairs(
    cmp: Comparison, data: pd.DataFrame, metrics: Optional[Sequence[str]]
) -> list[tuple[Row, np.ndarray, np.ndarray]]:
    """Rows for consecutive sets; those with enough samples come back for the tests."""
    groups = {key: g for key, g in data.groupby(["set", "mode", "phase"], observed=True)}
    phases = [p for p in sorted(map(str, data["phase"].unique())) if not metrics or p in metrics]
    pending = []
    for old, new in zip(cmp.sets, cmp.sets[1:]):
        modes_old = set(map(str, data.loc[data["set"] == old, "mode"].unique()))
        modes_new = set(map(str, data.loc[data["set"] == new, "mode"].unique()))
        for m in sorted(modes_old ^ modes_new):
            cmp.only_in.setdefault(old if m in modes_old else new, []).append(m)
        for m in sorted(modes_old & modes_new):
            for ph in phases:
                go, gn = groups.get((old, m, ph)), groups.get((new, m, ph))
                if go is None or gn is None:
                    continue
                row, a, b = _row(old, new, m, ph, go, gn)
                cmp.rows.append(row)
                if len(a) < 3 or len(b) < 3:
                    row.note = "too few successful samples to compare"
                    continue
                _estimate(row, a, b)
                pending.append((row, a, b))
    return pending


def _decide(cmp: Comparison, pending: list[tuple[Row, np.ndarray, np.ndarray]]) -> None:
    """Holm across every row, then the verdict; undecided rows get the rounds that would settle them."""
    for (row, _, _), adj in zip(pending, stats.holm([r.p for r, _, _ in pending])):
        row.p_adjusted = adj
        effect = stats.decide(row.ratio, row.ci_low, row.ci_high, adj, cmp.alpha, cmp.min_effect)
        row.verdict = VERDICT_OF_EFFECT[effect]
        if row.verdict != NO_CHANGE:
            continue
        row.rounds_needed = stats.rounds_to_settle(
            row.ratio, row.ci_low, row.ci_high, row.n_old, row.n_new, cmp.min_effect
        )
        if row.rounds_needed is None:
            row.note = (
                f"on the band's edge: no practical count of rounds (<= {stats.MAX_ROUNDS}) is likely to settle it"
                if cmp.min_effect > 0
                else "no minimum effect: equivalence cannot be shown"
            )
        else:
            now = 2 / (1 / row.n_old + 1 / row.n_new)
            row.more_rounds = max(0, math.ceil(row.rounds_needed - now))


def compare(
    loaded: Loaded,
    frame: pd.DataFrame,
    sets: Optional[list[str]] = None,
    min_effect: float = 0.05,
    alpha: float = 0.05,
    force: bool = False,
    order_by: Optional[str] = None,
    metrics: Optional[Sequence[str]] = None,
) -> Comparison:
    """Compares consecutive sets (old -> new; a series for more than two, in the order of
    the factor that differs: analysis.series).

    ``frame``: measured samples with derived metrics, from ``loaded`` (cold cycles, if any,
    under their own phase names: analysis.metrics.cold_phases_apart). ``metrics``: only
    these phases (the family Holm corrects over, and what --require-equivalence gates).
    """
    sets = sets or list(loaded.headers)
    if len(sets) < 2:
        raise UserError("compare needs at least two result sets: pass OLD and NEW.")
    sets, ordered_by = order_sets(loaded.headers, sets, order_by)
    factors, mismatches, notes = metadata_differences(loaded, sets)
    if mismatches and not force:
        raise UserError(refusal(mismatches, notes))
    cmp = Comparison(sets, factors, mismatches, min_effect=min_effect, alpha=alpha, notes=notes, ordered_by=ordered_by)
    data = frame[~frame["warmup"]]
    if metrics:
        known = set(map(str, data["phase"].unique()))
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise UserError(
                f"--metric {', '.join(unknown)}: not in these sets: choose from {', '.join(sorted(known))}."
            )
    _decide(cmp, _pairs(cmp, data, metrics))
    if any(r.method == "samples" for r in cmp.rows):
        cmp.notes.append(
            f"rows with fewer than {stats.BATCHES * stats.MIN_BATCH} successful samples a side take samples as "
            "independent (too few to allow for drift within a run): their CIs may be too narrow"
        )
    if not cmp.rows:
        held = "; ".join(f"{s} has only {', '.join(m)}" for s, m in cmp.only_in.items())
        raise UserError(
            f"nothing to compare: the sets share no mode with measured samples ({held or 'none has any'}): "
            "compare runs of the same modes."
        )
    return cmp
