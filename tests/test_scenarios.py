"""The scenario plug-ins (bench/scenarios, analysis/scenarios): one registry each, by name, and a run
driver that knows no scenario by name."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import analysis.scenarios as analysis_side
from bench import scenarios
from bench.core.config import parse_config
from bench.core.errors import UserError
from bench.core.phases import SCENARIOS

REPO = Path(__file__).resolve().parent.parent
RUN_ONLY = {"both": ("warm", "cold"), "scale": ("burst", "rate", "density")}


def test_every_scenario_a_config_may_name_is_registered_once() -> None:
    assert set(scenarios.REGISTRY) == set(SCENARIOS) | set(RUN_ONLY)
    assert all(s.name == name for name, s in scenarios.REGISTRY.items())


def test_every_scenario_whose_samples_the_analysis_reads_has_its_analysis_under_the_same_name() -> None:
    assert tuple(analysis_side.REGISTRY) == SCENARIOS
    for name, parts in RUN_ONLY.items():  # a run-only scenario writes the samples of others
        assert all(p in analysis_side.REGISTRY for p in parts), name


def test_a_run_only_scenario_carries_the_sample_kinds_of_the_scenarios_it_runs() -> None:
    for name, parts in RUN_ONLY.items():
        kinds = set(scenarios.REGISTRY[name].sample_kinds)
        assert all(set(scenarios.REGISTRY[p].sample_kinds) <= kinds for p in parts)


def test_the_run_driver_names_no_scenario_and_stays_small() -> None:
    text = (REPO / "bench" / "run.py").read_text()
    assert not re.findall(r"scenario ==|SERVICE|is_scale|cold", text)
    assert len(text.splitlines()) < 300


@pytest.mark.parametrize(
    ("scenario", "scale", "says"),
    [
        ("burst", {"burst": ()}, "no burst level to run"),
        ("scale", {"burst": ()}, "no burst level to run"),
        ("density", {"density_skip": ("runc",)}, "density_skip"),
        ("scale", {"density_step": 9, "density_max": 8}, "no step would fit"),
        ("service", {}, "runs swarm services only"),
    ],
)
def test_a_scenario_refuses_a_config_that_could_measure_nothing(
    scenario: str, scale: dict[str, Any], says: str
) -> None:
    config = parse_config({"run": {"scenario": scenario}, "mode": [{"preset": "runc"}]}, "t", host_os="linux")
    config = replace(config, scale=replace(config.scale, **scale))
    with pytest.raises(UserError, match=says):
        scenarios.get(scenario).check(config)


def test_rate_and_the_cycle_scenarios_refuse_nothing_up_front() -> None:
    for name in ("warm", "cold", "both", "rate"):
        config = parse_config({"run": {"scenario": name}, "mode": [{"preset": "runc"}]}, "t", host_os="linux")
        scenarios.get(name).check(config)


def test_the_command_offers_every_registered_scenario() -> None:
    """`--scenario`'s choices are spelled out in bench/cli.py (the registry's imports cost a second at
    every command's start): this keeps them the registry's."""
    from bench.cli import build_isobench_parser

    parser = build_isobench_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions if a.dest == "scenario")  # type: ignore[union-attr]
    assert set(run.choices or ()) == set(scenarios.REGISTRY)
