"""Derived metrics (startup = create + start + ready, cycle = all six) per cycle, and those a scenario
declares for its own cycles (ScenarioAnalysis.derived, collected from analysis.scenarios.registry(): cold's
cold_startup = engine_up + create + start + ready, rate's arrival_startup, first-start's first_start).

A derived value exists only when every phase it sums succeeded; otherwise the
cycle counts as a failure of the derived metric, with the first failed
phase's reason. Appended to the frame as rows with ``phase`` = metric name.
Vectorised with numpy (a million samples in well under a second).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from analysis import scenarios
from bench.core.phases import ALL_PHASES, COLD, DERIVED, ENGINE_PHASES, SCALE_SCENARIOS, WARM


def scenario_derived() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Metric -> (the scenario whose cycles it is computed for, the phases summed), from every scenario's
    analysis record; a metric two scenarios (or a scenario and DERIVED) claim is a programming error."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, analysis in scenarios.registry().items():
        for metric, parts in analysis.derived.items():
            if metric in out or metric in DERIVED:
                raise ValueError(f"derived metric {metric!r} of scenario {name!r} is declared twice")
            out[metric] = (name, tuple(parts))
    return out


def _codes(col: pd.Series, names: Iterable[str]) -> np.ndarray:
    """The category codes of ``names`` in a categorical column (names it lacks are left out)."""
    wanted = set(names)
    return np.asarray([i for i, c in enumerate(col.cat.categories) if str(c) in wanted], dtype=np.int64)


def _cycle_keys(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """One integer per (set, round, mode, group, slot): the cycle each of ``rows`` belongs to (a
    scale scenario's containers share a round and mode, and differ in their group and slot)."""
    key = np.zeros(len(rows), dtype=np.int64)
    for col in ("set", "round", "mode", "group", "slot"):
        values = frame[col]
        part = (values.cat.codes if isinstance(values.dtype, pd.CategoricalDtype) else values).to_numpy(np.int64)[rows]
        part = part - part.min() if len(part) else part
        key = key * (int(part.max()) + 1 if len(part) else 1) + part
    return key


def _sorted_present(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """A categorical of the values present, categories sorted: what ``astype("category")``
    gives for the object column the earlier ``pd.concat`` made, without building it."""
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(categories)))
    cats = categories[used] if len(used) else pd.Index([], dtype=object)  # as astype does for all-null
    order = np.argsort(np.asarray(cats, dtype=object), kind="stable")
    remap = np.full(len(categories) + 1, -1, dtype=np.int64)  # last slot: code -1 stays -1
    remap[used[order]] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[codes], dtype=pd.CategoricalDtype(cats[order]))


class _Cycles:
    """The real phase samples of a frame, grouped into cycles, as plain numpy arrays:
    categorical codes, not strings, so a million samples cost no Python per row."""

    def __init__(self, frame: pd.DataFrame) -> None:
        own = scenario_derived()
        # A cycle's phases: the common ones, the engine's restart (its stop can be a cold cycle's first
        # failure) and every phase a scenario's derived metric sums (a rate arrival's dispatch, a pull).
        phases = ALL_PHASES + ENGINE_PHASES + tuple(p for _, parts in own.values() for p in parts)
        self.rows = np.flatnonzero(np.isin(frame["phase"].cat.codes.to_numpy(), _codes(frame["phase"], phases)))
        self.keys, cycles = pd.factorize(_cycle_keys(frame, self.rows))
        self.n = len(cycles)
        _, self.first = np.unique(self.keys, return_index=True)  # first sample of each cycle
        self.phase = frame["phase"].cat.codes.to_numpy()[self.rows]
        self.dur = np.nan_to_num(frame["duration_ms"].to_numpy(float)[self.rows])  # NaN only where not ok
        self.ok = frame["ok"].to_numpy(bool)[self.rows]
        self.err = frame["error"].cat.codes.to_numpy(np.int64)[self.rows]
        failed_real = ~self.ok & ~np.isin(self.err, _codes(frame["error"], ["not_run"]))
        self.first_fail = np.full(self.n, -1)
        fk, fidx = np.unique(self.keys[failed_real], return_index=True)
        self.first_fail[fk] = np.flatnonzero(failed_real)[fidx]
        self.scenario = np.full(self.n, -1, dtype=np.int64)  # each cycle's scenario code
        self.scenario[self.keys] = frame["scenario"].cat.codes.to_numpy()[self.rows]
        self.scenarios = frame["scenario"]
        self.is_scale = np.isin(self.scenario, _codes(frame["scenario"], SCALE_SCENARIOS))
        self.own = {metric: name for metric, (name, _) in own.items()}
        # The `run` cycle shape (create, start, ready, wait, remove) is told by its `wait` phase.
        self.is_run = np.zeros(self.n, dtype=bool)
        self.is_run[self.keys[np.isin(self.phase, _codes(frame["phase"], ["wait"]))]] = True

    def wanted(self, metric: str) -> np.ndarray:
        """The cycles a derived metric is computed for: startup for every cycle; a scenario's own metric
        for that scenario's cycles (only a cold cycle has an engine restart, only a rate arrival a
        dispatch); cycle for those with all six phases (a scale container has no exec or stop)."""
        if metric in self.own:
            return np.isin(self.scenario, _codes(self.scenarios, [self.own[metric]]))
        if metric == "startup":
            return np.ones(self.n, dtype=bool)
        if metric == "run_cycle":
            return self.is_run
        return ~self.is_scale & ~self.is_run

    def metric(self, parts: np.ndarray, n_parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cycle: (total ms or NaN, all parts ok, error code of the first real failure or -1)."""
        mask = np.isin(self.phase, parts)
        k = self.keys[mask]
        total = np.bincount(k, weights=self.dur[mask], minlength=self.n)
        n_ok = np.bincount(k, weights=self.ok[mask], minlength=self.n)
        good = (n_ok == n_parts) & (np.bincount(k, minlength=self.n) == n_parts)
        fail_at = np.where(good, -1, self.first_fail)
        return np.where(good, total, np.nan), good, np.where(fail_at >= 0, self.err[np.maximum(fail_at, 0)], -1)


def with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame plus one row per cycle and derived metric (rows appended after the samples)."""
    if frame.empty:
        return frame
    cyc = _Cycles(frame)
    if not len(cyc.rows):
        return frame
    picks, names, durs, oks, errs = [], [], [], [], []
    derived = list(DERIVED.items()) + [(metric, parts) for metric, (_, parts) in scenario_derived().items()]
    for metric, parts in derived:
        dur, good, err = cyc.metric(_codes(frame["phase"], parts), len(parts))
        keep = cyc.wanted(metric)
        picks.append(cyc.rows[cyc.first[keep]])
        names.append((metric, int(keep.sum())))
        durs.append(dur[keep])
        oks.append(good[keep])
        errs.append(err[keep])
    return _append(frame, np.concatenate(picks), names, np.concatenate(durs), np.concatenate(oks), np.concatenate(errs))


def _append(
    frame: pd.DataFrame,
    src: np.ndarray,
    phases: list[tuple[str, int]],
    dur: np.ndarray,
    ok: np.ndarray,
    err: np.ndarray,
) -> pd.DataFrame:
    """The frame with derived rows appended: each copies its cycle's first sample (``src``)
    but for phase ((metric, row count) in order), duration, ok and error. Built column by
    column, since pd.concat would turn categoricals whose categories differ into a million
    Python strings."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if col == "phase":
            old = values.cat.categories.astype(object)
            cats = pd.Index(list(old) + sorted({m for m, _ in phases} - set(old)), dtype=object)
            new = np.repeat(cats.get_indexer([m for m, _ in phases]), [n for _, n in phases])
            codes = np.concatenate([values.cat.codes.to_numpy(np.int64), new])
            out[col] = _sorted_present(codes, pd.Index(cats, dtype=values.cat.categories.dtype))
        elif col == "error":
            codes = np.concatenate([values.cat.codes.to_numpy(np.int64), err])
            out[col] = _sorted_present(codes, values.cat.categories)
        elif col in ("duration_ms", "ok"):
            out[col] = np.concatenate([values.to_numpy(), dur if col == "duration_ms" else ok])
        elif isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            out[col] = pd.Categorical.from_codes(np.concatenate([codes, codes[src]]), dtype=values.dtype)
        else:
            arr = values.to_numpy()
            out[col] = np.concatenate([arr, arr[src]])
    return pd.DataFrame(out, copy=False)  # fresh arrays: consolidating them into 2-D blocks would copy each again


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Warm samples outside warm-up: what the summary, claims and comparisons are computed on."""
    return frame[~frame["warmup"] & (frame["scenario"] == WARM)]


def cold(frame: pd.DataFrame) -> pd.DataFrame:
    """Cold-scenario samples (engine stopped and started first): reported apart from warm ones."""
    return frame[frame["scenario"] == COLD]


def outside_warmup(frame: pd.DataFrame) -> pd.DataFrame:
    """Every scenario's samples outside warm-up: what claims are checked on (each claim
    picks its own scenario)."""
    return frame[~frame["warmup"]]


def cold_phases_apart(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples outside warm-up of both scenarios, with cold phases renamed ``cold <phase>``,
    for tables keyed by phase alone (compare), which must never pool cold with warm."""
    out = outside_warmup(frame)
    is_cold = (out["scenario"] == COLD).to_numpy()
    if not is_cold.any():
        return out
    phase = out["phase"].astype(str).to_numpy(copy=True)
    phase[is_cold] = np.char.add("cold ", phase[is_cold].astype(str))
    return out.assign(phase=pd.Categorical(phase))
