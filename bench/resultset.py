"""The raw result set: one JSON Lines file per run, append-only, fsynced per cycle.

Layout (documented for users in docs/resultset.md):

    line 1     {"type": "header", "schema": "isobench.resultset", "version": 1, ...}
    lines 2..  {"type": "sample", ...}   one per phase of each cycle
               {"type": "resume", ...}   where `bench run --resume` continued the set
    last line  {"type": "end", "status": "complete" | "interrupted" | "failed", ...}

A crashed run has no end record and may have a truncated last line; readers
tolerate both with a warning. Raw data is never rewritten: resume appends.

Schema history (bump SCHEMA_VERSION on any change a reader must know about):
    1  2026-11  first version: header, sample, resume, end records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from bench.errors import UserError

SCHEMA_NAME = "isobench.resultset"
SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)

END_STATUSES = ("complete", "interrupted", "failed")

# Sample fields and the JSON types each may hold (None: null allowed).
SAMPLE_FIELDS: dict[str, tuple[type, ...]] = {
    "round": (int,),
    "pos": (int,),
    "mode": (str,),
    "phase": (str,),
    "duration_ns": (int, type(None)),
    "ok": (bool,),
    "error": (str, type(None)),
    "message": (str, type(None)),
    "warmup": (bool,),
    "wall_ns": (int,),
    "cid": (str, type(None)),
    "engine": (dict, type(None)),
    "detail": (dict, type(None)),
}
REQUIRED_SAMPLE_FIELDS = ("round", "pos", "mode", "phase", "duration_ns", "ok", "warmup", "wall_ns")


class ResultFileError(UserError):
    """A result file that cannot be read; the message names the file and line."""


def sample_record(*, round: int, pos: int, mode: str, phase: str, duration_ns: Optional[int], ok: bool,
                  warmup: bool, wall_ns: int, error: Optional[str] = None, message: Optional[str] = None,
                  cid: Optional[str] = None, engine: Optional[dict[str, Any]] = None,
                  detail: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """One phase sample as it goes on disk. ``duration_ns`` of a failed sample is the
    time until the failure (or None when the phase never ran): never a success time."""
    return {"type": "sample", "round": round, "pos": pos, "mode": mode, "phase": phase,
            "duration_ns": duration_ns, "ok": ok, "error": error, "message": message, "warmup": warmup,
            "wall_ns": wall_ns, "cid": cid, "engine": engine, "detail": detail}


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=False, allow_nan=False)


class ResultWriter:
    """Appends records and makes each batch durable before returning.

    One batch is one cycle: a crash, Ctrl-C or kill loses at most the cycle in flight.
    """

    def __init__(self, path: Path, fh: Any) -> None:
        self.path = path
        self._fh = fh
        self.closed = False

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> "ResultWriter":
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "x", encoding="utf-8")  # never overwrite a result set
        writer = cls(path, fh)
        writer.append([header])
        _fsync_dir(path.parent)
        return writer

    @classmethod
    def reopen(cls, path: Path) -> "ResultWriter":
        """For --resume: appends to an existing set, first cutting a truncated tail
        (a partial line from a crash) so the file stays line-aligned."""
        with open(path, "rb+") as raw:
            data = raw.read()
            if data and not data.endswith(b"\n"):
                raw.truncate(data.rfind(b"\n") + 1)
        return cls(path, open(path, "a", encoding="utf-8"))

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self._fh.write("".join(_dumps(r) + "\n" for r in records))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self, end: Optional[dict[str, Any]] = None) -> None:
        if self.closed:
            return
        try:
            if end is not None:
                self.append([end])
        finally:
            self._fh.close()
            self.closed = True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open directories; NTFS metadata is journalled anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class ResultSet:
    path: Path
    header: dict[str, Any]
    samples: list[dict[str, Any]]
    end: Optional[dict[str, Any]]
    resumes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.header.get("run_id"))


def check_header(rec: Any, where: str) -> dict[str, Any]:
    if not isinstance(rec, dict) or rec.get("type") != "header":
        raise ResultFileError(f"{where}: the first line is not an isobench header: is this an isobench result set?")
    if rec.get("schema") != SCHEMA_NAME:
        raise ResultFileError(f"{where}: schema is {rec.get('schema')!r}, not {SCHEMA_NAME!r}: this is not an isobench result set.")
    version = rec.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ResultFileError(f"{where}: schema version {version!r} is not one this isobench reads ({', '.join(map(str, SUPPORTED_VERSIONS))}): upgrade isobench or re-run the benchmark.")
    for key, kind in (("run_id", str), ("modes", dict), ("host", dict)):
        if not isinstance(rec.get(key), kind):
            raise ResultFileError(f"{where}: the header's {key} is missing or not a {kind.__name__}: the file is damaged.")
    return rec


def check_sample(rec: dict[str, Any], where: str) -> None:
    for key in REQUIRED_SAMPLE_FIELDS:
        if key not in rec:
            raise ResultFileError(f"{where}: sample has no {key!r}: the file is damaged or not written by isobench.")
    for key, kinds in SAMPLE_FIELDS.items():
        value = rec.get(key)
        # bool is an int in Python: keep them apart so "ok": 1 is refused
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise ResultFileError(f"{where}: sample field {key!r} is {value!r}, expected {names}.")
    if rec["duration_ns"] is not None and rec["duration_ns"] < 0:
        raise ResultFileError(f"{where}: sample duration_ns is negative ({rec['duration_ns']}): the file is damaged.")
    if rec["ok"] and rec["duration_ns"] is None:
        raise ResultFileError(f"{where}: a successful sample has no duration_ns: the file is damaged.")


def iter_lines(path: Path, warnings: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each line. A truncated last line (no newline, not
    JSON: a crash mid-write) is dropped with a warning; any other bad line is an error."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise ResultFileError(f"result file {path} does not exist: pass the path of a .jsonl file under results/.") from None
    except OSError as exc:
        raise ResultFileError(f"result file {path} cannot be read ({exc.strerror}): check its permissions.") from None
    with fh:
        lineno = 0
        for raw in fh:
            lineno += 1
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                if not raw.endswith(b"\n") and fh.read(1) == b"":
                    warnings.append(f"{path}:{lineno}: truncated last line ignored (the run was cut off mid-write).")
                    return
                raise ResultFileError(f"{path}:{lineno}: not a JSON record: the file is damaged (only a truncated last line is tolerated).") from None
            if not isinstance(rec, dict):
                raise ResultFileError(f"{path}:{lineno}: expected a JSON object, found {type(rec).__name__}.")
            yield lineno, rec


def iter_records(path: Path, warnings: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, record) for every line, checked: the header first, then samples, resume and
    end records. The one place the line grammar is enforced; every reader goes through it."""
    header_seen = False
    ended = False
    for lineno, rec in iter_lines(path, warnings):
        where = f"{path}:{lineno}"
        if not header_seen:
            yield "header", check_header(rec, where)
            header_seen = True
            continue
        kind = rec.get("type")
        if kind == "sample":
            check_sample(rec, where)
        elif kind == "end":
            if rec.get("status") not in END_STATUSES:
                raise ResultFileError(f"{where}: end status {rec.get('status')!r} is not one of {', '.join(END_STATUSES)}.")
        elif kind != "resume":
            raise ResultFileError(f"{where}: unknown record type {kind!r}: expected sample, resume or end.")
        ended = kind == "end"
        yield kind, rec
    if not header_seen:
        raise ResultFileError(f"{path}: the file is empty: it holds no isobench header.")
    if not ended:
        warnings.append(f"{path}: no end record: the run was cut off (crash or kill); its samples are kept.")


def read_resultset(path: Path) -> ResultSet:
    """Reads and checks a whole result set."""
    path = Path(path)
    rs = ResultSet(path, {}, [], None)
    for kind, rec in iter_records(path, rs.warnings):
        if kind == "header":
            rs.header = rec
        elif kind == "sample":
            rs.samples.append(rec)
        elif kind == "end":
            rs.end = rec
        else:  # resume: a resumed set's earlier end record is superseded
            rs.resumes.append(rec)
            rs.end = None
    return rs
