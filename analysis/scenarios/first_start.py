"""first-start (bench/scenarios/first_start.py): cycles paired by round like warm ones, each with its pull;
the derived `first_start` (pull + create + start + ready) beside `startup` (analysis.metrics), and the
pull's per-layer times in its detail (detail.pull.layers). With `isobench run --scenario size --first-start`
its samples carry `level` (the image's size in MiB), which claims select."""

from analysis.scenarios.base import ROUNDS, ScenarioAnalysis
from bench.core.phases import PULL

ANALYSIS = ScenarioAnalysis(
    "first-start",
    pairing=ROUNDS,
    levels=True,
    modules=("analysis.metrics", "analysis.size_plots"),
    part="analysis.size_plots:part",
    derived={"first_start": (PULL, "create", "start", "ready")},  # the time to a ready container with no image
)
