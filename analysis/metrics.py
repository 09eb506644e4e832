"""Derived metrics (startup = create + start + ready, cycle = all six) per cycle.

A derived value exists only when every phase it sums succeeded; otherwise the
cycle counts as a failure of the derived metric, with the first failed
phase's reason. Appended to the frame as rows with ``phase`` = metric name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.phases import DERIVED

KEYS = ["set", "round", "mode"]


def with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame plus one row per cycle and derived metric."""
    base = frame[frame["phase"].isin(DERIVED["cycle"])]
    if base.empty:
        return frame
    extra = []
    first = base.drop_duplicates(KEYS)[KEYS + ["pos", "role", "warmup", "wall_ns", "cid"]].set_index(KEYS)
    for metric, parts in DERIVED.items():
        sub = base[base["phase"].isin(parts)]
        grouped = sub.groupby(KEYS, observed=True, sort=False)
        total = grouped["duration_ms"].sum(min_count=1)
        n_ok = grouped["ok"].sum()
        n = grouped["ok"].size()
        failed_err = (sub[~sub["ok"] & (sub["error"] != "not_run")]
                      .drop_duplicates(KEYS).set_index(KEYS)["error"].astype("string"))
        out = first.loc[total.index].copy()
        ok = (n_ok == len(parts)) & (n == len(parts))
        out["duration_ms"] = np.where(ok, total, np.nan)
        out["ok"] = ok.to_numpy()
        out["error"] = failed_err.reindex(total.index).where(~ok, None)
        out["phase"] = metric
        extra.append(out.reset_index())
    derived = pd.concat(extra, ignore_index=True)
    combined = pd.concat([frame.astype({c: "object" for c in ("set", "mode", "role", "phase", "error")}),
                          derived.astype({c: "object" for c in ("set", "mode", "role", "phase", "error")})],
                         ignore_index=True)
    for col in ("set", "mode", "role", "phase", "error"):
        combined[col] = combined[col].astype("category")
    return combined[frame.columns]


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples outside warm-up: what statistics are computed on."""
    return frame[~frame["warmup"]]
