"""rate (bench/scenarios/rate.py): the scale section (analysis.scale, scale_report, scale_plots)."""

from analysis.scenarios.base import GROUPS, ScenarioAnalysis
from bench.core.phases import RATE_DERIVED

ANALYSIS = ScenarioAnalysis(
    "rate",
    pairing=GROUPS,
    levels=True,
    headline=True,
    modules=("analysis.scale", "analysis.scale_report", "analysis.scale_plots"),
    part="analysis.scale_report:part",
    derived=RATE_DERIVED,
)
