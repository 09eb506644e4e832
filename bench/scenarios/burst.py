"""burst: N containers of one mode started at once behind a barrier, each (mode, N) repeated in seeded
shuffled rounds (bench.schedule.burst; the group's makespan: bench.measure.burst). Analysis:
analysis/scenarios/burst.py."""

from __future__ import annotations

from bench.core.config import Config
from bench.core.errors import UserError
from bench.core.phases import BURST, MAKESPAN, SCALE_PHASES
from bench.scenarios.groups import GroupScenario


class Burst(GroupScenario):
    name = BURST
    sample_kinds = SCALE_PHASES + (MAKESPAN,)

    def check(self, config: Config) -> None:
        """A burst run with no level to run is refused before anything starts: one sentence."""
        if not any(config.scale.levels_for(m.name) for m in config.modes):
            raise UserError(
                "no burst level to run: give --burst a list such as 1,2,4,8 (and check [scale] burst_levels)."
            )


SCENARIO = Burst()
