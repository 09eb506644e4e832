"""A fast path for large result sets: pyarrow's JSON reader builds the sample columns in C++.

It is an accelerator, not a second definition of the format: on any doubt
(a line arrow cannot type, a missing required field, a line count that does
not match) it returns None and the caller reads the file with
``bench.results.resultset.parse``, which names the exact file and line. The few
non-sample lines (header, resume, end) are always checked by bench.results.resultset. Cost records
(version 6) come out as a table of their own. Sets of older versions go to the exact reader, the one
place they are upgraded (a version 4 set may hold costs written as samples).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from bench.results.records import End, Header
from bench.results.resultset import (
    COST_FIELDS,
    END_STATUSES,
    REQUIRED_COST_FIELDS,
    REQUIRED_SAMPLE_FIELDS,
    SAMPLE_FIELDS,
    SCHEMA_VERSION,
    check_header,
    is_scenario_name,
    upgrade_header,
)

SCHEMA = pa.schema(
    [
        ("type", pa.string()),
        ("round", pa.int64()),
        ("pos", pa.int64()),
        ("mode", pa.string()),
        ("phase", pa.string()),
        ("duration_ns", pa.int64()),
        ("ok", pa.bool_()),
        ("error", pa.string()),
        ("warmup", pa.bool_()),
        ("wall_ns", pa.int64()),
        ("scenario", pa.string()),
        ("level", pa.float64()),
        ("group", pa.int64()),
        ("level_unit", pa.string()),
        ("slot", pa.int64()),
        # cost records (version 6)
        ("metric", pa.string()),
        ("value_ns", pa.int64()),
        ("failed_at", pa.string()),
    ]
)
SAMPLE_COLUMNS = [f.name for f in SCHEMA if f.name not in ("type", "metric", "value_ns", "failed_at")]
COST_COLUMNS = [k for k in COST_FIELDS if k in SCHEMA.names]
# Below this size the plain reader is as fast and simpler to trust.
MIN_BYTES = 4 * 1024 * 1024


class _LineIndex:
    """The few non-sample lines by number, without splitting a million-line file: the
    header is first and end records are last, found by searching back from the end
    (slicing, never copying the whole buffer); anything else (a resume in the middle)
    locates the newlines once with numpy. ``data`` ends with a newline."""

    def __init__(self, data: bytes, rows: list[int], n_lines: int) -> None:
        tail = [r for r in rows if r > 0]
        self._lines: dict[int, bytes] = {0: data[: data.find(b"\n")]}
        if tail and tail == list(range(n_lines - len(tail), n_lines)):
            end = len(data) - 1
            for row in reversed(tail):
                start = data.rfind(b"\n", 0, end) + 1
                self._lines[row] = data[start:end]
                end = start - 1
        elif tail:
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
            for row in tail:
                start = int(ends[row - 1]) + 1
                self._lines[row] = data[start : int(ends[row])]

    def __getitem__(self, row: int) -> bytes:
        return self._lines[row]


class FastRead:
    def __init__(
        self,
        header: Header,
        end: Optional[End],
        warnings: list[str],
        table: pa.Table,
        costs: pa.Table,
    ) -> None:
        self.header, self.end, self.warnings, self.table, self.costs = header, end, warnings, table, costs


def _read(path: Path) -> Optional[tuple[bytes, list[str]]]:
    """The file's bytes ending in a newline, a truncated last line cut off with a warning;
    None when the file is small or cannot be read (the exact reader then says why)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if len(data) < MIN_BYTES:
        return None
    warnings: list[str] = []
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        try:
            orjson.loads(data[cut:])
            data += b"\n"
        except orjson.JSONDecodeError:
            lineno = data.count(b"\n", 0, cut) + 1
            warnings.append(f"{path}:{lineno}: truncated last line ignored (the run was cut off mid-write).")
            data = data[:cut]
    return data, warnings


def _other_records(
    path: Path, lines: _LineIndex, rows: list[int]
) -> Optional[tuple[dict[str, Any], Optional[End], bool]]:
    """(header, end record or None, whether the last of ``rows`` is an end record) from the
    non-sample lines, as bench.results.resultset.parse reads them (a resume supersedes an earlier
    end); None on any doubt."""
    try:
        header = check_header(orjson.loads(lines[0]), f"{path}:1")
    except orjson.JSONDecodeError:
        return None
    end: Optional[End] = None
    kind: Optional[str] = "header"
    for row in rows[1:]:
        rec = orjson.loads(lines[row])
        kind = rec.get("type") if isinstance(rec, dict) else None
        if kind == "end" and rec.get("status") in END_STATUSES:
            end = End.from_json(rec)
        elif kind == "resume":
            end = None
        else:
            return None
    return header, end, kind == "end"


def _samples_valid(data: bytes, samples: pa.Table, lines: _LineIndex, other_rows: list[int]) -> bool:
    """The checks bench.results.resultset makes of every sample, done on whole columns."""
    for key in REQUIRED_SAMPLE_FIELDS:
        if type(None) in SAMPLE_FIELDS[key]:
            # Nullable yet required: arrow reads a missing key as null, so count the keys
            # themselves (a quote inside a JSON string is escaped, so `"key":` is a key).
            token = f'"{key}":'.encode()
            in_others = sum(lines[r].count(token) for r in other_rows)
            if data.count(token) - in_others != samples.num_rows:
                return False
        elif samples.column(key).null_count:
            return False
    if not all(is_scenario_name(v) for v in pc.unique(samples.column("scenario")).to_pylist()):
        return False  # the exact reader names the line
    dur, ok = samples.column("duration_ns"), samples.column("ok")
    return not (pc.any(pc.and_(ok, pc.is_null(dur))).as_py() or pc.any(pc.less(dur, 0)).as_py())


def _costs_valid(costs: pa.Table) -> bool:
    """The checks bench.results.resultset makes of every cost record, on whole columns (its nullable
    fields read as null when absent, as the exact reader reads them)."""
    if any(costs.column(k).null_count for k in REQUIRED_COST_FIELDS if k in costs.column_names):
        return False
    if not all(is_scenario_name(v) for v in pc.unique(costs.column("scenario")).to_pylist()):
        return False
    return not pc.any(pc.less(costs.column("value_ns"), 0)).as_py()


def read_fast(path: Path) -> Optional[FastRead]:
    read = _read(path)
    if read is None:
        return None
    data, warnings = read
    n_lines = data.count(b"\n")
    try:
        table = pj.read_json(
            io.BytesIO(data),
            read_options=pj.ReadOptions(block_size=8 << 20),
            parse_options=pj.ParseOptions(
                explicit_schema=SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n_lines or n_lines < 2:
        return None  # blank lines or other surprises: let the exact reader say what is wrong
    is_sample = pc.equal(table.column("type"), "sample")
    is_cost = pc.fill_null(pc.equal(table.column("type"), "cost"), False)
    other_rows = pc.indices_nonzero(pc.invert(pc.or_(pc.fill_null(is_sample, False), is_cost))).to_pylist()
    if not other_rows or other_rows[0] != 0:
        return None
    lines = _LineIndex(data, other_rows, n_lines)
    records = _other_records(path, lines, other_rows)
    if records is None:
        return None
    checked, end, ends_with_end = records
    costs = table.filter(is_cost).select(COST_COLUMNS)
    n_samples = n_lines - len(other_rows) - costs.num_rows
    # The usual layout, header then samples then end records, is a zero-copy slice.
    usual = not costs.num_rows and other_rows[1:] == list(range(1 + n_samples, n_lines))
    samples = table.slice(1, n_samples) if usual else table.filter(is_sample)
    if not _samples_valid(data, samples, lines, other_rows) or not _costs_valid(costs):
        return None
    if other_rows[-1] != n_lines - 1 or not ends_with_end:
        warnings.append(f"{path}: no end record: the run was cut off (crash or kill); its samples are kept.")
    header, version = upgrade_header(checked)
    if version < SCHEMA_VERSION:
        return None  # an older version's records are upgraded in one place: the exact reader's
    return FastRead(header, end, warnings, samples.select(SAMPLE_COLUMNS), costs)
