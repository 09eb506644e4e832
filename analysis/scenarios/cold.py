"""cold (bench/scenarios/cold.py): the cold summary (engine_up, cold_startup) and its distributions."""

from analysis.scenarios.base import ROUNDS, ScenarioAnalysis

ANALYSIS = ScenarioAnalysis("cold", pairing=ROUNDS, modules=("analysis.report", "analysis.metrics", "analysis.plots"))
