"""Result sets -> one tidy DataFrame: one row per sample, explicit dtypes.

Failed samples stay in the frame with their reason (timing statistics later
use successes only). Reading goes through ``bench.resultset`` so the file
format has one definition; errors name the file and line.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd

from bench.resultset import ResultFileError, ResultSet, iter_records

COLUMNS = ("set", "round", "pos", "mode", "role", "phase", "duration_ms", "ok", "error", "warmup", "wall_ns", "cid")
CATEGORICAL = ("set", "mode", "role", "phase", "error")


@dataclass
class Loaded:
    """The frame plus each set's header and end record (metadata the frame does not repeat)."""

    frame: pd.DataFrame
    headers: dict[str, dict[str, Any]]
    ends: dict[str, Optional[dict[str, Any]]]
    paths: dict[str, Path]
    warnings: list[str] = field(default_factory=list)


def set_name(path: Path) -> str:
    return Path(path).stem


_SAMPLE_KEYS = ("round", "pos", "mode", "phase", "duration_ns", "ok", "error", "warmup", "wall_ns", "cid")


def _read_columns(path: Path) -> tuple[dict[str, Any], dict[str, list], Optional[dict[str, Any]], list[str]]:
    """Streams one file into column lists (a million lines in seconds), checked by
    bench.resultset.iter_records like every other reader."""
    warns: list[str] = []
    header: dict[str, Any] = {}
    end: Optional[dict[str, Any]] = None
    cols: dict[str, list] = {k: [] for k in _SAMPLE_KEYS}
    append = [(k, cols[k].append) for k in _SAMPLE_KEYS]
    for kind, rec in iter_records(path, warns):
        if kind == "sample":
            for k, add in append:
                add(rec.get(k))
        elif kind == "header":
            header = rec
        else:
            end = rec if kind == "end" else None
    return header, cols, end, warns


def _frame(name: str, header: dict[str, Any], cols: dict[str, list]) -> pd.DataFrame:
    roles = {m: str(rec.get("role", "")) for m, rec in header.get("modes", {}).items()}
    n = len(cols["round"])
    dur = np.fromiter((np.nan if v is None else v for v in cols["duration_ns"]), dtype="float64", count=n) / 1e6
    mode = pd.Series(cols["mode"], dtype="string")
    return pd.DataFrame({
        "set": pd.Series([name] * n, dtype="string"),
        "round": np.asarray(cols["round"], dtype="int64"),
        "pos": np.asarray(cols["pos"], dtype="int64"),
        "mode": mode,
        "role": mode.map(roles).astype("string"),
        "phase": pd.Series(cols["phase"], dtype="string"),
        "duration_ms": dur,
        "ok": np.asarray(cols["ok"], dtype="bool"),
        "error": pd.Series(cols["error"], dtype="string"),
        "warmup": np.asarray(cols["warmup"], dtype="bool"),
        "wall_ns": np.asarray(cols["wall_ns"], dtype="int64"),
        "cid": pd.Series(cols["cid"], dtype="string"),
    })


def load(paths: Iterable[Path], warn: bool = True) -> Loaded:
    """Reads result sets into one frame. Two files of the same name are refused."""
    headers: dict[str, dict[str, Any]] = {}
    ends: dict[str, Optional[dict[str, Any]]] = {}
    where: dict[str, Path] = {}
    frames: list[pd.DataFrame] = []
    all_warnings: list[str] = []
    for path in paths:
        path = Path(path)
        name = set_name(path)
        if name in where:
            raise ResultFileError(f"{path} and {where[name]} have the same name: each result set is named by its time and host, so one of them is a copy.")
        header, cols, end, warns = _read_columns(path)
        headers[name], ends[name], where[name] = header, end, path
        frames.append(_frame(name, header, cols))
        all_warnings += warns
    if not frames:
        raise ResultFileError("no result set given: pass one or more .jsonl files from results/.")
    frame = pd.concat(frames, ignore_index=True)
    for col in CATEGORICAL:
        frame[col] = frame[col].astype("category")
    if warn:
        for w in all_warnings:
            _warnings.warn(w, stacklevel=2)
    return Loaded(frame, headers, ends, where, all_warnings)


def from_resultset(rs: ResultSet) -> pd.DataFrame:
    """A frame from an already-read ResultSet (tests, the synthetic benchmark)."""
    cols: dict[str, list] = {k: [s.get(k) for s in rs.samples] for k in _SAMPLE_KEYS}
    frame = _frame(set_name(rs.path), rs.header, cols)
    for col in CATEGORICAL:
        frame[col] = frame[col].astype("category")
    return frame
