"""Derived metrics (startup = create + start + ready, cycle = all six; for cold cycles also
cold_startup = engine_up + create + start + ready) per cycle.

A derived value exists only when every phase it sums succeeded; otherwise the
cycle counts as a failure of the derived metric, with the first failed
phase's reason. Appended to the frame as rows with ``phase`` = metric name.
Vectorised with numpy (a million samples in well under a second).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import CATEGORICAL
from bench.phases import COLD, COLD_DERIVED, DERIVED, ENGINE_PHASES, PHASES, WARM


def _cycle_keys(frame: pd.DataFrame) -> np.ndarray:
    """One integer per (set, round, mode): the cycle a sample belongs to."""
    set_c = frame["set"].cat.codes.to_numpy(np.int64)
    mode_c = frame["mode"].cat.codes.to_numpy(np.int64)
    rnd = frame["round"].to_numpy(np.int64)
    rnd = rnd - rnd.min() if len(rnd) else rnd
    n_modes = int(mode_c.max()) + 1 if len(mode_c) else 1
    n_rounds = int(rnd.max()) + 1 if len(rnd) else 1
    return (set_c * n_rounds + rnd) * n_modes + mode_c


def with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame plus one row per cycle and derived metric."""
    base = frame[frame["phase"].isin(PHASES + ENGINE_PHASES)].reset_index(drop=True)
    if base.empty:
        return frame
    keys, cycle = pd.factorize(_cycle_keys(base))
    n = len(cycle)
    _, first = np.unique(keys, return_index=True)
    phase = base["phase"].astype(object).to_numpy()
    dur = base["duration_ms"].to_numpy(float)
    ok = base["ok"].to_numpy(bool)
    err = base["error"].astype(object).to_numpy()
    failed_real = ~ok & (err != "not_run")
    first_fail = np.full(n, -1)
    fk, fidx = np.unique(keys[failed_real], return_index=True)
    first_fail[fk] = np.flatnonzero(failed_real)[fidx]
    parts_out = []
    cycle_is_cold = np.zeros(n, dtype=bool)
    cycle_is_cold[keys] = (base["scenario"] == COLD).to_numpy(bool)
    metrics = [(m, p, None) for m, p in DERIVED.items()] + [(m, p, cycle_is_cold) for m, p in COLD_DERIVED.items()]
    for metric, parts, only in metrics:
        mask = np.isin(phase, parts)
        k = keys[mask]
        total = np.bincount(k, weights=np.nan_to_num(dur[mask]), minlength=n)
        n_ok = np.bincount(k, weights=ok[mask], minlength=n)
        n_all = np.bincount(k, minlength=n)
        good = (n_ok == len(parts)) & (n_all == len(parts))
        fail_at = first_fail.copy()
        fail_at[good] = -1
        out = base.iloc[first][["set", "round", "pos", "mode", "role", "warmup", "wall_ns", "scenario"]].reset_index(drop=True)
        out["phase"] = metric
        out["duration_ms"] = np.where(good, total, np.nan)
        out["ok"] = good
        out["error"] = np.where(fail_at >= 0, err[np.maximum(fail_at, 0)], None)
        parts_out.append(out if only is None else out[only])
    derived = pd.concat(parts_out, ignore_index=True)
    combined = pd.concat([frame, derived[frame.columns]], ignore_index=True)
    for col in CATEGORICAL:
        if combined[col].dtype != "category":
            combined[col] = combined[col].astype("category")
    return combined


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
