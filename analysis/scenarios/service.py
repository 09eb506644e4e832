"""service (bench/scenarios/service.py): the service section (analysis.service, service_report, service_plots)."""

from analysis.scenarios.base import SERVICES, ScenarioAnalysis

ANALYSIS = ScenarioAnalysis(
    "service",
    pairing=SERVICES,
    modules=("analysis.service", "analysis.service_report", "analysis.service_plots"),
    part="analysis.service_report:part",
)
