"""One TOML table being read: typed getters that name the file and the key on error (one sentence:
what is wrong and the fix), and a check that nothing unknown was left over. The config (bench.core.config)
reads its tables with it, and a scenario its own settings (bench.core.scenario_settings)."""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping, Optional

from bench.core.errors import UserError


def _keyname(key: object) -> str:
    """A key as a message shows it: plain when it is a name, quoted (and escaped) otherwise."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


class Table:
    """One TOML table being read: typed getters that name the file and key on error,
    and a check that nothing unknown was left over."""

    def __init__(self, data: Any, where: str, source: str, written: Optional[Mapping[str, str]] = None) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{source}: {where} must be a table, not {type(data).__name__}.")
        self.data = dict(data)
        self.where = where
        self.source = source
        # key -> where the user wrote it, when that is elsewhere (an older key upgraded: run.sizes)
        self.written = dict(written or {})

    def path(self, key: str) -> str:
        """Where a key stands, as a message names it: ``run.rounds``, ``scenario.size.sizes``."""
        return self.written.get(key) or f"{self.where}.{_keyname(key)}"

    def _fail(self, key: str, what: str) -> UserError:
        return UserError(f"{self.source}: {self.path(key)} {what}.")

    def take(self, key: str) -> Any:
        """The raw value of a key (None when absent), taken out so that `done` does not see it."""
        return self.data.pop(key, None)

    def string(self, key: str, default: Optional[str] = None, choices: Optional[Iterable[str]] = None) -> Optional[str]:
        value = self.take(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, f"must be a non-empty string, not {value!r}")
        if choices is not None and value not in choices:
            raise self._fail(key, f"is {value!r}: use one of {', '.join(choices)}")
        return value

    def text(self, key: str, default: str, choices: Optional[Iterable[str]] = None) -> str:
        """A string with a default: never None."""
        value = self.string(key, default, choices)
        return default if value is None else value

    def whole(self, key: str, default: int, allow_zero: bool = False) -> int:
        """A whole number with a default: never None."""
        value = self.number(key, default, integer=True, allow_zero=allow_zero)
        return default if value is None else int(value)

    def real(self, key: str, default: float) -> float:
        """A number with a default: never None."""
        value = self.number(key, default)
        return default if value is None else float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.take(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false, not {value!r}")
        return value

    def number(
        self, key: str, default: Optional[float], *, integer: bool = False, minimum: float = 0, allow_zero: bool = False
    ) -> Optional[float]:
        value = self.take(key)
        if value is None:
            return default
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise self._fail(key, f"must be {kind}, not {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self._fail(key, f"must be a finite {kind}, not {value!r}")
        if value < minimum or (value == minimum and not allow_zero):
            bound = f"at least {minimum}" if allow_zero else f"greater than {minimum}"
            raise self._fail(key, f"must be {bound}, not {value!r}")
        return int(value) if integer else float(value)

    def argv(self, key: str, default: Optional[Iterable[str]]) -> Optional[tuple[str, ...]]:
        value = self.take(key)
        if value is None:
            return tuple(default) if default is not None else None
        if isinstance(value, str):
            raise self._fail(key, 'must be a list of strings (argv form, e.g. ["/bin/sh", "-c", "..."])')
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self._fail(key, f"must be a non-empty list of non-empty strings, not {value!r}")
        return tuple(value)

    def table(self, key: str) -> "Table":
        return Table(self.take(key) or {}, f"{self.where}.{key}", self.source)

    def done(self, allowed: Iterable[str]) -> None:
        if self.data:
            key = sorted(self.data)[0]
            hint = difflib.get_close_matches(key, list(allowed), n=1)
            known = ", ".join(sorted(allowed))
            fix = f"did you mean {hint[0]!r}?" if hint else f"known keys are {known}" if known else "remove it"
            raise UserError(f"{self.source}: unknown key {self.where}.{_keyname(key)}: {fix}")
