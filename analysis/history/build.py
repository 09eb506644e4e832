"""The history of every host: its sets in time order, each mode's and metric's series of levels, the
changes and drift found in them, what changed at each, and whether a change is still open.

A change is open when it lies after the host's accepted baseline: the set named in
results/<host>/history-baseline (one line), or, without that file, the host's first set.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Optional, Sequence, Union

from analysis.cache import short_reason
from analysis.claims import Claim
from analysis.history.attribute import Attribution, attribute
from analysis.history.changes import Change, find_changes
from analysis.history.discover import SetData, SetInfo, Unreadable, find_sets, read_one
from analysis.history.drift import WINDOW, Drift, find_drift
from analysis.history.reports import ClaimVerdict, SetReport, write_report
from analysis.history.setstats import Level, set_levels
from analysis.series import get, order_sets, version_key
from bench.core.errors import UserError
from bench.results.resultset import ResultFileError

BASELINE_FILE = "history-baseline"


@dataclass(frozen=True)
class Settings:
    min_effect: float = 0.05
    alpha: float = 0.05
    window: int = WINDOW
    seed: int = 0
    reference: str = ""  # a mode: every other mode's level is its per-round ratio to this one

    @property
    def unit(self) -> str:
        return f"× {self.reference}" if self.reference else "ms"


@dataclass(frozen=True)
class Point:
    set: str
    level: Level


@dataclass(frozen=True)
class Found:
    """A change placed in its host's history: the sets either side and what changed between them."""

    host: str
    mode: str
    metric: str
    change: Change
    before: str  # the last set of the old level
    at: str  # the first set of the new level
    attribution: Attribution
    open: bool
    newest: bool  # the host's newest set starts it


@dataclass(frozen=True)
class Series:
    host: str
    mode: str
    metric: str
    points: tuple[Point, ...]
    changes: tuple[Found, ...]
    drift: Optional[Drift]


@dataclass(frozen=True)
class HostSet:
    info: SetInfo
    report: SetReport
    factor: str  # the value of the factor the host's sets differ in ("" when none does)


@dataclass(frozen=True)
class HostHistory:
    host: str
    sets: tuple[HostSet, ...]  # in time order
    factor_order: tuple[str, ...]  # the set names as compare's series orders them
    ordered_by: str
    series: tuple[Series, ...]
    baseline: str

    @property
    def newest(self) -> HostSet:
        return self.sets[-1]

    def timeline(self, metric: str) -> str:
        return f"hosts/{self.host}/{metric.replace(' ', '_').replace('=', '')}.html"

    @property
    def metrics(self) -> list[str]:
        return sorted({s.metric for s in self.series}, key=lambda m: (m != "startup", m))


@dataclass(frozen=True)
class History:
    hosts: tuple[HostHistory, ...]
    unreadable: tuple[Unreadable, ...]
    settings: Settings

    @property
    def changes(self) -> list[Found]:
        every = [f for h in self.hosts for s in h.series for f in s.changes]
        when = {(h.host, s.info.name): s.info.created_ns for h in self.hosts for s in h.sets}
        return sorted(every, key=lambda f: (when[(f.host, f.at)], f.host, f.mode, f.metric), reverse=True)


@dataclass(frozen=True)
class _Read:
    info: SetInfo
    levels: tuple[Level, ...]
    report: SetReport


def _timeline_href(host: str) -> str:
    return f"hosts/{host}/startup.html"


PARALLEL_FROM = 64  # sets: below this, starting worker processes costs more than it saves


def read_path(
    path: Path, site: Optional[Path], claims: list[Claim], figures: bool, reference: str = ""
) -> Union[_Read, Unreadable]:
    """One set's levels and report (in a worker process: only this small record travels back)."""
    item = read_one(path)
    if isinstance(item, Unreadable):
        return item
    try:
        return _Read(item.info, set_levels(item.frame, reference), _report(item, site, claims, figures))
    except (UserError, ResultFileError) as exc:
        return Unreadable(path, f"cannot be analysed: {short_reason(exc)}")
    except Exception as exc:  # noqa: BLE001 - one odd set must leave the rest of the site standing
        return Unreadable(path, f"cannot be analysed ({type(exc).__name__}: {short_reason(exc)})")


def read_sets(
    root: Path, site: Optional[Path], claims: list[Claim], figures: bool, reference: str = ""
) -> tuple[list[_Read], list[Unreadable]]:
    """Every set's levels (and its report in the site), one frame per process in memory at a time. Sets
    are independent, so many are read by one worker process per core (spawned: no fork of pyarrow's threads)."""
    paths = find_sets(root)
    if not paths:
        raise UserError(f"no result set under {root}: run `make bench` first, or pass the folder that holds them.")
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_FROM or workers < 2:
        items = [read_path(p, site, claims, figures, reference) for p in paths]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            job = partial(read_path, site=site, claims=claims, figures=figures, reference=reference)
            items = list(pool.map(job, paths, chunksize=16))
    good = [i for i in items if isinstance(i, _Read)]
    return good, [i for i in items if isinstance(i, Unreadable)]


def _report(item: SetData, site: Optional[Path], claims: list[Claim], figures: bool) -> SetReport:
    if site is None:
        return SetReport("", (), "")
    return write_report(item, site, claims, figures, _timeline_href(item.info.host))


def _baseline(root: Path, host: str, names: list[str]) -> str:
    try:
        wanted = (root / host / BASELINE_FILE).read_text().strip()
    except OSError:
        return names[0]
    return wanted if wanted in names else names[0]


def _factor_order(sets: list[_Read]) -> tuple[tuple[str, ...], str, dict[str, str]]:
    headers = {s.info.name: s.info.header for s in sets}
    names = [s.info.name for s in sets]
    ordered, by = order_sets(headers, names) if len(names) >= 3 else (names, "start time")
    values = (
        {n: str(get(headers[n], by) or "") for n in names}
        if by.startswith(("engine", "host", "modes", "pa", "py"))
        else {}
    )
    return tuple(ordered), by, values


def _series(host: str, sets: list[_Read], baseline: str, settings: Settings) -> list[Series]:
    keys = sorted({(lv.mode, lv.metric) for s in sets for lv in s.levels})
    first_open = next(i for i, s in enumerate(sets) if s.info.name == baseline) + 1
    out = []
    for mode, metric in keys:
        held = [(i, lv) for i, s in enumerate(sets) for lv in s.levels if lv.mode == mode and lv.metric == metric]
        levels = [lv for _, lv in held]
        at = [i for i, _ in held]
        changes = find_changes(levels, settings.min_effect, settings.alpha, settings.seed)
        found = []
        for c in changes:
            old, new = sets[at[c.index - 1]].info, sets[at[c.index]].info
            why = attribute(old.header, new.header, mode)
            found.append(
                Found(
                    host,
                    mode,
                    metric,
                    c,
                    old.name,
                    new.name,
                    why,
                    at[c.index] >= first_open,
                    at[c.index] == len(sets) - 1,
                )
            )
        drift = find_drift(levels, changes, settings.min_effect, settings.alpha, settings.window)
        points = tuple(Point(sets[i].info.name, lv) for i, lv in held)
        out.append(Series(host, mode, metric, points, tuple(found), drift))
    return out


def _host_wide(series: list[Series]) -> list[Series]:
    """As compare does for two runs: when every mode of a metric changed at the same set the same way,
    the host (or a factor every mode shares) moved, not one mode; the attribution says so."""
    out = []
    for s in series:
        peers = [p for p in series if p.metric == s.metric]
        found = []
        for f in s.changes:
            same = [
                g for p in peers for g in p.changes if g.at == f.at and (g.change.ratio > 1) == (f.change.ratio > 1)
            ]
            if len(peers) > 1 and len(same) == len(peers):
                note = "; every mode moved at this set: a host-wide shift, or a factor all modes share"
                f = replace(f, attribution=replace(f.attribution, sentence=f.attribution.sentence + note))
            found.append(f)
        out.append(replace(s, changes=tuple(found)))
    return out


def build_history(
    root: Path,
    site: Optional[Path] = None,
    claims: Sequence[Claim] = (),
    settings: Settings = Settings(),
    figures: bool = False,
) -> History:
    """The history of every host under ``root``; with ``site``, each set's report is written there too."""
    good, bad = read_sets(root, site, list(claims), figures, settings.reference)
    if settings.reference and not any(settings.reference in r.info.header.modes for r in good):
        raise UserError(
            f"--reference {settings.reference}: no set under {root} has that mode: name a mode the sets measured."
        )
    by_host: dict[str, list[_Read]] = {}
    for r in good:
        by_host.setdefault(r.info.host, []).append(r)
    hosts = []
    for host in sorted(by_host):
        sets = sorted(by_host[host], key=lambda r: (r.info.created_ns, r.info.name))
        order, by, values = _factor_order(sets)
        baseline = _baseline(root, host, [s.info.name for s in sets])
        series = _host_wide(_series(host, sets, baseline, settings))
        host_sets = tuple(HostSet(s.info, s.report, values.get(s.info.name, "")) for s in sets)
        hosts.append(HostHistory(host, host_sets, order, by, tuple(series), baseline))
    return History(tuple(hosts), tuple(bad), settings)


def verdict_text(verdicts: tuple[ClaimVerdict, ...]) -> str:
    return ", ".join(f"{v.claim}: {v.verdict}" for v in verdicts) or "no claim applies"


def sort_key(value: str) -> tuple:
    return version_key(value)


def finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)
