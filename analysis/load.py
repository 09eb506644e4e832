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

from analysis.fastread import read_fast
from bench.phases import WARM
from bench.resultset import ResultFileError, parse

# Container ids stay in the raw data; the frame leaves them out (a million unique strings).
CATEGORICAL = ("set", "mode", "role", "phase", "error", "scenario")


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


def _frame(name: str, header: dict[str, Any], cols: dict[str, list]) -> pd.DataFrame:
    roles = {m: str(rec.get("role", "")) for m, rec in header.get("modes", {}).items()}
    n = len(cols["round"])
    mode = pd.Categorical(cols["mode"])
    role = pd.Categorical([roles.get(m, "") for m in mode.categories])
    return pd.DataFrame({
        "set": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [name]),
        "round": np.asarray(cols["round"], dtype="int64"),
        "pos": np.asarray(cols["pos"], dtype="int64"),
        "mode": mode,
        "role": pd.Categorical(np.asarray(role)[mode.codes] if n else []),
        "phase": pd.Categorical(cols["phase"]),
        "duration_ms": np.fromiter((np.nan if v is None else v for v in cols["duration_ns"]), dtype="float64",
                                   count=n) / 1e6,
        "ok": np.asarray(cols["ok"], dtype="bool"),
        "error": pd.Categorical(cols["error"]),
        "warmup": np.asarray(cols["warmup"], dtype="bool"),
        "wall_ns": np.asarray(cols["wall_ns"], dtype="int64"),
        "scenario": pd.Categorical([WARM if v is None else v for v in cols["scenario"]]),
    })


def _frame_from_arrow(name: str, header: dict[str, Any], table: Any) -> pd.DataFrame:
    roles = {m: str(rec.get("role", "")) for m, rec in header.get("modes", {}).items()}
    for col in ("mode", "phase", "error"):
        i = table.schema.get_field_index(col)
        table = table.set_column(i, col, table.column(col).dictionary_encode())
    df = table.to_pandas()
    n = len(df)
    mode = df["mode"].cat
    role = np.asarray([roles.get(m, "") for m in mode.categories], dtype=object)
    return pd.DataFrame({
        "set": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [name]),
        "round": df["round"].to_numpy("int64"),
        "pos": df["pos"].to_numpy("int64"),
        "mode": df["mode"],
        "role": pd.Categorical(role[mode.codes] if n else []),
        "phase": df["phase"],
        "duration_ms": df["duration_ns"].to_numpy("float64", na_value=np.nan) / 1e6
        if hasattr(df["duration_ns"], "to_numpy") else df["duration_ns"] / 1e6,
        "ok": df["ok"].to_numpy("bool"),
        "error": df["error"],
        "warmup": df["warmup"].to_numpy("bool"),
        "wall_ns": df["wall_ns"].to_numpy("int64"),
        # Version 1 sets have no scenario: all warm.
        "scenario": pd.Categorical(df["scenario"].fillna(WARM)),
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
        fast = read_fast(path)
        if fast is not None:
            headers[name], ends[name], where[name] = fast.header, fast.end, path
            frames.append(_frame_from_arrow(name, fast.header, fast.table))
            all_warnings += fast.warnings
        else:
            parsed = parse(path)
            headers[name], ends[name], where[name] = parsed.header, parsed.end, path
            frames.append(_frame(name, parsed.header, parsed.columns.data))
            all_warnings += parsed.warnings
    if not frames:
        raise ResultFileError("no result set given: pass one or more .jsonl files from results/.")
    frame = pd.concat(frames, ignore_index=True)
    for col in CATEGORICAL:  # concat of differing categories falls back to object
        if frame[col].dtype != "category":
            frame[col] = frame[col].astype("category")
    if warn:
        for w in all_warnings:
            _warnings.warn(w, stacklevel=2)
    return Loaded(frame, headers, ends, where, all_warnings)
