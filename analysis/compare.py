"""Result sets side by side: what changed between versions, with significance.

Per mode and phase: old and new median, the new/old ratio with a 95% CI and a p-value that come
from one model (analysis.effects), so the verdict always agrees with its interval:

- ``slower`` / ``faster``: the CI wholly beyond the minimum-effect band (the p-value is that of the
  test of "within the band", Holm-corrected within the family);
- ``equivalent``: the whole CI inside the ±minimum-effect band (shown to be small);
- ``no change detected``: neither (the data cannot exclude a change that matters), with the
  smallest change this comparison could have detected and the rounds per set that would most likely
  settle it;
- ``inconclusive``: too few successful samples to compute anything.

The family Holm corrects over is what the user asks about: the ``--metric`` phases (default the
startup metrics), per mode and pair of sets. Every other phase is a descriptive row, outside the
family: the descriptive rows of a mode are corrected among themselves, and the gates never read them.

Designs (analysis.effects): one run a side (stretches of rounds, so drift within a run is not taken
for a change), several runs a side (a mixed model with the run as a random effect), a mode's ratio to
a reference mode measured in the same rounds (cancels whatever slowed the whole host), and two modes
of one run compared round by round (in-run A/B).

The factor under study is named from what differs in the headers; sets whose key metadata differ
(host, CPU, image content) are refused unless forced, since then the comparison would not isolate one
factor. Images are matched by content (analysis.identity), so a re-imported image with a new id is
the same image.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from analysis import effects, identity, stats
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
KEY_MODE_METADATA = ("requested.runtime", "requested.isolation", "role", "workload")
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


# Designs, as the output names them.
TWO_RUNS, SERIES, REPLICATED, IN_RUN = "two runs", "series", "replicated runs", "in-run A/B"
STARTUP_METRICS = ("startup", "cold_startup", "service_startup")
MAX_RUNS = 50  # runs a side beyond which "more runs" is no practical answer


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
    median_old: float  # ms; with a reference: the median per-round ratio to it; in-run A/B: the base's ms
    median_new: float
    ratio: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan
    p_adjusted: float = math.nan  # Holm within the family; the row's own p outside it
    verdict: str = INCONCLUSIVE
    method: str = ""  # the model's units: see analysis.effects
    family: bool = False  # one of the --metric rows Holm corrects over (the gates read only these)
    reference: str = ""  # the mode each round's value was divided by (--reference, or the A/B base)
    detectable: float = math.nan  # smallest change (fraction) found with 80% power by this comparison
    detectable_planned: float = math.nan  # the same with `plan_rounds` rounds a set
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
    design: str = TWO_RUNS
    reference: str = ""
    plan_rounds: int = 100
    sides: tuple[list[str], list[str]] = ([], [])  # replicated runs: the sets of each side

    def table(self) -> pd.DataFrame:
        table = pd.DataFrame([asdict(r) for r in self.rows], columns=list(Row.__dataclass_fields__))
        return table.astype({"rounds_needed": "Int64", "more_rounds": "Int64"})

    @property
    def family_rows(self) -> list[Row]:
        return [r for r in self.rows if r.family]

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.family_rows if r.verdict == "slower"]

    @property
    def not_equivalent(self) -> list[Row]:
        return [r for r in self.family_rows if r.verdict != EQUIVALENT]


def _note(target: dict[str, list[Any]], key: str, values: list[Any]) -> None:
    if len({repr(v) for v in values}) > 1:
        target[key] = values


def metadata_differences(
    loaded: Loaded, sets: list[str]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], list[str]]:
    """(factors that differ, key metadata that differ, notes), each key -> one value per set."""
    headers = [loaded.headers[s] for s in sets]
    modes = sorted(set.intersection(*(set(h.modes) for h in headers)))
    factors: dict[str, list[Any]] = {}
    mismatches: dict[str, list[Any]] = {}
    notes: list[str] = []
    for key in KEY_METADATA:
        _note(mismatches, key, [_get(h, key) for h in headers])
    for key in FACTORS:
        _note(factors, key, [_get(h, key) for h in headers])
    for m in modes:
        records = [h.modes[m] for h in headers]
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
        shown = map(identity.workload_text, values) if key.endswith(".workload") else map(identity.short, values)
        parts.append(f"{key}{f' ({what})' if what else ''}: {' vs '.join(shown)}")
    why = f"; {'; '.join(notes)}" if notes else ""
    return (
        f"these result sets differ in key metadata, so a comparison would not isolate one factor "
        f"({'; '.join(parts)}{why}): compare sets from the same host and image, or pass --force."
    )


def family_of(phases: Sequence[str], metrics: Optional[Sequence[str]]) -> set[str]:
    """The phases the verdicts are corrected over: the chosen metrics, or every startup metric
    ("startup", "cold startup", "burst N=8 startup", "service_startup N=4", ...)."""
    if metrics:
        return set(metrics)
    return {p for p in phases if _base_metric(p) in STARTUP_METRICS}


def _base_metric(phase: str) -> str:
    words = [w for w in phase.split() if not w.startswith("N=")]
    return words[-1] if words else phase


class Samples:
    """Successful durations per (set, mode, phase), in round order, and per-round ratios of two modes."""

    def __init__(self, data: pd.DataFrame) -> None:
        self.groups = {key: g for key, g in data.groupby(["set", "mode", "phase"], observed=True)}

    def has(self, set_name: str, mode: str, phase: str) -> bool:
        return (set_name, mode, phase) in self.groups

    def failures(self, set_name: str, mode: str, phase: str) -> int:
        g = self.groups.get((set_name, mode, phase))
        return 0 if g is None else int((~g["ok"]).sum())

    def _by_round(self, set_name: str, mode: str, phase: str) -> pd.Series:
        g = self.groups.get((set_name, mode, phase))
        if g is None:
            return pd.Series(dtype=float)
        ok = g[g["ok"]]
        return ok.groupby("round", sort=True)["duration_ms"].median()

    def durations(self, set_name: str, mode: str, phase: str) -> np.ndarray:
        """In round order: stretches of rounds are stretches of time."""
        g = self.groups.get((set_name, mode, phase))
        if g is None:
            return np.array([])
        ok = g[g["ok"]]
        return ok["duration_ms"].to_numpy(dtype=float)[np.argsort(ok["round"].to_numpy(), kind="stable")]

    def ratios(self, set_name: str, mode: str, base: str, phase: str) -> np.ndarray:
        """mode / base per round both succeeded in, in round order."""
        both = pd.concat([self._by_round(set_name, mode, phase), self._by_round(set_name, base, phase)], axis=1)
        both = both.dropna()
        both = both[(both.iloc[:, 0] > 0) & (both.iloc[:, 1] > 0)]
        return (both.iloc[:, 0] / both.iloc[:, 1]).to_numpy(dtype=float)


@dataclass(frozen=True)
class _Side:
    """The sets on one side of a comparison (one, or several replicated runs)."""

    sets: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.sets[0] if len(self.sets) == 1 else f"{len(self.sets)} sets: {', '.join(self.sets)}"


def _values(samples: Samples, side: _Side, mode: str, phase: str, reference: str) -> list[np.ndarray]:
    if reference:
        return [samples.ratios(s, mode, reference, phase) for s in side.sets]
    return [samples.durations(s, mode, phase) for s in side.sets]


def _estimate(old: list[np.ndarray], new: list[np.ndarray]) -> Optional[effects.Estimate]:
    if len(old) == 1 and len(new) == 1:
        return effects.two_runs(old[0], new[0])
    return effects.replicated(old, new)


def _row(
    samples: Samples, old: _Side, new: _Side, mode: str, phase: str, reference: str
) -> tuple[Row, Optional[effects.Estimate]]:
    a, b = _values(samples, old, mode, phase, reference), _values(samples, new, mode, phase, reference)
    flat_a, flat_b = np.concatenate(a), np.concatenate(b)
    row = Row(
        mode,
        phase,
        old.label,
        new.label,
        len(flat_a),
        len(flat_b),
        sum(samples.failures(s, mode, phase) for s in old.sets),
        sum(samples.failures(s, mode, phase) for s in new.sets),
        float(np.median(flat_a)) if len(flat_a) else math.nan,
        float(np.median(flat_b)) if len(flat_b) else math.nan,
        reference=reference,
    )
    est = _estimate(a, b) if min(len(flat_a), len(flat_b)) >= 3 else None
    if est is None:
        row.note = "too few successful samples to compare"
    return row, est


def _rows_for(
    cmp: Comparison, samples: Samples, old: _Side, new: _Side, phases: list[str], family: set[str]
) -> list[tuple[Row, Optional[effects.Estimate]]]:
    """Rows of one pair of sides: every mode both have, every phase."""
    modes_old = {m for s in old.sets for (st, m, _) in samples.groups if st == s}
    modes_new = {m for s in new.sets for (st, m, _) in samples.groups if st == s}
    for m in sorted(modes_old ^ modes_new):
        cmp.only_in.setdefault(old.label if m in modes_old else new.label, []).append(m)
    out = []
    for m in sorted((modes_old & modes_new) - {cmp.reference}):
        for ph in phases:
            if not all(samples.has(s, m, ph) for s in old.sets + new.sets):
                continue
            row, est = _row(samples, old, new, m, ph, cmp.reference)
            row.family = ph in family
            out.append((row, est))
    return out


def _fill(row: Row, est: effects.Estimate, min_effect: float) -> None:
    row.ratio = est.ratio
    row.ci_low, row.ci_high = est.interval()
    row.p = est.p_beyond(min_effect)
    row.method = est.method


def verdict_of(ratio: float, low: float, high: float, p_adjusted: float, alpha: float, min_effect: float) -> str:
    """A change when the test of "within the band" fails at alpha (Holm-adjusted): with one metric
    in the family, exactly when the 95% CI lies wholly beyond the band. Equivalent when the whole CI
    lies inside it; anything else is no change detected."""
    if any(math.isnan(v) for v in (ratio, low, high, p_adjusted)):
        return NO_CHANGE
    if p_adjusted < alpha:
        return "slower" if ratio > 1 else "faster"
    band = 1 + min_effect
    return EQUIVALENT if 1 / band <= low and high <= band else NO_CHANGE


def _verdict(row: Row, p_adjusted: float, cmp: Comparison) -> str:
    verdict = verdict_of(row.ratio, row.ci_low, row.ci_high, p_adjusted, cmp.alpha, cmp.min_effect)
    if verdict == NO_CHANGE and (row.ci_low > 1 or row.ci_high < 1):
        row.note = f"changed, but not shown to by more than ±{cmp.min_effect:.0%}: the CI excludes 1, not the band"
    return verdict


def _decide(cmp: Comparison, rows: list[tuple[Row, Optional[effects.Estimate]]]) -> None:
    """Holm within each family (the --metric rows of one mode and pair of sides), and apart from it
    within the descriptive rows of the same mode and pair (so they too keep their error rate, without
    diluting the family the user asked about). Then the verdict, what the comparison could detect,
    and what would settle it."""
    families: dict[tuple[str, str, str, bool], list[tuple[Row, effects.Estimate]]] = {}
    for row, est in rows:
        cmp.rows.append(row)
        if est is None:
            continue
        _fill(row, est, cmp.min_effect)
        key = (row.mode, row.old_set, row.new_set, row.family)
        families.setdefault(key, []).append((row, est))
    for members in families.values():
        adjusted = stats.holm([r.p for r, _ in members])
        level = cmp.alpha / len(members)  # Holm's strictest step: what more data must reach
        for (row, est), adj in zip(members, adjusted):
            row.p_adjusted = adj
            row.verdict = _verdict(row, adj, cmp)
            row.detectable = effects.detectable(est, cmp.min_effect, level)
            _planned(cmp, row, est, level)
            if row.verdict == NO_CHANGE:
                _settle(cmp, row, level)


def _rounds_now(row: Row, est: effects.Estimate) -> Optional[float]:
    """Rounds a set behind this estimate (rounds are the lever), or None (runs are)."""
    if est.method.startswith("runs"):
        return None
    if est.method.startswith("paired"):
        return float(row.n_old)
    return 2 / (1 / row.n_old + 1 / row.n_new)


def _planned(cmp: Comparison, row: Row, est: effects.Estimate, level: float) -> None:
    now = _rounds_now(row, est)
    if now is not None and now > 0:
        row.detectable_planned = effects.detectable(
            est, cmp.min_effect, level, scale_se=math.sqrt(now / cmp.plan_rounds)
        )


def _add_note(row: Row, note: str) -> None:
    row.note = f"{row.note}; {note}" if row.note else note


def _settle(cmp: Comparison, row: Row, level: float) -> None:
    if cmp.min_effect <= 0:
        _add_note(row, "no minimum effect: equivalence cannot be shown")
        return
    if row.method.startswith("runs"):
        scale = stats.settle_scale(row.ratio, row.ci_low, row.ci_high, cmp.min_effect, alpha=level)
        runs = None if scale is None else math.ceil(max(scale, 1.0) * max(map(len, cmp.sides)))
        if runs is not None and runs <= MAX_RUNS:
            _add_note(row, f"more runs settle it, not more rounds: about {runs} a side")
        else:
            _add_note(row, f"more runs settle it, not more rounds, but no practical number (<= {MAX_RUNS} a side)")
        return
    elif row.method.startswith("paired"):
        row.rounds_needed = stats.rounds_to_settle(
            row.ratio, row.ci_low, row.ci_high, row.n_old, row.n_old, cmp.min_effect, alpha=level
        )
    else:
        row.rounds_needed = stats.rounds_to_settle(
            row.ratio, row.ci_low, row.ci_high, row.n_old, row.n_new, cmp.min_effect, alpha=level
        )
    if row.rounds_needed is None:
        _add_note(
            row, f"on the band's edge: no practical count of rounds (<= {stats.MAX_ROUNDS}) is likely to settle it"
        )
        return
    now = row.n_old if row.method.startswith("paired") else 2 / (1 / row.n_old + 1 / row.n_new)
    row.more_rounds = max(0, math.ceil(row.rounds_needed - now))


def _host_shift(cmp: Comparison) -> None:
    """Two runs without a reference: every mode moved the same way (and by a factor their CIs share)
    looks like the host, or a factor that touches every mode alike, not like any one mode."""
    by_pair: dict[tuple[str, str, str], list[Row]] = {}
    for r in cmp.family_rows:
        by_pair.setdefault((r.old_set, r.new_set, r.phase), []).append(r)
    for (old, new, phase), rows in by_pair.items():
        verdicts = {r.verdict for r in rows}
        if len(rows) < 2 or len(verdicts) != 1 or verdicts.pop() not in ("slower", "faster"):
            continue
        factors = ", ".join(f"{r.mode} x{r.ratio:.2f}" for r in rows)
        common = max(r.ci_low for r in rows) <= min(r.ci_high for r in rows)
        how = "by a factor their CIs share" if common else "by different factors"
        for r in rows:
            _add_note(r, "every mode moved: host-wide shift")
        cmp.notes.append(
            f"host-wide shift in {phase} ({old} -> {new}): every mode is {rows[0].verdict} {how} ({factors}). "
            "The host itself probably changed between the runs (or the factor under study touches every mode "
            "alike): compare with --reference MODE, which divides each round by a mode measured in the same "
            "rounds, or with several runs a side"
        )


def _pairs_of_sides(
    loaded: Loaded, sets: list[str], new_sets: Optional[list[str]], order_by: Optional[str]
) -> tuple[list[tuple[_Side, _Side]], str, str, list[str]]:
    """(pairs of sides, design, what ordered them, every set in order)."""
    if new_sets:
        if len(sets) == 1 and len(new_sets) == 1:
            return [(_Side((sets[0],)), _Side((new_sets[0],)))], TWO_RUNS, "the order given", sets + new_sets
        if len(sets) < 2 or len(new_sets) < 2:
            raise UserError(
                f"replicated runs need at least two sets a side (got {len(sets)} and {len(new_sets)}): pass two "
                "or more on each side of --, or one set each."
            )
        return [(_Side(tuple(sets)), _Side(tuple(new_sets)))], REPLICATED, "the sides given", sets + new_sets
    if len(sets) < 2:
        raise UserError("compare needs at least two result sets: pass OLD and NEW.")
    ordered, ordered_by = order_sets(loaded.headers, sets, order_by)
    pairs = [(_Side((o,)), _Side((n,))) for o, n in zip(ordered, ordered[1:])]
    return pairs, TWO_RUNS if len(ordered) == 2 else SERIES, ordered_by, ordered


def _check_phases(data: pd.DataFrame, metrics: Optional[Sequence[str]]) -> list[str]:
    known = sorted(map(str, data["phase"].unique()))
    unknown = [m for m in metrics or () if m not in known]
    if unknown:
        raise UserError(f"--metric {', '.join(unknown)}: not in these sets: choose from {', '.join(known)}.")
    return known


def _check_reference(reference: str, data: pd.DataFrame, sets: Sequence[str]) -> None:
    for s in sets:
        if not ((data["set"] == s) & (data["mode"] == reference)).any():
            have = ", ".join(sorted(map(str, data.loc[data["set"] == s, "mode"].unique())))
            raise UserError(
                f"--reference {reference}: set {s} has no samples of that mode (it has {have}): name a mode "
                "measured in every set."
            )


@dataclass(frozen=True)
class Rule:
    """How a comparison decides, whatever it compares: the smallest change that counts (``min_effect``,
    relative), the error rate Holm controls (``alpha``), the family Holm corrects over and the gates read
    (``metrics``; None: the startup metrics), the rounds a follow-up plan is sized for (``plan_rounds``),
    and ``reference``: each mode's per-round ratio to this mode is compared instead of its durations (in
    an A/B, the base is the reference)."""

    min_effect: float = 0.05
    alpha: float = 0.05
    metrics: Optional[Sequence[str]] = None
    plan_rounds: int = 100
    reference: Optional[str] = None


def compare(
    loaded: Loaded,
    frame: pd.DataFrame,
    sets: Optional[list[str]] = None,
    rule: Rule = Rule(),
    *,
    new_sets: Optional[list[str]] = None,
    order_by: Optional[str] = None,
    force: bool = False,
) -> Comparison:
    """Compares sets: OLD NEW, a series (consecutive sets in the order of the factor that differs:
    analysis.series, or ``order_by``), or replicated runs (``sets`` one side, ``new_sets`` the other),
    decided by ``rule``. ``force``: compare even when the sets' conditions differ.

    ``frame``: measured samples with derived metrics, from ``loaded`` (cold cycles, if any, under their
    own phase names: analysis.metrics.cold_phases_apart).
    """
    min_effect, alpha, metrics, reference = rule.min_effect, rule.alpha, rule.metrics, rule.reference
    sets = sets or list(loaded.headers)
    pairs, design, ordered_by, every = _pairs_of_sides(loaded, sets, new_sets, order_by)
    factors, mismatches, notes = metadata_differences(loaded, every)
    if mismatches and not force:
        raise UserError(refusal(mismatches, notes))
    cmp = Comparison(
        every,
        factors,
        mismatches,
        min_effect=min_effect,
        alpha=alpha,
        notes=notes,
        ordered_by=ordered_by,
        design=design,
        reference=reference or "",
        plan_rounds=rule.plan_rounds,
    )
    if design == REPLICATED:
        cmp.sides = (list(pairs[0][0].sets), list(pairs[0][1].sets))
    data = frame[~frame["warmup"]]
    phases = _check_phases(data, metrics)
    if reference:
        _check_reference(reference, data, every)
    samples = Samples(data)
    family = family_of(phases, metrics)
    rows = [r for old, new in pairs for r in _rows_for(cmp, samples, old, new, phases, family)]
    _decide(cmp, rows)
    _finish(cmp)
    return cmp


def ab(
    loaded: Loaded, frame: pd.DataFrame, set_name: str, base: str, candidate: str, rule: Rule = Rule()
) -> Comparison:
    """In-run A/B: ``candidate`` against ``base``, both measured in the same interleaved rounds of one
    set, compared round by round (the per-round log ratio, over stretches of rounds); ``rule``'s reference
    is the base."""
    min_effect, alpha, metrics, plan_rounds = rule.min_effect, rule.alpha, rule.metrics, rule.plan_rounds
    data = frame[(~frame["warmup"]) & (frame["set"] == set_name)]
    for m in (base, candidate):
        if not (data["mode"] == m).any():
            have = ", ".join(sorted(map(str, data["mode"].unique())))
            raise UserError(f"mode {m!r} has no measured samples in {set_name} (it has {have}): name two of those.")
    phases = _check_phases(data, metrics)
    cmp = Comparison(
        [set_name],
        {},
        {},
        min_effect=min_effect,
        alpha=alpha,
        design=IN_RUN,
        reference=base,
        plan_rounds=plan_rounds,
        ordered_by="base, candidate",
    )
    samples = Samples(data)
    family = family_of(phases, metrics)
    rows = []
    for ph in phases:
        if not (samples.has(set_name, candidate, ph) and samples.has(set_name, base, ph)):
            continue
        r = samples.ratios(set_name, candidate, base, ph)
        row = Row(
            candidate,
            ph,
            base,
            candidate,
            len(r),
            len(r),
            samples.failures(set_name, base, ph),
            samples.failures(set_name, candidate, ph),
            _median(samples.durations(set_name, base, ph)),
            _median(samples.durations(set_name, candidate, ph)),
            family=ph in family,
            reference=base,
        )
        est = effects.paired(np.log(r)) if len(r) >= 3 else None
        if est is None:
            row.note = "too few rounds where both succeeded"
        rows.append((row, est))
    _decide(cmp, rows)
    _finish(cmp)
    return cmp


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else math.nan


def _finish(cmp: Comparison) -> None:
    if cmp.design in (TWO_RUNS, SERIES) and not cmp.reference:
        _host_shift(cmp)
    if any(r.method == "samples" for r in cmp.rows):
        cmp.notes.append(
            f"rows with fewer than {effects.BATCHES * effects.MIN_BATCH} successful samples a side take samples as "
            "independent (too few to allow for drift within a run): their CIs may be too narrow"
        )
    if cmp.design in (TWO_RUNS, SERIES):
        cmp.notes.append(
            "two runs in sequence share no moment of the host: whatever shifted the whole host between them is "
            "in these ratios, and 'detectable' allows only for variation within each run; a reference mode "
            "(--reference) or several runs a side (A1 A2 -- B1 B2) take the host out"
        )
    if not cmp.rows:
        held = "; ".join(f"{s} has only {', '.join(m)}" for s, m in cmp.only_in.items())
        raise UserError(
            f"nothing to compare: the sets share no mode with measured samples ({held or 'none has any'}): "
            "compare runs of the same modes."
        )
