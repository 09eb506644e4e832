"""The records of a result set as frozen, typed values: what the writer takes and the reader gives.

Each record kind is one frozen dataclass; its fields are its JSON keys, in the order written, and each
field's ``json`` metadata names the JSON types the reader accepts for it (None: null allowed). The
reader's checks of samples (bench.results.resultset's SAMPLE_FIELDS, REQUIRED_SAMPLE_FIELDS, which
analysis.fastread uses too) are derived from these declarations, so (docs/architecture.md, "Records",
has the whole checklist):

- **a new field** is one line in its record's class, with a default (what sets written before it read
  as); only when a reader must know about it (a rename, a new meaning), also a new SCHEMA_VERSION and a
  step in SAMPLE_UPGRADES in bench.results.resultset;
- **a new record kind** is one class here (``KIND`` its ``type`` string; ``to_json``/``from_json`` come
  from Record) plus its line in ``KINDS``, and a list for it in resultset.parse, apart from samples
  (Cost is one: a cost is no phase of a cycle).

docs/resultset.md documents every field for users.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar, Mapping, Optional, TypedDict, TypeVar

from bench.core.phases import BURST, DENSITY, RATE, SERVICE, SIZE

_NULL = type(None)

# What a scale or service sample's ``level`` counts, by scenario. Named in every such sample as
# ``level_unit``, so one column never mixes a count with a rate unnoticed.
CONTAINERS = "containers"  # a burst: N containers started together
STARTS_PER_S = "starts/s"  # a rate run: the arrival rate
RUNNING = "running"  # a density step: idle containers already running
REPLICAS = "replicas"  # a service: its replica count
MIB = "MiB"  # the size scenario: the image's size (its first starts carry it too)
LEVEL_UNITS: dict[str, str] = {BURST: CONTAINERS, RATE: STARTS_PER_S, DENSITY: RUNNING, SERVICE: REPLICAS, SIZE: MIB}


def _json(*kinds: type, omit_null: bool = False) -> dict[str, Any]:
    """A field's metadata: the JSON types a line may hold there; ``omit_null``: the key is written only when
    set (sections that sets have always had absent rather than null)."""
    return {"json": kinds, "omit_null": omit_null}


R = TypeVar("R", bound="Record")


@dataclass(frozen=True)
class Record:
    """A line of a result set. Subclasses set ``KIND`` (the line's ``type``)."""

    KIND: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The line as written: ``type`` first, then the fields in declaration order (no copy of nested
        values: the writer serialises them at once)."""
        rec: dict[str, Any] = {"type": self.KIND}
        for name in _names(type(self)):
            rec[name] = getattr(self, name)
        for name in _omitted(type(self)):
            if rec[name] is None:
                del rec[name]
        return rec

    @classmethod
    def from_json(cls: type[R], rec: Mapping[str, Any]) -> R:
        """The record from a checked line: absent optional fields take their defaults, unknown keys are
        ignored (a newer writer's additive fields)."""
        names = field_names(cls)
        return cls(**{k: v for k, v in rec.items() if k in names})

    def but(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (records are frozen: what was taken is never edited in place)."""
        return replace(self, **changes)


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


_OMITTED: dict[type, tuple[str, ...]] = {}


def _omitted(cls: type) -> tuple[str, ...]:
    names = _OMITTED.get(cls)
    if names is None:
        names = _OMITTED[cls] = tuple(f.name for f in fields(cls) if f.metadata.get("omit_null"))
    return names


_FIELD_SETS: dict[type, frozenset[str]] = {}


def field_names(cls: type[Record]) -> frozenset[str]:
    names = _FIELD_SETS.get(cls)
    if names is None:
        names = _FIELD_SETS[cls] = frozenset(_names(cls))
    return names


def json_types(cls: type[Record]) -> dict[str, tuple[type, ...]]:
    """Field -> the JSON types a line may hold there, in declaration order."""
    return {f.name: f.metadata["json"] for f in fields(cls)}


def required(cls: type[Record]) -> tuple[str, ...]:
    """The fields every line of the kind must have (those without a default)."""
    return tuple(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)


@dataclass(frozen=True, kw_only=True)
class Sample(Record):
    """One timed phase of a container (or a group's own measure). ``duration_ns`` of a failed sample is the
    time until the failure (None when the phase never ran): never a success time."""

    KIND: ClassVar[str] = "sample"

    round: int = field(metadata=_json(int))
    pos: int = field(metadata=_json(int))
    mode: str = field(metadata=_json(str))
    phase: str = field(metadata=_json(str))
    duration_ns: Optional[int] = field(metadata=_json(int, _NULL))
    ok: bool = field(metadata=_json(bool))
    error: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    message: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    warmup: bool = field(metadata=_json(bool))
    wall_ns: int = field(metadata=_json(int))
    cid: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    engine: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL))
    detail: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL))
    scenario: str = field(default="warm", metadata=_json(str))
    # The scale and service scenarios (null elsewhere). ``group``: the id of the group the sample belongs
    # to, unique in the set (one burst, one rate run, one density step, one service); ``level``: where the
    # group stood, counted in ``level_unit`` (LEVEL_UNITS); ``slot``: the container's or task's place in
    # the group (null on the group's own sample).
    group: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    level: Optional[float] = field(default=None, metadata=_json(int, float, _NULL))
    level_unit: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    slot: Optional[int] = field(default=None, metadata=_json(int, _NULL))


class Place(TypedDict, total=False):
    """Where the samples of one container or group stand: the Sample fields they share, spread into each
    ``Sample(**place, phase=..., ...)`` (mypy checks the keys against Sample's fields)."""

    round: int
    pos: int
    mode: str
    warmup: bool
    scenario: str
    group: Optional[int]
    level: Optional[float]
    level_unit: Optional[str]
    slot: Optional[int]


@dataclass(frozen=True, kw_only=True)
class Resume(Record):
    """Where `isobench run --resume` continued the set: the gap, how the earlier part ended, what was left."""

    KIND: ClassVar[str] = "resume"

    resumed_ns: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    gap_from_ns: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    previous_end: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    rounds_done: int = field(default=0, metadata=_json(int))
    rounds_remaining: int = field(default=0, metadata=_json(int))
    seed: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    cold_rounds_done: int = field(default=0, metadata=_json(int))
    cold_rounds_remaining: int = field(default=0, metadata=_json(int))
    swept_at_resume: int = field(default=0, metadata=_json(int))
    warnings: tuple[str, ...] | list[str] = field(default=(), metadata=_json(list))
    leases: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    concurrent: bool = field(default=False, metadata=_json(bool))


@dataclass(frozen=True, kw_only=True)
class End(Record):
    """The last line: how the run ended. Fields absent from older sets read as their defaults."""

    KIND: ClassVar[str] = "end"

    status: str = field(metadata=_json(str))  # complete, interrupted or failed
    reason: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    measured_rounds: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    measured_cycles: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    # mode -> phase -> {"ok": n, "failed": n}, and "_errors" -> category -> n
    counts: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    swept_at_end: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    leaked: tuple[str, ...] | list[str] = field(default=(), metadata=_json(list))
    ended_ns: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    leases: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    concurrent_with: tuple[str, ...] | list[str] = field(default=(), metadata=_json(list))
    stop: Optional[str] = field(default=None, metadata=_json(str, _NULL))  # results_disk_full, engine_disk_full
    # "fleet" when the fleet's sink wrote it for a task that never said how it ended
    written_by: Optional[str] = field(default=None, metadata=_json(str, _NULL, omit_null=True))
    # first-start with the user's own registry ([scenario.first-start] registry): the images isobench
    # pushed there that it could not delete at the end, each with why (a registry without deletes
    # answers 405); absent when none
    registry_left: Optional[tuple[str, ...] | list[str]] = field(
        default=None, metadata=_json(list, _NULL, omit_null=True)
    )


@dataclass(frozen=True, kw_only=True)
class Header(Record):
    """The first line: what ran where, with which settings. The nested sections stay JSON objects (their
    shapes are documented in docs/resultset.md and owned by the modules that build them). The writer sets
    every field; the defaults are what the reader gives for a section an older or hand-made set lacks (the
    reader requires only schema, version, run_id, modes and host)."""

    KIND: ClassVar[str] = "header"

    schema: str = field(metadata=_json(str))
    version: int = field(metadata=_json(int))
    run_id: str = field(metadata=_json(str))
    created: str = field(default="", metadata=_json(str))
    created_ns: int = field(default=0, metadata=_json(int))
    seed: int = field(default=0, metadata=_json(int))
    config: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    host: Mapping[str, Any] = field(metadata=_json(dict))
    python: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    packages: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    modes: Mapping[str, Any] = field(metadata=_json(dict))
    skipped: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    swept_at_start: int = field(default=0, metadata=_json(int))
    harness: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    label: str = field(default="", metadata=_json(str))
    # The cold scenario, per usable mode: how its engine is stopped and started, or why it cannot be.
    cold: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    # Per engine: this run's lease there (bench.engine.lease); `concurrent`: it ran beside another run.
    leases: Mapping[str, Any] = field(default_factory=dict, metadata=_json(dict))
    concurrent: bool = field(default=False, metadata=_json(bool))
    # A scenario's own sections, written only when set: the scale scenarios' bounds, the service scenario's
    # settings and swarm; a fleet host's set names its fleet.
    scale: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL, omit_null=True))
    service: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL, omit_null=True))
    fleet: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL, omit_null=True))
    # The first-start scenario's image source (a registry, or docker load) and the size scenario's images.
    first_start: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL, omit_null=True))
    size: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL, omit_null=True))
    # Set by the reader only: the version an older set was written in (it reads as the current one).
    upgraded_from: Optional[int] = field(default=None, metadata=_json(int, _NULL, omit_null=True))

    def roles(self) -> dict[str, str]:
        """Usable mode -> its role ("" where a mode's record names none)."""
        return {m: str(rec.get("role") or "") for m, rec in self.modes.items()}


@dataclass(frozen=True, kw_only=True)
class Cost(Record):
    """What a measured cycle (or a group: slot null) cost the host, or a step of its startup waterfall (the
    metric names are bench.core.costs'). ``value_ns``: CPU time (user + system) for a CPU metric, wall time
    for the waterfall's. ``ok`` False: the cycle failed (at ``failed_at``, a phase), so the figure is kept
    but is no start's cost. A cost has no failure category of its own: a figure that cannot be read is not
    written at all (the header's ``harness.cost`` says why)."""

    KIND: ClassVar[str] = "cost"

    round: int = field(metadata=_json(int))
    pos: int = field(metadata=_json(int))
    mode: str = field(metadata=_json(str))
    scenario: str = field(metadata=_json(str))
    warmup: bool = field(metadata=_json(bool))
    # Where the cycle stood in a scale scenario, as its samples' fields of the same names (null elsewhere).
    group: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    level: Optional[float] = field(default=None, metadata=_json(int, float, _NULL))
    level_unit: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    slot: Optional[int] = field(default=None, metadata=_json(int, _NULL))
    metric: str = field(metadata=_json(str))
    value_ns: int = field(metadata=_json(int))
    ok: bool = field(metadata=_json(bool))
    failed_at: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    wall_ns: int = field(metadata=_json(int))
    cid: Optional[str] = field(default=None, metadata=_json(str, _NULL))
    detail: Optional[Mapping[str, Any]] = field(default=None, metadata=_json(dict, _NULL))


# Every record kind by its ``type``: the one list the writer and the reader go by.
KINDS: dict[str, type[Record]] = {k.KIND: k for k in (Header, Sample, Cost, Resume, End)}
