"""Result sets side by side: what changed between versions, with significance.

Per mode and phase: old and new median, new/old ratio with a 95% CI, a
Mann-Whitney U test, Holm correction across every comparison, and a verdict
faster / slower / unchanged / inconclusive (a change must pass the test *and*
a minimum factor). The factor under study is named from what differs in the
headers; sets whose key metadata differ (host, CPU, image) are refused unless
forced, since then the comparison would not isolate one factor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from analysis import stats
from analysis.load import Loaded
from bench.errors import UserError

VERDICT_OF_EFFECT = {"slower": "slower", "faster": "faster", "equivalent": "unchanged", "unchanged": "unchanged",
                     "unclear": "inconclusive"}


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


# Must match for a comparison to mean anything (else --force).
KEY_METADATA = ("host.hostname", "host.cpu_model", "host.cpu_count", "host.memory_bytes")
KEY_MODE_METADATA = ("image.id", "requested.runtime", "requested.isolation", "role")
# What a comparison usually studies: reported when it differs.
FACTORS = ("host.kernel", "host.os_version", "host.currentbuild", "host.ubr", "host.distribution.version_id",
           "python.version", "packages.docker", "packages.isobench")
MODE_FACTORS = ("engine.version", "engine.api_version", "api_version", "engine.kernel", "engine.storage_driver",
                "engine.components.runc", "engine.components.containerd", "engine.cgroup_version", "runtime_reported",
                "isolation_reported", "endpoint.scheme")


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
    verdict: str = "inconclusive"
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

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.rows])

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "slower"]


def metadata_differences(loaded: Loaded, sets: list[str]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """(factors that differ, key metadata that differ), each key -> one value per set."""
    headers = [loaded.headers[s] for s in sets]
    modes = sorted(set.intersection(*(set(h.get("modes", {})) for h in headers)))
    factors: dict[str, list[Any]] = {}
    mismatches: dict[str, list[Any]] = {}

    def note(target: dict[str, list[Any]], key: str, values: list[Any]) -> None:
        if len({repr(v) for v in values}) > 1:
            target[key] = values

    for key in KEY_METADATA:
        note(mismatches, key, [_get(h, key) for h in headers])
    for key in FACTORS:
        note(factors, key, [_get(h, key) for h in headers])
    for m in modes:
        for key in KEY_MODE_METADATA:
            note(mismatches, f"modes.{m}.{key}", [_get(h["modes"][m], key) for h in headers])
        for key in MODE_FACTORS:
            note(factors, f"modes.{m}.{key}", [_get(h["modes"][m], key) for h in headers])
    return factors, mismatches


def compare(loaded: Loaded, frame: pd.DataFrame, sets: Optional[list[str]] = None, min_effect: float = 0.05,
            alpha: float = 0.05, force: bool = False) -> Comparison:
    """Compares consecutive sets (old -> new; a series for more than two).

    ``frame``: measured samples with derived metrics, from ``loaded`` (cold cycles, if any,
    under their own phase names: analysis.metrics.cold_phases_apart).
    """
    sets = sets or list(loaded.headers)
    if len(sets) < 2:
        raise UserError("compare needs at least two result sets: pass OLD and NEW.")
    factors, mismatches = metadata_differences(loaded, sets)
    if mismatches and not force:
        lines = "; ".join(f"{k}: {' vs '.join(map(str, v))}" for k, v in mismatches.items())
        raise UserError(f"these result sets differ in key metadata, so a comparison would not isolate one factor ({lines}): "
                        "compare sets from the same host and image, or pass --force.")
    cmp = Comparison(sets, factors, mismatches, min_effect=min_effect, alpha=alpha)
    data = frame[~frame["warmup"]]
    groups = {key: g for key, g in data.groupby(["set", "mode", "phase"], observed=True)}
    pending: list[tuple[Row, np.ndarray, np.ndarray]] = []
    for old, new in zip(sets, sets[1:]):
        modes_old = set(map(str, data.loc[data["set"] == old, "mode"].unique()))
        modes_new = set(map(str, data.loc[data["set"] == new, "mode"].unique()))
        for m in sorted(modes_old ^ modes_new):
            cmp.only_in.setdefault(old if m in modes_old else new, []).append(m)
        phases = sorted(map(str, data["phase"].unique()))
        for m in sorted(modes_old & modes_new):
            for ph in phases:
                go, gn = groups.get((old, m, ph)), groups.get((new, m, ph))
                if go is None or gn is None:
                    continue
                a = go.loc[go["ok"], "duration_ms"].to_numpy()
                b = gn.loc[gn["ok"], "duration_ms"].to_numpy()
                row = Row(m, ph, old, new, len(a), len(b), int((~go["ok"]).sum()), int((~gn["ok"]).sum()),
                          float(np.median(a)) if len(a) else math.nan, float(np.median(b)) if len(b) else math.nan)
                cmp.rows.append(row)
                if len(a) < 3 or len(b) < 3:
                    row.note = "too few successful samples to compare"
                    continue
                row.ratio, row.ci_low, row.ci_high = stats.ratio_ci(a, b, paired=False)
                _, row.p = stats.rank_test(a, b, paired=False)
                pending.append((row, a, b))
    for (row, _, _), adj in zip(pending, stats.holm([r.p for r, _, _ in pending])):
        row.p_adjusted = adj
        row.verdict = VERDICT_OF_EFFECT[stats.decide(row.ratio, row.ci_low, row.ci_high, adj, alpha, min_effect)]
    return cmp
