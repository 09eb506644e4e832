"""The scenario plug-ins (bench/scenarios, analysis/scenarios): one registry each, by name, and a run
driver that knows no scenario by name."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import analysis.scenarios as analysis_side
from bench import scenarios
from bench.core.config import parse_config
from bench.core.errors import UserError

REPO = Path(__file__).resolve().parent.parent
RUN_ONLY = {"both": ("warm", "cold"), "scale": ("burst", "rate", "density")}


def test_every_scenario_module_is_registered_under_its_file_name() -> None:
    stems = {p.stem for p in (REPO / "bench" / "scenarios").glob("*.py")} - scenarios.SHARED - {"__init__"}
    files = {stem.replace("_", "-") for stem in stems}
    assert set(scenarios.names()) == files
    assert {"warm", "cold", "both", "burst", "rate", "density", "scale", "service"} <= files
    assert all(s.name == name for name, s in scenarios.registry().items())


def test_every_scenario_whose_samples_the_analysis_reads_has_its_analysis_under_the_same_name() -> None:
    analysed = set(analysis_side.registry())
    assert analysed == set(scenarios.names()) - set(RUN_ONLY)
    assert all(a.name == name for name, a in analysis_side.registry().items())
    for name, parts in RUN_ONLY.items():  # a run-only scenario writes the samples of others
        assert all(p in analysed for p in parts), name


def test_a_scenario_is_added_by_adding_its_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No list to edit: a module dropped into the package is a scenario the registry, the command's
    choices and the driver's lookup all know."""
    module = "from bench.scenarios.warm import Warm\n\nclass Planted(Warm):\n    name = 'planted'\n\n"
    module += "SCENARIO = Planted()\n"
    (tmp_path / "planted.py").write_text(module)
    monkeypatch.setattr(scenarios, "__path__", [*scenarios.__path__, str(tmp_path)])
    scenarios.registry.cache_clear()
    try:
        assert "planted" in scenarios.names()
        assert scenarios.get("planted").name == "planted"
        from bench.cli import build_isobench_parser

        assert "planted" in _run_choices(build_isobench_parser())
    finally:
        scenarios.registry.cache_clear()
        sys.modules.pop("bench.scenarios.planted", None)


def test_a_scenario_nobody_wrote_is_one_sentence_naming_the_choices() -> None:
    with pytest.raises(UserError, match=r"no scenario 'nope': set \[run\] scenario or --scenario to one of .*warm"):
        scenarios.get("nope")


def test_a_run_only_scenario_carries_the_sample_kinds_of_the_scenarios_it_runs() -> None:
    for name, parts in RUN_ONLY.items():
        kinds = set(scenarios.get(name).sample_kinds)
        assert all(set(scenarios.get(p).sample_kinds) <= kinds for p in parts)


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


def _run_choices(parser: Any) -> set[str]:
    run = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions if a.dest == "scenario")
    return set(run.choices or ())


def test_the_command_offers_every_registered_scenario() -> None:
    from bench.cli import build_isobench_parser

    assert _run_choices(build_isobench_parser()) == set(scenarios.registry())


def test_a_config_naming_a_scenario_nobody_wrote_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from helpers import run_bench

    config = tmp_path / "bench.toml"
    config.write_text('[run]\nscenario = "hot"\n[[mode]]\npreset = "runc"\n')
    done = run_bench("run", "--config", str(config), "--results", str(tmp_path / "results"), timeout=60)
    assert done.returncode == 2
    said = done.stderr.strip().splitlines()
    choices = ", ".join(scenarios.names())
    assert said == [f"isobench: no scenario 'hot': set [run] scenario or --scenario to one of {choices}."]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.jsonl"))
