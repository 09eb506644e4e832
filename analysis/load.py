"""Result sets -> one tidy DataFrame: one row per sample, explicit dtypes; and the cost
records (version 5: what each cycle cost the host, its waterfall) in a table of their own, so
nothing that reads a cycle's phases ever meets them.

Failed samples stay in the frame with their reason (timing statistics later
use successes only). Reading goes through ``bench.results.resultset`` so the file
format has one definition; errors name the file and line.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from analysis import cache
from analysis.fastread import read_fast
from bench.results.records import Cost, End, Header
from bench.results.resultset import COST_FIELDS, ResultFileError, check_header, parse, upgrade_header

# Container ids stay in the raw data; the frame leaves them out (a million unique strings).
CATEGORICAL = ("set", "mode", "role", "phase", "error", "scenario", "level_unit", "metric", "failed_at")
# Bump on any change to the frame's columns, dtypes or meaning: it keys the columnar cache
# (whose key also holds a digest of this module's code, as a second line of defence).
FRAME_VERSION = 4  # 2: level, burst and slot (the scale scenarios); 3: burst renamed group, level_unit;
# 4: the cost table beside the frame
# The cost table's columns: a cost record's fields, value_ns as value_ms (CPU ms for a CPU metric).
COST_COLUMNS = ("set", "round", "pos", "mode", "role", "metric", "value_ms", "ok", "failed_at", "warmup", "wall_ns",
                "scenario", "level", "level_unit", "group", "slot")  # fmt: skip


@dataclass
class Loaded:
    """The frame plus each set's header and end record (metadata the frame does not repeat)."""

    frame: pd.DataFrame
    headers: dict[str, Header]
    ends: dict[str, Optional[End]]
    paths: dict[str, Path]
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # per set: "cache" or "jsonl"
    # the cost records (COST_COLUMNS; no rows for sets before version 6): never rows of ``frame``
    costs: pd.DataFrame = field(default_factory=lambda: cost_frame("", {}, []))


def set_name(path: Path) -> str:
    return Path(path).stem


def _frame(name: str, header: Header, cols: dict[str, list]) -> pd.DataFrame:
    roles = header.roles()
    n = len(cols["round"])
    mode = pd.Categorical(cols["mode"])
    role = pd.Categorical([roles.get(m, "") for m in mode.categories])
    return pd.DataFrame(
        {
            "set": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [name]),
            "round": np.asarray(cols["round"], dtype="int64"),
            "pos": np.asarray(cols["pos"], dtype="int64"),
            "mode": mode,
            "role": pd.Categorical(np.asarray(role)[mode.codes] if n else []),
            "phase": pd.Categorical(cols["phase"]),
            "duration_ms": np.fromiter(
                (np.nan if v is None else v for v in cols["duration_ns"]), dtype="float64", count=n
            )
            / 1e6,
            "ok": np.asarray(cols["ok"], dtype="bool"),
            "error": pd.Categorical(cols["error"]),
            "warmup": np.asarray(cols["warmup"], dtype="bool"),
            "wall_ns": np.asarray(cols["wall_ns"], dtype="int64"),
            "scenario": pd.Categorical(cols["scenario"]),
            **_scale_columns(cols, n),
        }
    )


def cost_frame(name: str, roles: Mapping[str, str], records: list[Cost]) -> pd.DataFrame:
    """The cost table of one set from its cost records (checked by bench.results.resultset); ``roles``: each
    mode's role (the header's)."""
    cols = {k: [getattr(r, k) for r in records] for k in COST_FIELDS}
    n = len(records)
    return pd.DataFrame(
        {
            "set": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [name]),
            "round": np.asarray(cols["round"], dtype="int64"),
            "pos": np.asarray(cols["pos"], dtype="int64"),
            "mode": pd.Categorical(cols["mode"]),
            "role": pd.Categorical([roles.get(m, "") for m in cols["mode"]]),
            "metric": pd.Categorical(cols["metric"]),
            "value_ms": np.asarray(cols["value_ns"], dtype="float64") / 1e6,
            "ok": np.asarray(cols["ok"], dtype="bool"),
            "failed_at": pd.Categorical(cols["failed_at"]),
            "warmup": np.asarray(cols["warmup"], dtype="bool"),
            "wall_ns": np.asarray(cols["wall_ns"], dtype="int64"),
            "scenario": pd.Categorical(cols["scenario"]),
            **_scale_columns(cols, n),
        },
        columns=list(COST_COLUMNS),
    )


def _nullable(values: list[Any], n: int, dtype: str, null: Any) -> np.ndarray:
    return np.fromiter((null if v is None else v for v in values), dtype=dtype, count=n)


def _scale_columns(cols: dict[str, list], n: int) -> dict[str, np.ndarray]:
    """The scale and service scenarios' fields: ``level`` (NaN where none) in ``level_unit``, ``group`` and
    ``slot`` (-1 where none)."""
    return {
        "level": _nullable(cols["level"], n, "float64", np.nan),
        "level_unit": _string_categorical(cols["level_unit"]),
        "group": _nullable(cols["group"], n, "int64", -1),
        "slot": _nullable(cols["slot"], n, "int64", -1),
    }


def _string_categorical(values: list[Optional[str]]) -> pd.Categorical:
    """Strings as a categorical whose categories are strings even when every value is null (pandas would
    infer float categories from an all-null column; the cache and the arrow reader give object)."""
    return pd.Categorical(values, categories=pd.Index(sorted({v for v in values if v is not None}), dtype=object))


def _sorted_categorical(codes: np.ndarray, values: list[Any]) -> pd.Categorical:
    """Codes into ``values`` as a categorical with sorted categories (what pd.Categorical of
    the strings gives), without building the strings. Every value must occur."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    remap = np.empty(len(values) + 1, dtype=np.int64)
    remap[order] = np.arange(len(values))
    remap[-1] = -1  # a null stays null
    return pd.Categorical.from_codes(remap[codes], categories=[values[i] for i in order])


def _arrow_categorical(column: Any, fill: Optional[str] = None) -> tuple[np.ndarray, list[Any]]:
    """A string column's codes (-1 for null) and distinct values in order of first appearance."""
    if fill is not None:
        column = pc.fill_null(column, fill)
    encoded = pc.dictionary_encode(column.combine_chunks() if hasattr(column, "combine_chunks") else column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return codes, encoded.dictionary.to_pylist()


def _frame_from_arrow(name: str, header: Header, table: Any) -> pd.DataFrame:
    """The frame from pyarrow's columns, column by column: no detour through a pandas
    frame of strings. Categories as the exact reader's frame has them in order of first
    appearance for mode, phase and error, sorted for role and scenario."""
    roles = header.roles()
    n = table.num_rows
    cats = {c: _arrow_categorical(table.column(c)) for c in ("mode", "phase", "error")}
    mode_codes, modes = cats["mode"]
    role_of_mode = [roles.get(m, "") for m in modes]
    role_values = sorted(set(role_of_mode))
    role_codes = (
        np.asarray([role_values.index(r) for r in role_of_mode], dtype=np.int64)[mode_codes]
        if n
        else np.empty(0, dtype=np.int64)
    )

    def numbers(col: str, dtype: str) -> np.ndarray:
        values = table.column(col).to_numpy().astype(dtype, copy=False)
        return values if values.flags.writeable else values.copy()  # never a read-only view of arrow's buffer

    scenario = _arrow_categorical(table.column("scenario"))
    return pd.DataFrame(
        copy=False,
        data={
            "set": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [name]),
            "round": numbers("round", "int64"),
            "pos": numbers("pos", "int64"),
            "mode": pd.Categorical.from_codes(mode_codes, categories=modes),
            "role": pd.Categorical.from_codes(role_codes, categories=role_values),
            "phase": pd.Categorical.from_codes(*cats["phase"]),
            "duration_ms": pc.cast(table.column("duration_ns"), pa.float64()).to_numpy() / 1e6,
            "ok": numbers("ok", "bool"),
            "error": pd.Categorical.from_codes(*cats["error"]),
            "warmup": numbers("warmup", "bool"),
            "wall_ns": numbers("wall_ns", "int64"),
            "scenario": _sorted_categorical(*scenario),
            "level": pc.cast(table.column("level"), pa.float64()).to_numpy(zero_copy_only=False),
            "level_unit": _sorted_categorical(*_arrow_categorical(table.column("level_unit"))),
            "group": pc.fill_null(table.column("group"), -1).to_numpy().astype("int64"),
            "slot": pc.fill_null(table.column("slot"), -1).to_numpy().astype("int64"),
        },
    )


def _cost_frame_from_arrow(name: str, header: Header, table: Any) -> pd.DataFrame:
    """The cost table from pyarrow's columns (a large set's cost records outnumber its samples: no detour
    through Python dicts), as cost_frame builds it from records, categories' order aside."""
    roles = header.roles()
    n = table.num_rows
    cats = {c: pd.Categorical.from_codes(*_arrow_categorical(table.column(c))) for c in ("mode", "metric", "failed_at")}
    mode = cats["mode"]
    return pd.DataFrame(
        {
            "set": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [name]),
            "round": table.column("round").to_numpy().astype("int64"),
            "pos": table.column("pos").to_numpy().astype("int64"),
            "mode": mode,
            "role": pd.Categorical(
                np.asarray([roles.get(m, "") for m in mode.categories], dtype=object)[mode.codes] if n else []
            ),  # fmt: skip
            "metric": cats["metric"],
            "value_ms": pc.cast(table.column("value_ns"), pa.float64()).to_numpy() / 1e6,
            "ok": table.column("ok").to_numpy().astype("bool"),
            "failed_at": cats["failed_at"],
            "warmup": table.column("warmup").to_numpy().astype("bool"),
            "wall_ns": table.column("wall_ns").to_numpy().astype("int64"),
            "scenario": _sorted_categorical(*_arrow_categorical(table.column("scenario"))),
            "level": pc.cast(table.column("level"), pa.float64()).to_numpy(zero_copy_only=False),
            "level_unit": _sorted_categorical(*_arrow_categorical(table.column("level_unit"))),
            "group": pc.fill_null(table.column("group"), -1).to_numpy().astype("int64"),
            "slot": pc.fill_null(table.column("slot"), -1).to_numpy().astype("int64"),
        },
        columns=list(COST_COLUMNS),
    )


@dataclass
class SetRead:
    """One set as read: from the JSONL, or from its cache (``source``)."""

    header: Header
    end: Optional[End]
    warnings: list[str]
    frame: pd.DataFrame
    costs: pd.DataFrame
    source: str = "jsonl"  # or "cache"
    uncached: Optional[str] = None  # after a JSONL read: why no fresh cache was left behind


def read_jsonl(path: Path, name: str) -> SetRead:
    """The set from its JSONL: pyarrow's reader for large files, the exact reader otherwise
    (and whenever the fast one has any doubt)."""
    fast = read_fast(path)
    if fast is not None:
        costs = _cost_frame_from_arrow(name, fast.header, fast.costs)
        return SetRead(fast.header, fast.end, fast.warnings, _frame_from_arrow(name, fast.header, fast.table), costs)
    parsed = parse(path)
    frame = _frame(name, parsed.header, parsed.columns.data)
    return SetRead(
        parsed.header, parsed.end, parsed.warnings, frame, cost_frame(name, parsed.header.roles(), parsed.costs)
    )


def read_set(path: Path, name: str, use_cache: bool = True) -> SetRead:
    """The set from its columnar cache when that is fresh, else from the JSONL (then the
    cache is written for next time). Cache trouble is one line on stderr, never an error."""
    if path.name.endswith(cache.SUFFIX):
        raise ResultFileError(
            f"{path} is the columnar cache of a result set, not a result set: pass the .jsonl beside it."
        )
    probe = cache.current_key(path, FRAME_VERSION) if use_cache else None
    if probe is None:  # cache off, or the file cannot be opened: the JSONL reader says why
        return read_jsonl(path, name)
    key, header_line = probe
    found = cache.read(path, key)
    if found.cached is not None:
        frame, costs = found.cached.frame, found.cached.costs
        for table in (frame, costs):
            table.insert(0, "set", pd.Categorical.from_codes(np.zeros(len(table), dtype="int8"), [name]))
        header, _ = upgrade_header(check_header(orjson.loads(header_line), f"{path}:1"))
        return SetRead(header, found.cached.end, found.cached.warnings, frame, costs, "cache")
    data = read_jsonl(path, name)
    data.uncached = _store(path, key, data, found.problem)
    return data


def write_cache(path: Path) -> Optional[str]:
    """For the end of a run: makes sure the set has a fresh cache (reading the JSONL once).

    Never raises, since a cache is only a speed-up: returns None when a fresh cache is in
    place, else one sentence saying why there is none."""
    try:
        data = read_set(Path(path), set_name(Path(path)))
    except Exception as exc:  # noqa: BLE001 - the run's own outcome must not depend on its cache
        return f"no cache for {path}: {cache.short_reason(exc)}"
    return None if data.source == "cache" or data.uncached is None else f"no cache for {path}: {data.uncached}."


def _store(path: Path, key: dict[str, Any], data: SetRead, problem: Optional[str]) -> Optional[str]:
    """Writes the cache after a JSONL read, saying in one line what happened if anything was
    wrong. Returns None when a fresh cache is in place, else why not."""
    if data.end is None or not cache.unchanged_since(path, key):
        # Still being written (or cut off, or grew while read): a cache would be stale at
        # the next appended line, so none is written and the JSONL is read each time.
        why = "the set has no end record yet (still being written, or cut off) or changed while it was read"
        if problem:
            cache.remove(path)
            cache.notify(f"{path}: {problem}; read the JSONL instead and made no new cache: {why}.")
        return why
    failed = cache.write(path, key, data.frame, data.end, data.warnings, data.costs)
    if failed:
        cache.notify(
            f"{path}: {problem + '; ' if problem else ''}cannot write the cache {cache.cache_path(path).name} "
            f"({failed}): the analysis goes on from the JSONL."
        )
        return f"the cache cannot be written ({failed})"
    if problem:
        cache.notify(f"{path}: {problem}; rebuilt it from the JSONL.")
    return None


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one after another. Categoricals whose categories differ are joined on their
    codes: pd.concat would turn them into Python strings (seconds for a million rows)."""
    if len(frames) == 1:
        return frames[0]
    out = {}
    for col in frames[0].columns:
        parts = [f[col] for f in frames]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            # As pd.concat: the same categories in any order keep the first frame's order;
            # different ones are sorted, as astype("category") on the joined strings gives.
            differ = len({frozenset(p.cat.categories) for p in parts}) > 1
            try:
                out[col] = union_categoricals(parts, sort_categories=differ)
                continue
            except TypeError:  # categories of different dtypes (an all-null column): join as strings
                pass
        out[col] = pd.concat(parts, ignore_index=True)
    frame = pd.DataFrame(out, copy=False)  # fresh arrays: no need to copy them into 2-D blocks
    for col in CATEGORICAL:
        if col in frame and frame[col].dtype != "category":
            frame[col] = frame[col].astype("category")
    return frame


def load(paths: Iterable[Path], warn: bool = True, use_cache: bool = True) -> Loaded:
    """Reads result sets into one frame. Two files of the same name are refused.
    ``use_cache``: read and write each set's columnar cache (see analysis.cache)."""
    headers: dict[str, Header] = {}
    ends: dict[str, Optional[End]] = {}
    where: dict[str, Path] = {}
    sources: dict[str, str] = {}
    frames: list[pd.DataFrame] = []
    costs: list[pd.DataFrame] = []
    all_warnings: list[str] = []
    for path in paths:
        path = Path(path)
        name = set_name(path)
        if name in where:
            raise ResultFileError(
                f"{path} and {where[name]} have the same name: each result set is named by its time and host, so one "
                "of them is a copy."
            )
        data = read_set(path, name, use_cache)
        headers[name], ends[name], where[name], sources[name] = data.header, data.end, path, data.source
        frames.append(data.frame)
        costs.append(data.costs)
        all_warnings += data.warnings
    if not frames:
        raise ResultFileError("no result set given: pass one or more .jsonl files from results/.")
    frame = concat_frames(frames)
    if warn:
        for w in all_warnings:
            _warnings.warn(w, stacklevel=2)
    return Loaded(frame, headers, ends, where, all_warnings, sources, concat_frames(costs))
