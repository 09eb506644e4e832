"""A fast path for large result sets: pyarrow's JSON reader builds the sample columns in C++.

It is an accelerator, not a second definition of the format: on any doubt
(a line arrow cannot type, a missing required field, a line count that does
not match) it returns None and the caller reads the file with
``bench.resultset.parse``, which names the exact file and line. The few
non-sample lines (header, resume, end) are always checked by bench.resultset.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from bench.resultset import END_STATUSES, REQUIRED_SAMPLE_FIELDS, SAMPLE_FIELDS, check_header

SCHEMA = pa.schema([
    ("type", pa.string()), ("round", pa.int64()), ("pos", pa.int64()), ("mode", pa.string()),
    ("phase", pa.string()), ("duration_ns", pa.int64()), ("ok", pa.bool_()), ("error", pa.string()),
    ("warmup", pa.bool_()), ("wall_ns", pa.int64()), ("scenario", pa.string()),
])
# Below this size the plain reader is as fast and simpler to trust.
MIN_BYTES = 4 * 1024 * 1024


class _LineIndex:
    """The few non-sample lines by number, without splitting a million-line file:
    the header is first and end records are last; anything else splits once."""

    def __init__(self, data: bytes, rows: list[int], n_lines: int) -> None:
        self._data = data
        tail = [r for r in rows if r > 0]
        self._lines: dict[int, bytes] = {0: data[: data.find(b"\n")]}
        if tail and tail == list(range(n_lines - len(tail), n_lines)):
            for offset, line in enumerate(data.rstrip(b"\n").rsplit(b"\n", len(tail))[1:]):
                self._lines[n_lines - len(tail) + offset] = line
        elif tail:
            every = data.split(b"\n")
            self._lines.update({r: every[r] for r in tail})

    def __getitem__(self, row: int) -> bytes:
        return self._lines[row]


class FastRead:
    def __init__(self, header: dict[str, Any], end: Optional[dict[str, Any]], warnings: list[str], table: pa.Table):
        self.header, self.end, self.warnings, self.table = header, end, warnings, table


def read_fast(path: Path) -> Optional[FastRead]:
    data = Path(path).read_bytes()
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
    n_lines = data.count(b"\n")
    try:
        table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=8 << 20),
                             parse_options=pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore",
                                                           newlines_in_values=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n_lines or n_lines < 2:
        return None  # blank lines or other surprises: let the exact reader say what is wrong
    types = table.column("type")
    is_sample = pc.equal(types, "sample")
    other_rows = pc.indices_nonzero(pc.invert(pc.fill_null(is_sample, False))).to_pylist()
    if not other_rows or other_rows[0] != 0:
        return None
    lines = _LineIndex(data, other_rows, n_lines)
    try:
        header = check_header(orjson.loads(lines[0]), f"{path}:1")
    except orjson.JSONDecodeError:
        return None
    end = None
    last = None
    for row in other_rows[1:]:
        rec = orjson.loads(lines[row])
        kind = rec.get("type") if isinstance(rec, dict) else None
        if kind == "end" and rec.get("status") in END_STATUSES:
            end = rec
        elif kind == "resume":
            end = None
        else:
            return None
        last = row
    samples = table.filter(is_sample)
    for key in REQUIRED_SAMPLE_FIELDS:
        if type(None) in SAMPLE_FIELDS[key]:
            # Nullable yet required: arrow reads a missing key as null, so count the keys
            # themselves (a quote inside a JSON string is escaped, so `"key":` is a key).
            token = f'"{key}":'.encode()
            in_others = sum(lines[r].count(token) for r in other_rows)
            if data.count(token) - in_others != samples.num_rows:
                return None
        elif samples.column(key).null_count:
            return None
    scen = pc.unique(samples.column("scenario")).to_pylist()
    if not set(scen) <= {None, "warm", "cold"}:
        return None  # the exact reader names the line
    dur, ok = samples.column("duration_ns"), samples.column("ok")
    if pc.any(pc.and_(ok, pc.is_null(dur))).as_py() or pc.any(pc.less(dur, 0)).as_py():
        return None
    if last != n_lines - 1:
        end = None
        warnings.append(f"{path}: no end record: the run was cut off (crash or kill); its samples are kept.")
    return FastRead(header, end, warnings, samples.drop_columns(["type"]))
