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


PLANTED_BENCH = """
from dataclasses import dataclass

from bench.core.errors import UserError
from bench.core.scenario_settings import Option, ScenarioSettings
from bench.scenarios.warm import Warm


def _depth(text):
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"--planted-depth {text!r} is not a whole number of at least 1: give e.g. 3.")
    return int(text)


@dataclass(frozen=True)
class PlantedSettings(ScenarioSettings):
    RUN_KEYS = {"planted_depth": "depth"}
    OPTIONS = (Option("--planted-depth", "depth", "how deep", "N", _depth), Option("--planted-fast", "fast", "fast"))

    depth: int = 3
    fast: bool = False


class Planted(Warm):
    name = "planted"
    settings = PlantedSettings


SCENARIO = Planted()
"""
PLANTED_ANALYSIS = """
from analysis.scenarios.base import ROUNDS, ScenarioAnalysis

ANALYSIS = ScenarioAnalysis("planted", pairing=ROUNDS, derived={"planted_start": ("create", "start")})
"""


@pytest.fixture()
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A scenario with its own setting, command-line options and derived metric, in its two files only
    (dropped into both packages' search paths: nothing else is edited)."""
    (tmp_path / "bench_side").mkdir()
    (tmp_path / "analysis_side").mkdir()
    (tmp_path / "bench_side" / "planted.py").write_text(PLANTED_BENCH)
    (tmp_path / "analysis_side" / "planted.py").write_text(PLANTED_ANALYSIS)
    monkeypatch.setattr(scenarios, "__path__", [*scenarios.__path__, str(tmp_path / "bench_side")])
    monkeypatch.setattr(analysis_side, "__path__", [*analysis_side.__path__, str(tmp_path / "analysis_side")])
    scenarios.registry.cache_clear()
    analysis_side.registry.cache_clear()
    try:
        yield scenarios.get("planted").settings
    finally:
        scenarios.registry.cache_clear()
        analysis_side.registry.cache_clear()
        sys.modules.pop("bench.scenarios.planted", None)
        sys.modules.pop("analysis.scenarios.planted", None)


def _config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(text + '\n[[mode]]\npreset = "runc"\n')
    return path


def test_a_planted_scenarios_own_settings_are_read_from_its_table_and_its_older_run_key(
    planted: Any, tmp_path: Path
) -> None:
    config = scenarios.load_config(_config_file(tmp_path, '[run]\nscenario = "planted"\n[scenario.planted]\ndepth = 5'))
    assert config.settings_of("planted", planted) == planted(depth=5, fast=False)
    older = scenarios.load_config(_config_file(tmp_path, "[run]\nplanted_depth = 7"))
    assert older.settings_of("planted", planted).depth == 7
    untouched = scenarios.load_config(_config_file(tmp_path, ""))
    assert untouched.settings_of("planted", planted) == planted()  # the defaults, recorded
    assert untouched.to_record()["scenario"]["planted"] == {"depth": 3, "fast": False}
    with pytest.raises(
        UserError, match=r"^\S+bench.toml: config.scenario.planted.depth must be a whole number, not 'x'\.$"
    ):
        scenarios.load_config(_config_file(tmp_path, '[scenario.planted]\ndepth = "x"'))
    with pytest.raises(UserError, match=r"config.run.planted_depth must be a whole number, not 'x'\.$"):
        scenarios.load_config(_config_file(tmp_path, '[run]\nplanted_depth = "x"'))
    with pytest.raises(UserError, match=r"unknown key config.scenario.planted.deep: did you mean 'depth'\?$"):
        scenarios.load_config(_config_file(tmp_path, "[scenario.planted]\ndeep = 1"))
    with pytest.raises(UserError, match=r"config.run.planted_depth and config.scenario.planted.depth are the same"):
        scenarios.load_config(_config_file(tmp_path, "[run]\nplanted_depth = 1\n[scenario.planted]\ndepth = 2"))


def test_a_planted_scenarios_settings_survive_the_headers_record(planted: Any, tmp_path: Path) -> None:
    config = scenarios.load_config(_config_file(tmp_path, "[scenario.planted]\ndepth = 4\nfast = true"))
    assert scenarios.config_from_record(config.to_record()).settings_of("planted", planted) == planted(4, True)
    older = config.to_record()  # a header written before the seam kept the setting among its run keys
    del older["scenario"]
    older["run"] = {**older["run"], "planted_depth": 6}
    assert scenarios.config_from_record(older).settings_of("planted", planted).depth == 6


def test_a_planted_scenarios_options_are_offered_by_run_and_ab_and_set_its_settings(
    planted: Any, tmp_path: Path
) -> None:
    from bench.cli import _load, build_isobench_parser, runs_scenarios

    path = str(_config_file(tmp_path, "[scenario.planted]\ndepth = 5"))
    parser = build_isobench_parser()
    args = parser.parse_args(["run", "--config", path, "--planted-depth", "9", "--planted-fast"])
    assert _load(args).settings_of("planted", planted) == planted(depth=9, fast=True)
    args = parser.parse_args(["ab", "--config", path, "--mode", "runc", "--planted-fast"])
    assert _load(args).settings_of("planted", planted) == planted(depth=5, fast=True)  # the file's depth kept
    with pytest.raises(UserError, match=r"^--planted-depth '0' is not a whole number of at least 1: give e.g. 3\.$"):
        _load(parser.parse_args(["run", "--config", path, "--planted-depth", "0"]))
    assert runs_scenarios(["run", "--rounds", "3"]) and runs_scenarios(["ab"]) and not runs_scenarios(["report"])


def test_a_planted_scenarios_derived_metric_is_computed_for_its_cycles_only(planted: Any, tmp_path: Path) -> None:
    from analysis.load import load
    from analysis.metrics import with_derived
    from bench.results import synthetic
    from bench.results.records import Sample
    from bench.results.resultset import ResultWriter
    from bench.schedule.scheduler import Outcome, Tally, end_record

    path = tmp_path / "20261128T000000Z_h_docker-1.jsonl"
    writer = ResultWriter.create(path, synthetic.header([], run_id="p", host={}).but(modes={"a": {"role": "native"}}))
    ms = {"create": 2, "start": 3, "ready": 5, "exec": 1, "stop": 1, "remove": 1}
    for rnd, scenario in enumerate(["planted", "planted", "warm"]):
        writer.append([Sample(round=rnd, pos=0, mode="a", phase=p, duration_ns=d * 1_000_000, ok=True, warmup=False,
                              wall_ns=rnd * 10**9, scenario=scenario) for p, d in ms.items()])  # fmt: skip
    writer.close(end_record(Outcome("complete", "", 3, Tally()), 0, []))
    frame = with_derived(load([path], use_cache=False).frame)
    rows = frame[frame["phase"] == "planted_start"]
    assert sorted(rows["round"]) == [0, 1] and set(rows["scenario"]) == {"planted"}
    assert list(rows["duration_ms"]) == [5.0, 5.0]  # create + start
    assert (frame["phase"] == "startup").sum() == 3  # the common metric, for every cycle
