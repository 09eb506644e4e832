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
from typing import TYPE_CHECKING

from bench.core.errors import UserError

if TYPE_CHECKING:
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
