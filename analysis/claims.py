"""Claims are data: a ranking over roles (or modes) on a metric, checked pair by pair.

For each ordered pair (faster-claimed `base`, slower-claimed `other`): the ratio
of medians with a 95% bootstrap CI, a rank test (paired by round where both
modes ran in the same rounds, since rounds are interleaved; unpaired
otherwise), Holm correction across the claim's pairs, and a minimum effect
the difference must also clear. Timings use successes only, and a mode whose
failure rate is over the limit makes its pairs untestable: a mode cannot win
by failing fast.

Verdicts: supported, contradicted (the reverse holds, or the two are
equivalent within the minimum effect), inconclusive (the data do not decide),
untestable (a role is missing or has too few successes).
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from analysis import cost, scale, scenarios, service, stats
from analysis.scenarios.base import GROUPS, SERVICES
from bench.core.costs import CPU_PHASES
from bench.core.errors import UserError
from bench.core.paths import CLAIMS_FILE
from bench.core.phases import WARM

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXIT_CODES = {"supported": 0, "contradicted": 1, "inconclusive": 3, "untestable": 3}


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    metric: str
    order: tuple[str, ...]  # fastest first
    by: str = "role"  # "role" or "mode"
    min_effect: float = 0.05
    alpha: float = 0.05
    max_failure_rate: float = 0.10
    min_samples: int = 10
    source: str = ""
    # Which cycles: "warm" (the engine already up) or "cold" (engine started first), or a scale
    # scenario ("burst", "rate", "density") at one `level` (burst size N, rate, containers running).
    scenario: str = "warm"
    level: Optional[float] = None
    # "median": the order ranks medians; "slowdown": it ranks p50(level) / p50(baseline_level),
    # smallest first (how much each slows down as the level grows).
    statistic: str = "median"
    baseline_level: Optional[float] = None
    # true: each pair must differ (a ranking); false: "at least" (a pair shown equal within the
    # minimum effect also holds).
    strict: bool = True


@dataclass
class PairResult:
    base: str
    other: str
    base_mode: Optional[str]
    other_mode: Optional[str]
    verdict: str
    reason: str
    n_base: int = 0
    n_other: int = 0
    median_base: float = math.nan
    median_other: float = math.nan
    ratio: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    test: str = ""
    paired: bool = False
    p: float = math.nan
    p_adjusted: float = math.nan
    effect: str = ""
    failure_rate_base: float = math.nan
    failure_rate_other: float = math.nan


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    reason: str
    pairs: list[PairResult] = field(default_factory=list)
    modes: dict[str, Optional[str]] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "claim": asdict(self.claim),
            "verdict": self.verdict,
            "reason": self.reason,
            "modes": self.modes,
            "pairs": [asdict(p) for p in self.pairs],
        }


_CLAIM_KEYS = {f for f in Claim.__dataclass_fields__}


def parse_claims(data: Any, source: str) -> list[Claim]:
    items = data.get("claim") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise UserError(f"{source}: no [[claim]] tables: add at least one claim.")
    out = []
    for i, raw in enumerate(items):
        where = f"{source}: claim[{i}]"
        if not isinstance(raw, dict):
            raise UserError(f"{where} must be a table.")
        unknown = set(raw) - _CLAIM_KEYS
        if unknown:
            raise UserError(
                f"{where}: unknown key {sorted(unknown)[0]!r}: known keys are {', '.join(sorted(_CLAIM_KEYS))}."
            )
        order = raw.get("order")
        if not isinstance(order, list) or len(order) < 2 or not all(isinstance(o, str) and o for o in order):
            raise UserError(f"{where}: order must list at least two role or mode names, fastest first.")
        if raw.get("by", "role") not in ("role", "mode"):
            raise UserError(f'{where}: by must be "role" or "mode".')
        if raw.get("scenario", WARM) not in scenarios.registry():
            names = ", ".join(scenarios.registry())
            raise UserError(f"{where}: scenario must be one of {names}, not {raw.get('scenario')!r}.")
        _check_selector(raw, where)
        for key in ("min_effect", "alpha", "max_failure_rate"):
            v = raw.get(key, 0.05)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise UserError(f"{where}: {key} must be a number from 0 to below 1, not {v!r}.")
        try:
            out.append(Claim(**{**raw, "order": tuple(order)}))
        except TypeError as exc:
            raise UserError(f"{where}: {exc}.") from None
    return out


def _check_selector(raw: dict[str, Any], where: str) -> None:
    """The scale selector: a level for scale scenarios, a baseline level for slowdowns."""
    for key in ("level", "baseline_level"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise UserError(f"{where}: {key} must be a number greater than 0, not {v!r}.")
    if raw.get("statistic", "median") not in ("median", "slowdown"):
        raise UserError(f'{where}: statistic must be "median" or "slowdown", not {raw.get("statistic")!r}.')
    if raw.get("statistic") == "slowdown" and (raw.get("level") is None or raw.get("baseline_level") is None):
        raise UserError(
            f"{where}: a slowdown claim needs level and baseline_level (e.g. level = 8, baseline_level = 1)."
        )
    if raw.get("level") is not None and not scenarios.of(raw.get("scenario", WARM)).levels:
        raise UserError(
            f"{where}: level selects a level (a burst size, a rate, an image size): set scenario to burst, rate, "
            "density, size or first-start."
        )
    if not isinstance(raw.get("strict", True), bool):
        raise UserError(f"{where}: strict must be true or false.")


def load_claims(path: Path = CLAIMS_FILE) -> list[Claim]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"claims file {path} does not exist: pass --claims with a TOML file of [[claim]] tables."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"claims file {path} is not valid TOML ({exc}): fix the syntax there.") from None
    return parse_claims(data, str(path))


def _resolve(
    frame: pd.DataFrame, claim: Claim, skipped: Optional[Mapping[str, Any]] = None
) -> tuple[dict[str, Optional[str]], dict[str, str]]:
    """Claim names -> the mode that plays each, and why a name has none (a mode that
    preflight skipped says why it was skipped)."""
    modes: dict[str, Optional[str]] = {}
    why: dict[str, str] = {}
    present = frame[["mode", "role"]].drop_duplicates()
    for name in claim.order:
        if claim.by == "mode":
            found = sorted(present.loc[present["mode"] == name, "mode"].astype(str).unique())
        else:
            found = sorted(present.loc[present["role"] == name, "mode"].astype(str).unique())
        if len(found) == 1:
            modes[name] = found[0]
        elif not found:
            modes[name] = None
            why[name] = f"no mode plays {claim.by} {name!r} in these results"
            for mode, rec in (skipped or {}).items():
                if (claim.by == "mode" and mode == name) or (claim.by == "role" and rec.get("role") == name):
                    why[name] += f" ({mode} was skipped: {rec.get('skip_reason')})"
        else:
            modes[name] = None
            why[name] = (
                f'{len(found)} modes play role {name!r} ({", ".join(found)}): name them in a claim with by = "mode"'
            )
    return modes, why


def _pair_values(
    data: pd.DataFrame, claim: Claim, pr: PairResult, modes: dict[str, Optional[str]], why: dict[str, str]
) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """The two samples a pair is tested on (paired by round where the rounds allow), with the pair's
    failure rates, counts and medians filled in; None with ``pr.reason`` set when it cannot be tested."""
    base, other = pr.base, pr.other
    missing = [why[n] for n in (base, other) if n in why]
    if missing:
        pr.reason = missing[0]
        return None
    rows = {n: data[data["mode"] == modes[n]] for n in (base, other)}
    for n, attr in ((base, "failure_rate_base"), (other, "failure_rate_other")):
        setattr(pr, attr, float((~rows[n]["ok"]).mean()) if len(rows[n]) else math.nan)
    ok = {n: rows[n].loc[rows[n]["ok"], "duration_ms"].to_numpy() for n in (base, other)}
    pr.n_base, pr.n_other = len(ok[base]), len(ok[other])
    if len(ok[base]):
        pr.median_base = float(np.median(ok[base]))
    if len(ok[other]):
        pr.median_other = float(np.median(ok[other]))
    bad = [(n, getattr(pr, a)) for n, a in ((base, "failure_rate_base"), (other, "failure_rate_other"))
           if getattr(pr, a) > claim.max_failure_rate]  # fmt: skip
    if bad:
        n, rate = bad[0]
        pr.reason = (f"{claim.by} {n!r} ({modes[n]}) failed {rate:.0%} of its cycles, over the "
                     f"{claim.max_failure_rate:.0%} limit: its timings cannot rank it")  # fmt: skip
        return None
    few = [n for n in (base, other) if len(ok[n]) < claim.min_samples]
    if few:
        pr.reason = f"{claim.by} {few[0]!r} has {len(ok[few[0]])} successful samples, fewer than {claim.min_samples}"
        return None
    mode_base, mode_other = modes[base], modes[other]
    pairing = scenarios.of(claim.scenario).pairing
    if pairing == GROUPS:  # a round holds whole bursts, not one cycle per mode: nothing to pair
        return ok[base], ok[other]
    if pairing == SERVICES:  # tasks of one service are not independent: services are compared
        return _services(data, claim, pr, mode_base, mode_other)
    paired = None if mode_base is None or mode_other is None else \
        stats.paired_values(data, mode_base, mode_other, claim.metric)  # fmt: skip
    if paired is not None and len(paired[0]) >= claim.min_samples:
        pr.paired = True
        return paired
    return ok[base], ok[other]


def _services(
    data: pd.DataFrame, claim: Claim, pr: PairResult, mode_base: Optional[str], mode_other: Optional[str]
) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """A service claim's values: per round (one replica count, one service per mode) each mode's median
    task, paired by round (analysis.service.paired_services). Too few such rounds cannot be tested:
    pooling tasks instead would count one service's tasks as independent draws."""
    paired = None
    if mode_base is not None and mode_other is not None:
        paired = service.paired_services(data, mode_base, mode_other, claim.metric)
    n = 0 if paired is None else len(paired[0])
    if paired is None or n < claim.min_samples:
        pr.reason = f"{n} rounds hold a successful service of both, fewer than {claim.min_samples}"
        return None
    pr.paired = True
    return paired


def check_claim(frame: pd.DataFrame, claim: Claim, skipped: Optional[Mapping[str, Any]] = None) -> ClaimResult:
    """``frame``: measured samples with derived metrics (analysis.metrics.with_derived);
    ``skipped``: the header's skipped modes, so a missing role says why it is missing."""
    data = _selected(frame, claim, claim.level)
    modes, why = _resolve(data, claim, skipped)
    if claim.level is not None:
        why = {n: f"{w} at {claim.scenario} level {claim.level:g}" for n, w in why.items()}
    pairs: list[PairResult] = []
    testable: list[PairResult] = []
    for base, other in itertools.combinations(claim.order, 2):
        pr = PairResult(base, other, modes[base], modes[other], "untestable", "")
        pairs.append(pr)
        if _measure_pair(frame, data, claim, pr, modes, why):
            testable.append(pr)
    for pr, adj in zip(testable, stats.holm([pr.p for pr in testable])):
        pr.p_adjusted = adj
        pr.effect = stats.decide(pr.ratio, pr.ci_low, pr.ci_high, adj, claim.alpha, claim.min_effect)
        pr.verdict, pr.reason = _pair_verdict(pr, claim)
    verdict, reason = _overall(pairs)
    return ClaimResult(claim, verdict, reason, pairs, modes)


def _selected(frame: pd.DataFrame, claim: Claim, level: Optional[float]) -> pd.DataFrame:
    """The claim's metric in its scenario outside warm-up, at ``level`` when given."""
    data = frame[(frame["phase"] == claim.metric) & ~frame["warmup"] & (frame["scenario"] == claim.scenario)]
    return data if level is None else data[np.isclose(data["level"].to_numpy(float), level)]


def _measure_pair(
    frame: pd.DataFrame,
    data: pd.DataFrame,
    claim: Claim,
    pr: PairResult,
    modes: dict[str, Optional[str]],
    why: dict[str, str],
) -> bool:
    """The pair's ratio with its CI and its rank test; False (with ``pr.reason``) when it cannot be tested.
    Scale scenarios resample whole bursts for the CI (their containers share a burst's conditions)."""
    values = _pair_values(data, claim, pr, modes, why)
    if values is None:
        return False
    if claim.statistic == "slowdown":
        return _slowdown_pair(frame, claim, pr, modes)
    if scenarios.of(claim.scenario).pairing == GROUPS:
        ids = [data[(data["mode"] == modes[n]) & data["ok"]]["group"].to_numpy() for n in (pr.base, pr.other)]
        pr.ratio, pr.ci_low, pr.ci_high = scale.ratio_ci(values[0], ids[0], values[1], ids[1])
    else:
        pr.ratio, pr.ci_low, pr.ci_high = stats.ratio_ci(*values, pr.paired)
    pr.test, pr.p = stats.rank_test(*values, pr.paired)
    return True  # fmt: skip


def _slowdown_pair(frame: pd.DataFrame, claim: Claim, pr: PairResult, modes: dict[str, Optional[str]]) -> bool:
    """Each side's slowdown p50(level) / p50(baseline level); the ratio other / base with a bootstrap CI
    over the four groups, and a rank test on each startup at the level divided by its mode's
    baseline median."""
    groups: dict[str, tuple[np.ndarray, Optional[np.ndarray]]] = {}
    for side, name in (("base", pr.base), ("other", pr.other)):
        for key, level in (("n", claim.level), ("1", claim.baseline_level)):
            rows = _selected(frame, claim, level)
            rows = rows[(rows["mode"] == modes[name]) & rows["ok"]]
            groups[f"{side}_{key}"] = (rows["duration_ms"].to_numpy(float), rows["group"].to_numpy())
    few = [k for k in ("base_1", "other_1") if len(groups[k][0]) < 3]
    if few:
        name = pr.base if few[0] == "base_1" else pr.other
        count = len(groups[few[0]][0])
        pr.reason = (
            f"{claim.by} {name!r} has {count} successful samples at level {claim.baseline_level:g}, fewer than 3"
        )
        return False
    pr.ratio, pr.ci_low, pr.ci_high = scale.slowdown_ratio_ci(groups)
    normal = {s: groups[f"{s}_n"][0] / np.median(groups[f"{s}_1"][0]) for s in ("base", "other")}
    pr.median_base, pr.median_other = float(np.median(normal["base"])), float(np.median(normal["other"]))
    pr.test, pr.p = stats.rank_test(normal["base"], normal["other"], paired=False)
    return True


def _pair_verdict(pr: PairResult, claim: Claim) -> tuple[str, str]:
    what = f"slowdown x{pr.median_other:.2f} vs x{pr.median_base:.2f}: " if claim.statistic == "slowdown" else ""
    numbers = what + (
        f"{pr.other} / {pr.base} = {pr.ratio:.3f} (95% CI {pr.ci_low:.3f}-{pr.ci_high:.3f}), "
        f"{pr.test} p = {pr.p_adjusted:.2g} (Holm), minimum effect {claim.min_effect:.0%}"
    )
    if pr.effect == "slower":
        return "supported", f"{pr.base} is faster: {numbers}"
    if pr.effect == "faster":
        return "contradicted", f"{pr.other} is faster, against the claim: {numbers}"
    if pr.effect == "equivalent" and not claim.strict:
        return "supported", f"equal within the minimum effect, so {pr.other} is at least {pr.base}: {numbers}"
    if pr.effect == "equivalent":
        return "contradicted", f"no difference: the whole CI lies within the minimum effect, so no ranking: {numbers}"
    if pr.effect == "unchanged":
        return "inconclusive", f"no difference found (a larger one is not ruled out): {numbers}"
    return "inconclusive", f"the data do not decide: {numbers}"


def _overall(pairs: list[PairResult]) -> tuple[str, str]:
    verdicts = [p.verdict for p in pairs]
    for v in ("contradicted", "untestable", "inconclusive"):
        if v in verdicts:
            first = next(p for p in pairs if p.verdict == v)
            return v, f"{first.base} < {first.other}: {first.reason}"
    return "supported", "every pair holds: " + "; ".join(f"{p.base} < {p.other} by x{p.ratio:.2f}" for p in pairs)


def applicable(frame: pd.DataFrame, claims: list[Claim], cpu: Optional[pd.DataFrame] = None) -> list[Claim]:
    """The claims to check: a claim about a scenario the set never ran (cold claims on a
    warm-only run, and the reverse) is left out rather than reported untestable in every
    report. With no samples at all, the warm claims stay, to say so. A CPU claim (issue 23)
    likewise only where the set measured that CPU (``cpu``: cost rows as metrics): sets before
    it, remote engines."""
    present = set(map(str, frame["scenario"].unique())) if len(frame) else {WARM}  # unique first: no million strings
    measured = set(map(str, cpu["phase"].unique())) if cpu is not None and len(cpu) else set()
    return [c for c in claims if c.scenario in present and (c.metric not in CPU_PHASES or c.metric in measured)]


def check_all(
    frame: pd.DataFrame,
    claims: list[Claim],
    skipped: Optional[Mapping[str, Any]] = None,
    costs: Optional[pd.DataFrame] = None,
) -> list[ClaimResult]:
    """``frame``: non-warm-up samples of every scenario, with derived metrics; ``costs``: the cost table
    (analysis.load), whose CPU figures a CPU claim is checked on, never the samples."""
    cpu = cost.as_metric_rows(costs[~costs["warmup"]]) if costs is not None else None
    return [check_claim(cpu if c.metric in CPU_PHASES and cpu is not None else frame, c, skipped)
            for c in applicable(frame, claims, cpu)]  # fmt: skip
