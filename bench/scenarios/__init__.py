"""Scenario plug-ins: one module per scenario, bench/scenarios/<name>.py defining ``SCENARIO`` (its
analysis side: analysis/scenarios/<name>.py; a name's hyphens are underscores in the file name:
first-start is first_start.py). The registry is the package's modules, found by their
file names: adding a scenario is adding its module, with no list to edit. The run driver (bench.run)
knows scenarios only through this registry and the interface in bench.scenarios.base.

Shared machinery, not scenarios: base (the interface), cycles (warm, cold, both), groups (burst,
rate, density, scale)."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from bench.core.config import Config
from bench.core.config import load_config as _load_config
from bench.core.config import parse_config as _parse_config
from bench.core.errors import UserError

if TYPE_CHECKING:
    from bench.core.scenario_settings import ScenarioSettings
    from bench.scenarios.base import Scenario

SHARED = frozenset({"base", "cycles", "groups"})


def names() -> tuple[str, ...]:
    """Every scenario's name, read from the modules' file names without importing them: the
    command's `--scenario` choices need them at every start, and the modules import the engine layers."""
    found = (m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg)
    return tuple(sorted(scenario_name(n) for n in found if n not in SHARED and not n.startswith("_")))


def scenario_name(file_stem: str) -> str:
    """The scenario name of a module: first_start.py holds first-start."""
    return file_stem.replace("_", "-")


@functools.cache
def registry() -> dict[str, Scenario]:
    """Name -> scenario, every module imported once."""
    return {n: importlib.import_module(f"{__name__}.{n.replace('-', '_')}").SCENARIO for n in names()}


def get(name: str) -> Scenario:
    """The scenario called ``name``: one the registry does not know is one sentence."""
    try:
        return registry()[name]
    except KeyError:
        raise UserError(
            f"no scenario {name!r}: set [run] scenario or --scenario to one of {', '.join(names())}."
        ) from None


def settings_types() -> dict[str, type[ScenarioSettings]]:
    """Name -> the class of its own settings, for every scenario that declares some: what the config
    reads `[scenario.<name>]` with and the command its options from (bench.core.scenario_settings)."""
    return {name: s.settings for name, s in registry().items() if s.settings is not None}


def load_config(path: Path) -> Config:
    """A config file, the scenarios' own settings included."""
    return _load_config(path, settings_types())


def parse_config(data: Any, source: str, host_os: Optional[str] = None) -> Config:
    """A parsed TOML document, the scenarios' own settings included."""
    return _parse_config(data, source, host_os, settings_types())


def config_from_record(rec: Mapping[str, Any]) -> Config:
    """The config a result set's header recorded, the scenarios' own settings included (for --resume)."""
    return Config.from_record(rec, settings_types())
