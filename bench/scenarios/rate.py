"""rate: open-loop arrivals at a fixed rate per mode, one run per (mode, rate) (bench.schedule.rate): a
slow engine lengthens each arrival's startup, never delays the arrivals. Analysis:
analysis/scenarios/rate.py."""

from __future__ import annotations

from bench.core.phases import MAKESPAN, RATE, RATE_PHASES
from bench.scenarios.groups import GroupScenario


class Rate(GroupScenario):
    name = RATE
    sample_kinds = RATE_PHASES + (MAKESPAN,)


SCENARIO = Rate()
