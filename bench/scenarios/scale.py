"""scale: bursts, then rate runs (when rates are given), then density steps, in one set
(bench.schedule.scale.scenarios_of). Its samples are those three scenarios' samples, so its analysis
is theirs (analysis/scenarios/burst.py, rate.py, density.py)."""

from __future__ import annotations

from bench.core.config import Config
from bench.core.phases import SCALE
from bench.scenarios import burst, density, rate
from bench.scenarios.groups import GroupScenario


class Scale(GroupScenario):
    name = SCALE
    sample_kinds = burst.SCENARIO.sample_kinds + rate.SCENARIO.sample_kinds + density.SCENARIO.sample_kinds

    def check(self, config: Config) -> None:
        burst.SCENARIO.check(config)
        density.SCENARIO.check(config)


SCENARIO = Scale()
