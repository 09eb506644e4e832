"""A scenario's own settings: what it declares, so that the config and the command line take them without
naming any scenario.

A scenario with settings of its own gives its module (bench/scenarios/<name>.py) a frozen dataclass
deriving from `ScenarioSettings`: its fields are the keys of the config's `[scenario.<name>]` table, with
their defaults; `read` checks them (one sentence naming the key and the fix); `OPTIONS` are the
`isobench run` options that set them; `RUN_KEYS` are keys older configs wrote in `[run]`, still read.
The registry (bench.scenarios.settings_types) hands these classes to the config (`parse_config(...,
settings=...)`): this layer cannot import the scenarios, so they are injected, and the values land in
`Config.scenarios`, keyed by scenario name. A scenario reads its own with `config.settings_of(name, cls)`,
which gives the defaults when the config was read without the registry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, ClassVar, Mapping, Optional, TypeVar

from bench.core.errors import UserError
from bench.core.table import Table

S = TypeVar("S", bound="ScenarioSettings")


@dataclass(frozen=True)
class Option:
    """An `isobench run` (and `ab`) option that sets one of a scenario's settings. ``metavar`` None makes
    it a switch (present: True); otherwise ``parse`` turns its text into the value, and a UserError it
    raises is the command's one sentence."""

    flag: str  # "--sizes"
    key: str  # the settings field it sets
    help: str
    metavar: Optional[str] = None
    parse: Optional[Callable[[str], Any]] = None

    def value(self, given: Any) -> Any:
        """The setting's value for what the command line gave."""
        if self.metavar is None or self.parse is None:
            return bool(given)
        return self.parse(given)


@dataclass(frozen=True)
class ScenarioSettings:
    """Base of every scenario's settings (subclasses are frozen dataclasses with defaults on every field)."""

    # The [run] keys of older configs -> this class's field (upgraded on read; a key set in both places
    # is refused). Its `read` then names the key where the user wrote it.
    RUN_KEYS: ClassVar[Mapping[str, str]] = {}
    OPTIONS: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def read(cls: type[S], table: Table) -> S:
        """The settings a `[scenario.<name>]` table gives (keys it leaves out: the defaults). The default
        reads each field by its default's type (true/false, whole number, number, string, list of strings);
        a class with other fields or checks across keys overrides it."""
        d = cls()
        values: dict[str, Any] = {}
        for key in cls.keys():
            default = getattr(d, key)
            if isinstance(default, bool):
                values[key] = table.boolean(key, default)
            elif isinstance(default, int):
                values[key] = table.whole(key, default, allow_zero=True)
            elif isinstance(default, float):
                values[key] = table.real(key, default)
            elif isinstance(default, str):
                values[key] = table.text(key, default)
            elif isinstance(default, tuple):
                values[key] = table.argv(key, default) or default
            else:
                raise TypeError(f"{cls.__name__}.{key}: override read() for a field whose default is {default!r}")
        return cls(**values)

    @classmethod
    def from_record(cls: type[S], rec: Mapping[str, Any]) -> S:
        """The settings a result set's header recorded (lists back to tuples; keys it lacks: the defaults)."""
        d = cls()
        return cls(
            **{k: tuple(v) if isinstance(getattr(d, k), tuple) else v for k, v in rec.items() if k in cls.keys()}
        )

    def to_record(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def read_settings(
    tables: Table, run: Table, types: Mapping[str, type[ScenarioSettings]]
) -> dict[str, ScenarioSettings]:
    """Every declared scenario's settings, from its `[scenario.<name>]` table and the older `[run]` keys
    it names (taken out of ``run``, so the run table does not see them); a table for a scenario that
    declares none is refused in ``tables.done``."""
    out: dict[str, ScenarioSettings] = {}
    for name, cls in types.items():
        table = tables.table(name)
        for old, key in cls.RUN_KEYS.items():
            value = run.take(old)
            if value is None:
                continue
            if key in table.data:
                raise UserError(
                    f"{run.source}: {run.path(old)} and {table.path(key)} are the same setting: keep "
                    f"{table.path(key)} and remove {run.path(old)}."
                )
            table.data[key] = value
            table.written[key] = run.path(old)
        out[name] = cls.read(table)
        table.done(cls.keys())
    tables.done(types)
    return out


def settings_from_record(
    rec: Optional[Mapping[str, Any]], run: Mapping[str, Any], types: Mapping[str, type[ScenarioSettings]]
) -> dict[str, ScenarioSettings]:
    """The settings a header recorded (`config.scenario`); a header from before this seam kept them among
    its `run` keys (`run.sizes`), read through each class's RUN_KEYS."""
    out: dict[str, ScenarioSettings] = {}
    for name, cls in types.items():
        given = dict((rec or {}).get(name) or {})
        for old, key in cls.RUN_KEYS.items():
            if old in run and run[old] is not None and key not in given:
                given[key] = run[old]
        out[name] = cls.from_record(given)
    return out
