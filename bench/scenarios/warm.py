"""warm: the engine is up and has run containers before. One cycle per mode per round (create, start,
ready, exec, stop, remove; or the `run` shape), warm-up rounds first, measured rounds until `rounds`,
the budget or the precision rule (bench.schedule.scheduler). Analysis: analysis/scenarios/warm.py."""

from __future__ import annotations

from bench.core.config import Config
from bench.core.phases import ALL_PHASES, CLEANUP, WARM
from bench.scenarios.cycles import CycleScenario


class Warm(CycleScenario):
    name = WARM
    sample_kinds = ALL_PHASES + (CLEANUP,)

    def rounds_planned(self, config: Config) -> int:
        return config.run.warmup + config.run.rounds


SCENARIO = Warm()
