"""What the analysis knows of a scenario, by the name its samples carry (`scenario`): one record per
scenario (analysis/scenarios/<name>.py, beside bench/scenarios/<name>.py), registered by name in
analysis.scenarios.registry(). The claims take their selectors and pairing from it; the report its
headline. A record names the modules that build its tables and figures, so a reader finds them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from analysis.export.content import Section
    from bench.results.records import Header

# How a claim compares two modes' samples of a scenario.
ROUNDS = "rounds"  # one cycle per mode per round: paired by round where it can
GROUPS = "groups"  # many containers per group share its conditions: unpaired, CIs resample whole groups
SERVICES = "services"  # a service's tasks are not independent: services are compared, not tasks


@dataclass(frozen=True)
class PartInput:
    """What a scenario's report part is built from: one set's samples with derived metrics (every
    scenario's), its header and file; ``out_dir`` None writes nothing (the end-of-run summary)."""

    every: pd.DataFrame
    header: Header
    path: Path
    out_dir: Optional[Path]
    figures: bool


class ReportPart(Protocol):
    """A scenario's own share of a set's report: its sections (content, rendered by every exporter),
    its figures, the figure it offers the headline, and its lines in the terminal."""

    figures: list[Path]

    @property
    def headline_figure(self) -> Optional[Path]: ...

    def sections(self) -> list[Section]: ...

    def print(self, console: Console, brief: bool = False) -> None: ...


@dataclass(frozen=True)
class ScenarioAnalysis:
    """A scenario's analysis side. ``levels``: its claims may select a level (`level`, `baseline_level`);
    ``headline``: its claims' verdicts make the report's headline sentence when the set has any;
    ``modules``: where its tables, sections and figures are built; ``part``: "module:function" that
    builds its report part from a PartInput (imported only when a report is built: the claims read
    this record too, and need no plotting library). Scenarios sharing one part name the same one.
    ``derived``: metrics computed for this scenario's cycles only, name -> the phases summed
    (analysis.metrics: a value only when every part succeeded); a name no other scenario may use."""

    name: str
    pairing: str = ROUNDS
    levels: bool = False
    headline: bool = False
    modules: tuple[str, ...] = ()
    part: str = ""
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def part_builder(self) -> Optional[Callable[[PartInput], ReportPart]]:
        if not self.part:
            return None
        module, _, function = self.part.partition(":")
        built: Callable[[PartInput], ReportPart] = getattr(importlib.import_module(module), function)
        return built
