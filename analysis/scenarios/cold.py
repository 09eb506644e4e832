"""cold (bench/scenarios/cold.py): the cold summary (engine_up, cold_startup) and its distributions."""

from analysis.scenarios.base import ROUNDS, ScenarioAnalysis
from bench.core.phases import COLD_DERIVED

# COLD_DERIVED stays in bench.core.phases: the harness's precision rule and the pyperf export read it too.
ANALYSIS = ScenarioAnalysis(
    "cold", pairing=ROUNDS, modules=("analysis.report", "analysis.metrics", "analysis.plots"), derived=COLD_DERIVED
)
