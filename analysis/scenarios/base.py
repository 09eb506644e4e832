"""What the analysis knows of a scenario, by the name its samples carry (`scenario`): one record per
scenario (analysis/scenarios/<name>.py, beside bench/scenarios/<name>.py), registered by name in
analysis.scenarios.registry(). The claims take their selectors and pairing from it; the report its
headline. A record names the modules that build its tables and figures, so a reader finds them."""

from __future__ import annotations

from dataclasses import dataclass

# How a claim compares two modes' samples of a scenario.
ROUNDS = "rounds"  # one cycle per mode per round: paired by round where it can
GROUPS = "groups"  # many containers per group share its conditions: unpaired, CIs resample whole groups
SERVICES = "services"  # a service's tasks are not independent: services are compared, not tasks


@dataclass(frozen=True)
class ScenarioAnalysis:
    """A scenario's analysis side. ``levels``: its claims may select a level (`level`, `baseline_level`);
    ``headline``: its claims' verdicts make the report's headline sentence when the set has any;
    ``modules``: where its tables, sections and figures are built."""

    name: str
    pairing: str = ROUNDS
    levels: bool = False
    headline: bool = False
    modules: tuple[str, ...] = ()
