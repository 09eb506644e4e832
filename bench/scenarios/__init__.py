"""Scenario plug-ins: one module per scenario (bench/scenarios/<name>.py, its analysis side
analysis/scenarios/<name>.py), each registered here by its name. The run driver (bench.run) knows
scenarios only through this registry and the interface in bench.scenarios.base.

Shared machinery: cycles (warm, cold, both), groups (burst, rate, density, scale)."""

from __future__ import annotations

from bench.core.errors import UserError
from bench.scenarios import both, burst, cold, density, first_start, rate, scale, service, size, warm
from bench.scenarios.base import Scenario

REGISTRY: dict[str, Scenario] = {
    m.SCENARIO.name: m.SCENARIO for m in (warm, cold, both, burst, rate, density, scale, service, first_start, size)
}


def get(name: str) -> Scenario:
    """The scenario called ``name`` (a config names one of the registry's: bench.core.config checks it)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"no scenario {name!r}: use one of {', '.join(REGISTRY)}.") from None
