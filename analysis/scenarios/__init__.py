"""The analysis side of each scenario: analysis/scenarios/<name>.py defining ``ANALYSIS``, found by
its file name like bench/scenarios/<name>.py (no list to edit). Run-only scenarios (both, scale)
write the samples of others (warm and cold; burst, rate and density), so they have no module here:
bench/scenarios/both.py and scale.py say whose analysis theirs is."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from analysis.scenarios.base import ROUNDS, ScenarioAnalysis


@functools.cache
def registry() -> dict[str, ScenarioAnalysis]:
    """Name -> the scenario's analysis, every module imported once."""
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg and m.name != "base")
    # a name's hyphens are underscores in the file name (first-start: first_start.py)
    return {n.replace("_", "-"): importlib.import_module(f"{__name__}.{n}").ANALYSIS for n in found}


def of(name: str) -> ScenarioAnalysis:
    """The analysis of the scenario ``name``; one the registry does not know is analysed as cycles."""
    return registry().get(name) or ScenarioAnalysis(name, pairing=ROUNDS)
