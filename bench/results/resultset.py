"""The raw result set: one JSON Lines file per run, append-only, fsynced per cycle.

Layout (documented for users in docs/resultset.md):

    line 1     {"type": "header", "schema": "isobench.resultset", "version": 1, ...}
    lines 2..  {"type": "sample", ...}   one per phase of each cycle
               {"type": "cost", ...}     what a cycle or group cost the host (version 6)
               {"type": "resume", ...}   where `bench run --resume` continued the set
    last line  {"type": "end", "status": "complete" | "interrupted" | "failed", ...}

A crashed run has no end record and may have a truncated last line; readers
tolerate both with a warning. Raw data is never rewritten: resume appends.

Schema history (bump SCHEMA_VERSION on any change a reader must know about):
    1  2026-11  first version: header, sample, resume, end records.
    2  2026-11  samples carry `scenario` ("warm" or "cold"); cold cycles add the phases
                engine_stop and engine_up; the header adds `cold` (per mode: how the
                engine is stopped and started, or why it cannot be). Version 1 files
                read as all warm.
       2026-11  (additive, no bump: older readers lose nothing) each mode's `image` adds
                `content` (layer diff ids, inherited config, platform: what compare
                matches images on, since `docker import` gives every import a new id)
                and, for isobench's own image, `build` (expected vs observed layer,
                `reproducible`). Sets without them are compared by image id.
    3  2026-12  the scale scenarios: samples may carry scenario "burst", "rate" or "density"
                and three optional fields, `level` (burst size, arrival rate or containers
                running), `burst` (the group's id: one burst, rate run or density step) and
                `slot` (the container's place in it); group samples `makespan` and `step`; a
                rate arrival's `dispatch` phase; the header's config adds `scale` (every cap,
                bound and timeout of the scale scenarios). Version 2 files read with the three
                fields null.
    4  2026-12  the service scenario (swarm services): samples may carry scenario "service",
                with per task the ClusterLoader2 metrics create_to_schedule, schedule_to_run,
                run_to_ready and service_startup (`level` the replica count, `burst` the
                service's number in the run, `slot` the task's slot; `detail` the task id,
                node and each state's first-seen and engine times) and per service makespan,
                scale_down and service_remove; the header adds `service` (settings, clock
                anchor, per mode the manager, nodes and clock offsets) and the config
                `service`. Version 3 files read without a `service`.
       2026-12  (additive, no bump) the end record's `stop` (null, "results_disk_full" or
                "engine_disk_full"); sample categories engine_disk_full and oom_killed; each
                mode's engine record adds `data_root`. A batch that does not fit is cut back,
                so a set cut off by a full disk ends on its last complete record.
    5  2026-12  typed records (bench.results.records): the sample's `burst` is renamed `group` (it
                was also a rate run's and a density step's and a service's id), and `level_unit`
                names what `level` counts (containers, starts/s, running, replicas). Versions
                before 5 read with `burst` as `group` and the unit of their scenario.
                Also in 5 (issue #20): scenario "first-start" (a `pull` phase first, `detail.pull`
                its source and per-layer times) and "size" (`level` the image size in MiB, `group`
                the cycle's number); a ready sample of a mode with a workload has `detail.probe`;
                each mode's record adds `workload`; the header adds `first_start` and `size`
                records; the end record's `stop` may be "registry_unavailable".
    6  2026-12  issue 23: `cost` records (bench.results.records.Cost), apart from the samples (a cost
                is no phase of the cycle): per cycle or group its CPU by source (metric cpu_engine,
                cpu_container, cpu_vm, cpu_harness; value_ns is CPU time) and its startup waterfall
                (metric waterfall, detail: the start's process events; wf_<step>: each step's time);
                the header's harness.cost (methods, or why not). Sets before 6 read with no cost
                records, except version 4 sets of the first issue-23 build, which wrote its costs as
                samples of those phases: they read as the cost records they are (_to_v6), so no
                reader counts them as phases.
"""

from __future__ import annotations

import errno
import json
import operator
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import orjson

from bench.core.costs import COST_PHASES, STEP_PREFIX
from bench.core.errors import UserError
from bench.results.records import LEVEL_UNITS, Cost, End, Header, Record, Resume, Sample, json_types, required

SCHEMA_NAME = "isobench.resultset"
SCHEMA_VERSION = 6
SUPPORTED_VERSIONS = (1, 2, 3, 4, 5, 6)

END_STATUSES = ("complete", "interrupted", "failed")

# A scenario's name as samples carry it (bench.scenarios: a module's name, '-' for '_'). Any such name
# reads, so a set of a scenario added later is not taken for a damaged one.
_SCENARIO_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


def is_scenario_name(value: object) -> bool:
    return isinstance(value, str) and _SCENARIO_NAME.match(value) is not None


# Sample fields and the JSON types each may hold (None: null allowed), as bench.results.records declares them.
SAMPLE_FIELDS: dict[str, tuple[type, ...]] = json_types(Sample)
REQUIRED_SAMPLE_FIELDS = required(Sample)
# Cost records (version 6), likewise.
COST_FIELDS: dict[str, tuple[type, ...]] = json_types(Cost)
REQUIRED_COST_FIELDS = required(Cost)
# Header fields and the JSON types each may hold, checked where present (absent ones read as their defaults).
HEADER_FIELDS: dict[str, tuple[type, ...]] = json_types(Header)


class ResultFileError(UserError):
    """A result file that cannot be read; the message names the file and line."""


def _dumps(record: Record) -> str:
    return json.dumps(record.to_json(), separators=(",", ":"), sort_keys=False, allow_nan=False)


class ResultsDiskFull(UserError):
    """The results folder's filesystem ran out of space (or quota) mid-run: the batch that did not fit
    was cut off again, so the set ends with its last complete record. One sentence, exit code 4."""

    EXIT_CODE = 4

    def __init__(self, path: Path, strerror: str) -> None:
        self.path, self.free_bytes = path, free_bytes(path.parent)
        super().__init__(
            f"the results folder {path.parent} is full ({strerror}; {_size(self.free_bytes)} free on its "
            f"filesystem): the run stopped, its containers were removed and every complete record is kept in "
            f"{path.name}; free space there (or copy the set to a larger folder) and continue it with "
            f"`isobench run --resume {path}`.",
            self.EXIT_CODE,
        )


# The errors that mean "no room": out of space, and out of the user's disk quota.
NO_ROOM = {errno.ENOSPC, errno.EDQUOT}


def free_bytes(folder: Path) -> int:
    """Free space for an unprivileged writer on ``folder``'s filesystem (-1 when it cannot be asked)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return -1


def _size(n: int) -> str:
    if n < 0:
        return "an unknown amount"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


class ResultWriter:
    """Appends records and makes each batch durable before returning.

    One batch is one cycle: a crash, Ctrl-C or kill loses at most the cycle in flight. The file is
    written unbuffered, so a batch that does not fit (ENOSPC, EDQUOT) leaves nothing in a buffer to be
    flushed again at close: it is cut back to the last complete batch and ResultsDiskFull raised; the
    writer then refuses further batches (only close's end record is tried, once).
    """

    def __init__(self, path: Path, fh: Any) -> None:
        self.path = path
        self._fh = fh
        self._size = os.fstat(fh.fileno()).st_size
        self.full: Optional[ResultsDiskFull] = None
        self.closed = False

    @classmethod
    def create(cls, path: Path, header: Header) -> "ResultWriter":
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "xb", buffering=0)  # never overwrite a result set
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
        return cls(path, open(path, "ab", buffering=0))

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self.full is not None:
            raise self.full
        data = "".join(_dumps(r) + "\n" for r in records).encode("utf-8")
        try:
            view = memoryview(data)
            while view:  # an unbuffered write may take only part of the batch
                view = view[self._fh.write(view) :]
            os.fsync(self._fh.fileno())
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            self._cut_back()
            self.full = ResultsDiskFull(self.path, exc.strerror or str(exc))
            raise self.full from None
        self._size += len(data)

    def _cut_back(self) -> None:
        """The part of a batch that fitted goes again, so the set ends on its last complete record (a
        truncation frees space; it never needs any). The file's offset goes back with it: the end record
        written after a partial batch would otherwise land past the end, behind a hole of NUL bytes."""
        try:
            os.ftruncate(self._fh.fileno(), self._size)
            os.fsync(self._fh.fileno())
            self._fh.seek(self._size)
        except OSError:
            pass  # then readers drop the partial last line with a warning

    def close(self, end: Optional[End] = None) -> bool:
        """Writes the end record and closes the file. After a full disk the end record is tried once
        and given up if it does not fit; returns whether it was written."""
        if self.closed:
            return False
        written = False
        try:
            if end is not None:
                self.full = None  # the one attempt: the failed batch was cut back, the end record is small
                self.append([end])
                written = True
        except ResultsDiskFull as exc:
            self.full = exc
        finally:
            self._fh.close()
            self.closed = True
        return written


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
    """A set as read: its typed header, samples, cost, resume and end records."""

    path: Path
    header: Header
    samples: list[Sample]
    end: Optional[End]
    resumes: list[Resume] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)  # apart from the samples (version 6)

    @property
    def run_id(self) -> str:
        return self.header.run_id


def check_header(rec: Any, where: str) -> dict[str, Any]:
    if not isinstance(rec, dict) or rec.get("type") != "header":
        raise ResultFileError(f"{where}: the first line is not an isobench header: is this an isobench result set?")
    if rec.get("schema") != SCHEMA_NAME:
        raise ResultFileError(
            f"{where}: schema is {rec.get('schema')!r}, not {SCHEMA_NAME!r}: this is not an isobench result set."
        )
    version = rec.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ResultFileError(
            f"{where}: schema version {version!r} is not one this isobench reads "
            f"({', '.join(map(str, SUPPORTED_VERSIONS))}): upgrade isobench or re-run the benchmark."
        )
    for key in ("run_id", "modes", "host"):
        if key not in rec:
            raise ResultFileError(f"{where}: the header has no {key}: the file is damaged.")
    for key, kinds in HEADER_FIELDS.items():
        value = rec.get(key)
        if key in rec and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            names = " or ".join("null" if k is type(None) else ("object" if k is dict else k.__name__) for k in kinds)
            raise ResultFileError(f"{where}: the header's {key} is {_short(value)}, not {names}: the file is damaged.")
    return rec


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def upgrade_header(header: dict[str, Any]) -> tuple[Header, int]:
    """A checked header as the current version's record, and the version its samples were written in (for
    ``upgrade_sample``). An older set's original version is kept as ``upgraded_from``."""
    version = header["version"]
    if version == SCHEMA_VERSION:
        return Header.from_json(header), version
    # Sections a version lacked (cold before 2, service before 4) read as their defaults, as in a current set
    # of a run without them.
    return Header.from_json({**header, "version": SCHEMA_VERSION, "upgraded_from": version}), version


def _to_v2(rec: dict[str, Any]) -> None:
    if rec.get("scenario") is None:
        rec["scenario"] = "warm"  # version 1 had warm cycles only


def _to_v5(rec: dict[str, Any]) -> None:
    if "burst" in rec:  # the group's id, whatever the scenario (a burst, a rate run, a density step, a service)
        rec["group"] = rec.pop("burst")
    if rec.get("level") is not None:
        rec["level_unit"] = LEVEL_UNITS.get(rec.get("scenario") or "")


def is_legacy_cost(phase: Any) -> bool:
    """A sample's phase under which the first issue-23 build (version 4) wrote a cost."""
    return isinstance(phase, str) and (phase in COST_PHASES or phase.startswith(STEP_PREFIX))


def _to_v6(rec: dict[str, Any]) -> None:
    """A cost the first issue-23 build wrote as a sample becomes the cost record it is: its phase the metric,
    its duration the value (then checked as a cost). The failure category it was given is dropped, and
    ``failed_at`` is not known (its message named the phase)."""
    if not is_legacy_cost(rec.get("phase")):
        return
    rec["type"] = Cost.KIND
    rec["metric"] = rec.pop("phase")
    rec["value_ns"] = rec.pop("duration_ns") or 0
    for key in ("error", "message", "engine"):
        rec.pop(key, None)


# Each step brings a sample written before that version to the version's fields (or, from 6 on, to the
# record kind it is); they run in order. A change a reader must know about is a new version here, its
# step, and a line in the history above.
SAMPLE_UPGRADES: tuple[tuple[int, Callable[[dict[str, Any]], None]], ...] = ((2, _to_v2), (5, _to_v5), (6, _to_v6))


def upgrade_sample(rec: dict[str, Any], version: int) -> None:
    """An older version's sample line brought to the current fields, in place, before it is checked: the
    one place where older samples are read (as asv's results.py update_to_N does), so nothing downstream
    of the reader knows older versions existed."""
    for introduced, step in SAMPLE_UPGRADES:
        if version < introduced:
            step(rec)


def check_cost(rec: dict[str, Any], where: str) -> None:
    for key in REQUIRED_COST_FIELDS:
        if key not in rec:
            raise ResultFileError(
                f"{where}: cost record has no {key!r}: the file is damaged or not written by isobench."
            )
    for key, kinds in COST_FIELDS.items():
        value = rec.get(key)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise ResultFileError(f"{where}: cost field {key!r} is {value!r}, expected {names}.")
    if rec["value_ns"] < 0:
        raise ResultFileError(f"{where}: cost value_ns is negative ({rec['value_ns']}): the file is damaged.")
    if not is_scenario_name(rec["scenario"]):
        raise ResultFileError(f"{where}: cost scenario is {rec['scenario']!r}: the file is damaged.")


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
    if not is_scenario_name(rec.get("scenario")):
        raise ResultFileError(
            f"{where}: sample scenario is {rec.get('scenario')!r}, not a scenario's name (lower case words "
            "joined by '-'): the file is damaged."
        )


CHUNK_BYTES = 16 * 1024 * 1024


@dataclass
class Columns:
    """Sample fields as parallel lists (what the analysis builds its frame from)."""

    data: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in SAMPLE_FIELDS})

    def __len__(self) -> int:
        return len(self.data["round"])


def _lines(path: Path, warnings: list[str]) -> Iterator[tuple[int, list[bytes]]]:
    """Chunks of raw lines, with the line number of each chunk's first line. A last line
    without a newline that does not parse is a truncated tail: dropped with a warning."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise ResultFileError(
            f"result file {path} does not exist: pass the path of a .jsonl file under results/."
        ) from None
    except IsADirectoryError:
        raise ResultFileError(f"{path} is a directory: pass the path of a .jsonl result file.") from None
    except OSError as exc:
        raise ResultFileError(f"result file {path} cannot be read ({exc.strerror}): check its permissions.") from None
    with fh:
        first = 1
        while True:
            chunk = fh.readlines(CHUNK_BYTES)
            if not chunk:
                return
            if not chunk[-1].endswith(b"\n"):  # only the file's last line can lack one
                try:
                    orjson.loads(chunk[-1])
                except orjson.JSONDecodeError:
                    warnings.append(
                        f"{path}:{first + len(chunk) - 1}: truncated last line ignored (the run was cut off mid-write)."
                    )
                    chunk.pop()
            if chunk:
                yield first, chunk
            first += len(chunk)


def _parse_chunk(path: Path, first: int, chunk: list[bytes]) -> list[Any]:
    try:  # one parse per chunk: several times faster than one per line
        recs = orjson.loads(b"[" + b",".join(chunk) + b"]")
        if len(recs) == len(chunk):
            return recs
    except orjson.JSONDecodeError:
        pass
    for i, raw in enumerate(chunk):
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ResultFileError(
                f"{path}:{first + i}: not a JSON record: the file is damaged (only a truncated last line is tolerated)."
            ) from None
    return [orjson.loads(raw) for raw in chunk]


_SAMPLE_KEYS = tuple(SAMPLE_FIELDS)
_get_all = operator.itemgetter(*_SAMPLE_KEYS)


def _check_samples(samples: list[dict[str, Any]], linenos: list[int], path: Path, out: Columns) -> None:
    """Checks a batch of samples column by column (fast for a million lines); the first bad
    one is reported through check_sample, so the message is the same as record by record."""
    try:
        cols = (
            dict(zip(_SAMPLE_KEYS, map(list, zip(*map(_get_all, samples)))))
            if samples
            else {k: [] for k in _SAMPLE_KEYS}
        )
    except KeyError:  # a field is missing somewhere: a required one is an error, others read as null
        for i, rec in enumerate(samples):
            check_sample(rec, f"{path}:{linenos[i]}")
        cols = {k: [r.get(k) for r in samples] for k in _SAMPLE_KEYS}
    for key, kinds in SAMPLE_FIELDS.items():
        col = cols[key]
        if not set(map(type, col)) <= set(kinds):
            i = next(i for i, v in enumerate(col) if type(v) not in kinds)
            check_sample(samples[i], f"{path}:{linenos[i]}")
    bad = [
        i
        for i, (d, ok) in enumerate(zip(cols["duration_ns"], cols["ok"]))
        if (d is None and ok) or (d is not None and d < 0)
    ]
    if not all(is_scenario_name(v) for v in set(cols["scenario"])):
        bad.append(next(i for i, v in enumerate(cols["scenario"]) if not is_scenario_name(v)))
        bad.sort()
    if bad:
        check_sample(samples[bad[0]], f"{path}:{linenos[bad[0]]}")
    for key, col in cols.items():
        out.data[key].extend(col)


def _upgrade_samples(recs: list[dict[str, Any]], version: int) -> None:
    for rec in recs:
        if rec.get("type") == "sample":
            upgrade_sample(rec, version)


def _checked_end(rec: dict[str, Any], where: str) -> End:
    if rec.get("status") not in END_STATUSES:
        raise ResultFileError(f"{where}: end status {rec.get('status')!r} is not one of {', '.join(END_STATUSES)}.")
    return End.from_json(rec)


@dataclass
class Parsed:
    header: Header
    columns: Columns
    records: Optional[list[Sample]]
    end: Optional[End]
    resumes: list[Resume]
    warnings: list[str]
    costs: list[Cost] = field(default_factory=list)


def parse(path: Path, keep_records: bool = False) -> Parsed:
    """Reads and checks a result set: the one place the line grammar is enforced.

    Line 1 is a header; then sample, cost, resume and end records; a resume supersedes
    an earlier end. ``keep_records`` also returns the samples as records (small files); cost
    records are always returned, apart from the samples (they are few: one per metric per cycle).
    """
    path = Path(path)
    warnings: list[str] = []
    header: Optional[Header] = None
    end: Optional[End] = None
    resumes: list[Resume] = []
    costs: list[Cost] = []
    columns = Columns()
    records: Optional[list[Sample]] = [] if keep_records else None
    last_kind = None
    version = SCHEMA_VERSION
    for first, chunk in _lines(path, warnings):
        recs = _parse_chunk(path, first, chunk)
        if set(map(type, recs)) != {dict}:
            i = next(i for i, r in enumerate(recs) if type(r) is not dict)
            raise ResultFileError(f"{path}:{first + i}: expected a JSON object, found {type(recs[i]).__name__}.")
        start = 0
        if header is None:
            header, version = upgrade_header(check_header(recs[0], f"{path}:{first}"))
            start = 1
        if version < SCHEMA_VERSION:  # older samples brought to today's fields (or kind) before anything reads them
            _upgrade_samples(recs[start:], version)
        kinds = [r.get("type") for r in recs[start:]]
        if kinds and set(kinds) == {"sample"}:  # the common case: a chunk of samples only
            samples, linenos = recs[start:], list(range(first + start, first + len(recs)))
            last_kind = "sample"
        else:
            samples, linenos = [], []
        for lineno, rec, kind in () if linenos else zip(range(first + start, first + len(recs)), recs[start:], kinds):
            last_kind = kind
            if kind == "sample":
                samples.append(rec)
                linenos.append(lineno)
            elif kind == "cost":
                check_cost(rec, f"{path}:{lineno}")
                costs.append(Cost.from_json(rec))
            elif kind == "end":
                end = _checked_end(rec, f"{path}:{lineno}")
            elif kind == "resume":
                resumes.append(Resume.from_json(rec))
                end = None
            else:
                raise ResultFileError(
                    f"{path}:{lineno}: unknown record type {kind!r}: expected sample, cost, resume or end."
                )
        _check_samples(samples, linenos, path, columns)
        if records is not None:
            records.extend(map(Sample.from_json, samples))
    if header is None:
        raise ResultFileError(f"{path}: the file is empty: it holds no isobench header.")
    if last_kind != "end":
        warnings.append(f"{path}: no end record: the run was cut off (crash or kill); its samples are kept.")
    return Parsed(header, columns, records, end, resumes, warnings, costs)


def read_resultset(path: Path) -> ResultSet:
    """Reads and checks a whole result set, samples and cost records apart."""
    p = parse(path, keep_records=True)
    return ResultSet(Path(path), p.header, p.records or [], p.end, p.resumes, p.warnings, p.costs)
