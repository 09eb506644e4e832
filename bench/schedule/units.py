"""A unit of the scale plan, and what running one needs of the scheduler that plans it.

bench.schedule.scale plans units and hands each to burst, rate or density. Those three see the
scheduler only through ``ScaleHost``, so they import this module and never scale itself: the
imports run one way (scale -> burst/rate/density -> units), with no circle to hide in a function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Protocol

from bench.core.scale import ScaleSettings
from bench.results.records import Place
from bench.results.resultset import ResultWriter
from bench.schedule.scheduler import Tally

if TYPE_CHECKING:
    from bench.engine.preflight import ModeRuntime
    from bench.measure.group import GroupResult
    from bench.measure.scale import ScaleRunner


@dataclass(frozen=True)
class Unit:
    """One group to run: a burst of N, a rate run at λ, or one mode's density steps."""

    scenario: str
    mode: str
    level: Optional[float]
    round: int
    pos: int
    warmup: bool = False

    @property
    def key(self) -> tuple[str, str, Optional[float], int]:
        return (self.scenario, self.mode, self.level, self.round)


class ScaleHost(Protocol):
    """What a unit's runner (bench.schedule.burst, rate, density) uses of the scale scheduler."""

    runner: "ScaleRunner"
    scale: ScaleSettings
    seed: int
    writer: ResultWriter
    tally: Tally
    between_cycles: Optional[Callable[[], None]]

    def base(self, unit: Unit, level: Optional[float] = None) -> Place:
        """The sample fields every container of a new group shares."""
        ...

    def write(self, result: "GroupResult", warmup: bool) -> None:
        """One group's samples, fsynced; counted for the end record."""
        ...

    def after_group(self, rt: "ModeRuntime", result: "GroupResult") -> Optional[str]:
        """Between groups: the lease renewed; why the run must stop, or None."""
        ...

    def wait_for_engine(self, rt: "ModeRuntime") -> bool:
        """False when the mode's engine stayed unavailable through the reconnect attempts."""
        ...
