"""size (bench/scenarios/size.py): cycles paired by round, one per mode and image size; `level` is the
image's size in MiB, so claims select a size by level (claims.toml: the ranking at each size, the size
penalty as a slowdown from the smallest to the largest), and the report draws startup against size."""

from analysis.scenarios.base import ROUNDS, ScenarioAnalysis

ANALYSIS = ScenarioAnalysis(
    "size", pairing=ROUNDS, levels=True, modules=("analysis.size_plots",), part="analysis.size_plots:part"
)
