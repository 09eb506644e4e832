"""What the scale scenarios (burst, rate, density, and scale: all three in turn) share: their session
(bench.schedule.scale over groups of many containers at once, one docker-py client each), the header's
`scale` record of what runs at which levels and every bound it obeys, and resume planning (the plan
is a pure function of the seed: a resumed set skips the groups it holds whole). Each scenario's own
part is in its module: its config check and which of the three it runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from bench.core.config import Config
from bench.engine.hosts import answers_anew
from bench.engine.preflight import ModeRuntime
from bench.measure import lean
from bench.measure.scale import ScaleRunner, engine_is_local
from bench.results.records import Header
from bench.results.resultset import ResultSet
from bench.scenarios.base import (
    BaseScenario,
    Executing,
    ExecutingSession,
    HeaderFacts,
    ResumePlan,
    RunContext,
    Start,
)
from bench.scenarios.cycles import cycle_harness
from bench.schedule.scale import ScaleScheduler, done_units, plan, scenarios_of


class GroupScenario(BaseScenario):
    """The scenarios of groups; a subclass says its name, sample kinds and config check."""

    takes_workloads = False  # a group's containers are read for their `ready` line (bench.measure.group)

    def extra_s(self, config: Config) -> float:
        """What a group adds to a cycle's length (a lease renews between groups only)."""
        return config.scale.barrier_s + config.scale.rate_duration_s + 60.0

    def open(self, ctx: RunContext) -> "GroupSession":
        return GroupSession(ctx)

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan:
        """The same seed, so the same plan: the groups the set holds whole are skipped (an interrupted
        one runs again), and group ids go on after the last one written."""
        done = done_units(rs.samples)
        modes = [m.name for m in config.modes]
        total = sum(len(r) for r in plan(config.run.scenario, config.scale, modes, config.run.warmup, seed))
        first_group = max((s.group for s in rs.samples if s.group is not None), default=-1) + 1
        return ResumePlan(
            rounds_done=len(done),
            rounds_remaining=max(0, total - len(done)),
            cold_done=0,
            cold_remaining=0,
            first_round=0,
            seed=seed,
            settings=config.run,
            done=frozenset(done),
            first_group=first_group,
            unit_word="groups",
        )


@dataclass
class GroupSession(ExecutingSession):
    ctx: RunContext
    executing: Optional[Executing] = None

    def facts(self) -> HeaderFacts:
        # bursts, rate runs and density steps time through docker-py, one client each
        harness = dict(cycle_harness(self.ctx))
        harness.update(timing=lean.TIMING, timing_paths={rt.mode.name: lean.path_for(rt) for rt in self.ctx.runtimes})
        runtimes = [c.runtime for c in self.ctx.checks if c.runtime is not None]
        return HeaderFacts(harness=harness, scale=scale_header(self.ctx.config, runtimes))

    def check_size(self, header: Header, results_dir: Path) -> None:
        return None  # groups of many containers are not estimated

    def units(self, start: Start) -> ScaleScheduler:
        config = self.ctx.config
        self.executing = self.ctx.open_executor()
        runner = ScaleRunner(self.executing.executor, config.scale)
        return ScaleScheduler(config.run, config.scale, self.ctx.runtimes, runner, start.output(), start.position(),
                              answers_anew)  # fmt: skip


def scale_header(config: Config, runtimes: list[ModeRuntime]) -> dict[str, Any]:
    """What a scale run runs, and every bound it obeys beyond the config's own keys."""
    s = config.scale
    return {
        "scenarios": list(scenarios_of(config.run.scenario, s)),
        "levels": {rt.mode.name: list(s.levels_for(rt.mode.name)) for rt in runtimes},
        "rates": list(s.rates_or_default()) if "rate" in scenarios_of(config.run.scenario, s) else [],
        "density_modes": [rt.mode.name for rt in runtimes if rt.mode.name not in s.density_skip],
        "groups_planned": sum(len(r) for r in plan(config.run.scenario, s, [rt.mode.name for rt in runtimes], 0, 0)),
        "bounds": {rt.mode.name: _bounds(rt) for rt in runtimes},
        "timing": lean.TIMING,
        "engine_on_this_host": {rt.mode.name: engine_is_local(rt) for rt in runtimes},
    }


def _bounds(rt: ModeRuntime) -> dict[str, Any]:
    t = rt.mode.timeouts
    return {
        "prepare_s": t.ping + 5.0,
        "hold_s": t.ping + 5.0 + t.create + t.start + t.ready + 5.0,
        "teardown_s": 3 * t.remove,
        "arrival_lead_s": "1 + 0.02 per arrival",
    }
