"""The analysis side of each scenario, registered by the name its samples carry. Run-only scenarios
(both, scale) write the samples of others (warm and cold; burst, rate and density), so they have no
entry here: bench/scenarios/both.py and scale.py say whose analysis theirs is."""

from __future__ import annotations

from analysis.scenarios import burst, cold, density, first_start, rate, service, size, warm
from analysis.scenarios.base import ROUNDS, ScenarioAnalysis

REGISTRY: dict[str, ScenarioAnalysis] = {
    m.ANALYSIS.name: m.ANALYSIS for m in (warm, cold, burst, rate, density, service, first_start, size)
}


def of(name: str) -> ScenarioAnalysis:
    """The analysis of the scenario ``name``; one the registry does not know is analysed as cycles."""
    return REGISTRY.get(name) or ScenarioAnalysis(name, pairing=ROUNDS)
