"""warm (bench/scenarios/warm.py): the summary table, distributions, ECDF, drift and breakdown figures."""

from analysis.scenarios.base import ROUNDS, ScenarioAnalysis

ANALYSIS = ScenarioAnalysis("warm", pairing=ROUNDS, modules=("analysis.report", "analysis.plots"))
