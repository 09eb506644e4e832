"""both: the warm scenario's rounds, then the cold scenario's (bench.scenarios.warm, .cold). A mode
without an engine control runs its warm rounds only. Its samples are warm and cold samples, so its
analysis is theirs (analysis/scenarios/warm.py, cold.py)."""

from __future__ import annotations

from typing import Any

from bench.core.config import Config
from bench.scenarios import cold, warm
from bench.scenarios.base import RunContext
from bench.scenarios.cycles import CycleScenario


class Both(CycleScenario):
    name = "both"
    sample_kinds = warm.SCENARIO.sample_kinds + cold.SCENARIO.sample_kinds

    def rounds_planned(self, config: Config) -> int:
        return warm.SCENARIO.rounds_planned(config) + cold.SCENARIO.rounds_planned(config)

    def controls(self, ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
        return cold.engine_controls(ctx, required=False)


SCENARIO = Both()
