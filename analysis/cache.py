"""A columnar cache beside each result set: the loaded frame as Parquet, for fast re-reads.

The JSONL stays the one source of truth. ``RESULT.jsonl`` gets a hidden sibling
``.RESULT.jsonl.cache.parquet`` holding the frame ``analysis.load`` builds from it
(without the ``set`` column, which comes from the file's name), the end record and
the reader's warnings. Its key, kept in the Parquet key-value metadata, is the JSONL's
size, mtime_ns and header-line sha256, the cache format version, the frame version and
a digest of the code that builds the frame (plus the pandas and pyarrow versions). The
cache is used only while every part of the key matches; otherwise it is rebuilt from
the JSONL, never trusted. Damage is caught by Parquet page checksums and by decoding
checks; a damaged cache is rebuilt too. Writes are atomic (temp file + os.replace), and
a cache that cannot be written never fails the analysis. The cost table (analysis.load's
``costs``: a version 5 set's cost records) goes in a second file beside it,
``.RESULT.jsonl.costs.cache.parquet``, under the same key: the two are used together or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.results.records import End

FORMAT_VERSION = 2  # 2: the cost table's file beside the frame's
META_KEY = b"isobench.cache"
META_DIGEST = b"isobench.cache.sha256"
SUFFIX = ".cache.parquet"
# The modules whose code decides what the frame holds: a change to any of them
# invalidates every cache even if nobody remembers to bump FRAME_VERSION.
_CODE_MODULES = ("analysis/load.py", "analysis/fastread.py", "analysis/cache.py", "bench/results/resultset.py")
_ROOT = Path(__file__).resolve().parent.parent


class CacheDamaged(Exception):
    """The cache file cannot be read back exactly: rebuild it."""


@dataclass
class Cached:
    """What a cache holds for one set (the header is re-read from the JSONL's first line)."""

    frame: pd.DataFrame
    end: Optional[End]
    warnings: list[str]
    costs: pd.DataFrame


def cache_path(path: Path) -> Path:
    """Hidden, so a shell glob over results/ or a `*.jsonl` search never picks it up."""
    path = Path(path)
    return path.with_name(f".{path.name}{SUFFIX}")


def costs_path(path: Path) -> Path:
    """The cost table's file, beside the frame's."""
    path = Path(path)
    return path.with_name(f".{path.name}.costs{SUFFIX}")


def _code_digest() -> str:
    h = hashlib.sha256()
    for rel in _CODE_MODULES:
        try:
            h.update((_ROOT / rel).read_bytes())
        except OSError:  # installed without sources: the versions alone must do
            h.update(rel.encode())
    return h.hexdigest()[:16]


_CODE = _code_digest()


def current_key(path: Path, frame_version: int) -> Optional[tuple[dict[str, Any], bytes]]:
    """The key the JSONL has now and its header line, or None when it cannot be opened
    (the JSONL reader then says why, in its own words)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            first = fh.readline()
    except OSError:
        return None
    return {
        "format": FORMAT_VERSION,
        "frame": frame_version,
        "code": _CODE,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "header_sha256": hashlib.sha256(first.rstrip(b"\r\n")).hexdigest(),
    }, first


def unchanged_since(path: Path, key: dict[str, Any]) -> bool:
    """True if the JSONL still has the size and mtime of ``key`` (checked after reading it,
    so a set appended to while it was read is never cached under the older key)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == key["size"] and st.st_mtime_ns == key["mtime_ns"]


def why_stale(stored: dict[str, Any], key: dict[str, Any]) -> Optional[str]:
    """None if the stored key matches; else what differs, in words."""
    if stored.get("size") != key["size"]:
        was = stored.get("size")
        return (
            f"the set is {key['size']:,} bytes now, {was:,} when cached" if isinstance(was, int) else "no size stored"
        )
    if stored.get("mtime_ns") != key["mtime_ns"]:
        return "the set was modified after the cache was made"
    if stored.get("header_sha256") != key["header_sha256"]:
        return "the set's header line differs from the one cached"
    for part in ("format", "frame", "code", "pandas", "pyarrow"):
        if stored.get(part) != key[part]:
            return f"made by another version of the analysis: its {part} differs"
    return None


def notify(message: str) -> None:
    """Cache events go to stderr as one line each: they are about speed, never about the data."""
    print(f"cache: {message}", file=sys.stderr)


def _encode(frame: pd.DataFrame) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The frame as an Arrow table plus the column spec needed to rebuild it exactly.

    Categoricals are written as dictionary columns (any Parquet reader sees the strings),
    and their exact categories (order, unused ones, dtype) go into the spec: Parquet keeps
    neither the order nor unused values across row groups."""
    arrays, names, spec = [], [], []
    for col in frame.columns:
        if col == "set":  # named by the file, not stored: a renamed copy keeps a right cache
            continue
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            dictionary = pa.array([str(c) for c in s.cat.categories], pa.string())
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary))
            spec.append(
                {
                    "name": col,
                    "categories": [str(c) for c in s.cat.categories],
                    "categories_dtype": str(s.cat.categories.dtype),
                }
            )
        else:
            arrays.append(pa.array(s.to_numpy()))  # NaN stays NaN: numpy input is not null-converted
            spec.append({"name": col, "dtype": str(s.dtype)})
        names.append(col)
    return pa.Table.from_arrays(arrays, names=names), spec


def _decode_categorical(column: pa.ChunkedArray, spec: dict[str, Any]) -> pd.Categorical:
    cats = pd.Index(spec["categories"], dtype=spec["categories_dtype"])
    parts = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            raise CacheDamaged(f"column {spec['name']} is not dictionary-encoded")
        mapping = cats.get_indexer(pd.Index(chunk.dictionary.to_pylist(), dtype=object))
        if (mapping < 0).any():
            raise CacheDamaged(f"column {spec['name']} holds a value outside its categories")
        idx = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        parts.append(np.where(idx >= 0, mapping[np.maximum(idx, 0)], -1) if len(mapping) else idx)
    codes = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats))


def _decode(table: pa.Table, spec: list[dict[str, Any]], rows: int) -> pd.DataFrame:
    if table.num_rows != rows or table.column_names != [c["name"] for c in spec]:
        raise CacheDamaged("its columns or row count do not match its own description")
    out = {}
    for col in spec:
        column = table.column(col["name"])
        if "categories" in col:
            out[col["name"]] = _decode_categorical(column, col)
            continue
        values = column.to_numpy()
        if str(values.dtype) != col["dtype"] or column.null_count:
            raise CacheDamaged(f"column {col['name']} is {values.dtype}, expected {col['dtype']}")
        out[col["name"]] = values if values.flags.writeable else values.copy()  # not arrow's read-only buffer
    return pd.DataFrame(out, copy=False)


def _stored_info(footer: pq.FileMetaData) -> dict[str, Any]:
    """The key, column spec, end record and warnings, checked against their own digest:
    Parquet checksums cover the data pages but not this footer metadata."""
    meta = footer.metadata or {}
    if META_KEY not in meta or META_DIGEST not in meta:
        raise CacheDamaged("it carries no isobench key")
    if hashlib.sha256(meta[META_KEY]).hexdigest().encode() != meta[META_DIGEST]:
        raise CacheDamaged("its key does not match its digest")
    info = json.loads(meta[META_KEY])
    if not isinstance(info, dict) or not isinstance(info.get("key"), dict):
        raise CacheDamaged("its key is not readable")
    return info


@dataclass
class Lookup:
    """A cache read: the data, or why there is none (``problem`` None: no cache yet)."""

    cached: Optional[Cached] = None
    problem: Optional[str] = None


def _read_table(where: Path, key: dict[str, Any]) -> tuple[Optional[pd.DataFrame], dict[str, Any], Optional[str]]:
    """One cached table, its stored info, or why it is stale (a damaged one raises)."""
    with open(where, "rb") as fh:
        footer = pq.read_metadata(fh)
        info = _stored_info(footer)
        stale = why_stale(info["key"], key)
        if stale:
            return None, info, stale
        fh.seek(0)
        pf = pq.ParquetFile(
            fh,
            metadata=footer,
            page_checksum_verification=True,
            read_dictionary=[c["name"] for c in info["columns"] if "categories" in c],
        )
        return _decode(pf.read(use_threads=True), info["columns"], info["rows"]), info, None


def read(path: Path, key: dict[str, Any]) -> Lookup:
    """The cached frame and cost table for ``path`` if both exist, match ``key`` and read back whole."""
    where = cache_path(path)
    if not where.exists():
        return Lookup()
    try:
        frame, info, stale = _read_table(where, key)
        if stale or frame is None:
            return Lookup(problem=f"the cache {where.name} is stale ({stale})")
        if not costs_path(path).exists():
            return Lookup(problem=f"the cache {where.name} has lost its cost table {costs_path(path).name}")
        costs, _, stale = _read_table(costs_path(path), key)
        if stale or costs is None:
            return Lookup(problem=f"the cache {costs_path(path).name} is stale ({stale})")
        end = info.get("end")
        warnings = list(info.get("warnings") or [])
        return Lookup(Cached(frame, None if end is None else End.from_json(end), warnings, costs))
    except Exception as exc:  # noqa: BLE001 - any failure to read a cache back means: rebuild it
        return Lookup(problem=f"the cache {where.name} is damaged ({short_reason(exc)})")


def short_reason(exc: BaseException) -> str:
    """An exception as one short line: for a cache that is only a speed-up, the gist is enough."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _write_parquet(fh: Any, table: pa.Table, spec: list[dict[str, Any]], meta: dict[bytes, bytes]) -> None:
    # No fsync: a cache cut short by a crash fails its checks and is rebuilt.
    # One copy of the key (no Arrow schema blob beside it): the copy checked is the copy used.
    # Dictionary pages only where they pay (categoricals) and no min/max statistics
    # (never queried): halves the write time of a million rows.
    with pq.ParquetWriter(
        fh,
        table.schema,
        compression="snappy",
        write_page_checksum=True,
        store_schema=False,
        use_dictionary=[c["name"] for c in spec if "categories" in c],
        write_statistics=False,
    ) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata(meta)


def _write_table(where: Path, path: Path, frame: pd.DataFrame, info: dict[str, Any]) -> None:
    """One table, atomically (temp file, then rename), as readable as the set it derives from."""
    tmp: Optional[str] = None
    try:
        table, spec = _encode(frame)
        blob = json.dumps({**info, "columns": spec, "rows": len(frame)}).encode()
        fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=where.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            _write_parquet(fh, table, spec, {META_KEY: blob, META_DIGEST: hashlib.sha256(blob).hexdigest().encode()})
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, where)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def write(
    path: Path,
    key: dict[str, Any],
    frame: pd.DataFrame,
    end: Optional[End],
    warnings: list[str],
    costs: pd.DataFrame,
) -> Optional[str]:
    """Writes the cache (the cost table first, then the frame's file that a read looks for first); returns
    None, or why it could not be written. Never raises: a cache is only a speed-up."""
    try:
        _write_table(costs_path(path), path, costs, {"key": key})
        _write_table(
            cache_path(path),
            path,
            frame,
            {"key": key, "end": None if end is None else end.to_json(), "warnings": warnings},
        )
        return None
    except Exception as exc:  # noqa: BLE001 - read-only folder, full disk, or a bug: say it, go on
        return getattr(exc, "strerror", None) or short_reason(exc)


def remove(path: Path) -> None:
    """Drops a stale cache that is not being rebuilt, so it is not reported again and again."""
    for where in (cache_path(path), costs_path(path)):
        with contextlib.suppress(OSError):
            where.unlink()
