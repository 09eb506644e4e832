"""density: idle containers of one mode brought up in steps until a stop rule (memory, a failure, the
most asked for), with the memory facts per step (bench.schedule.density). Analysis:
analysis/scenarios/density.py."""

from __future__ import annotations

from bench.core.config import Config
from bench.core.errors import UserError
from bench.core.phases import DENSITY, SCALE_PHASES, STEP, TEARDOWN
from bench.scenarios.groups import GroupScenario


class Density(GroupScenario):
    name = DENSITY
    sample_kinds = SCALE_PHASES + (STEP, TEARDOWN)

    def check(self, config: Config) -> None:
        """A density run that could measure nothing is refused before anything starts: one sentence."""
        s = config.scale
        if all(m.name in s.density_skip for m in config.modes):
            raise UserError("every mode is in [scale] density_skip: no density steps to run; choose another mode.")
        if s.density_step > s.density_max:
            raise UserError(
                f"--density-step {s.density_step} is more than --density-max {s.density_max}: no step would fit."
            )


SCENARIO = Density()
