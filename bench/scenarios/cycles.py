"""What the cycle scenarios (warm, cold, both: one container's cycle per mode per round, rounds in a
seeded shuffled order) share: their session (bench.schedule.scheduler over one executor), their
header facts, the set-size warning and resume planning. Each scenario's own part is in its module:
which rounds it runs (`rounds_planned`) and which engine controls it takes (`controls`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from bench.core.config import Config, RunSettings
from bench.core.phases import CYCLE_SHAPES
from bench.engine.hosts import answers_anew
from bench.measure import wire
from bench.results import estimate, resultset
from bench.results.records import Header, Sample
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
from bench.schedule.scheduler import Scheduler

CYCLE_TIMING = "perf_counter_ns around one request: the request built before the clock starts"


class CycleScenario(BaseScenario):
    """The scenarios of cycles; a subclass says its rounds and engine controls."""

    def rounds_planned(self, config: Config) -> int:
        """Cycles per mode the set will hold at most (for the size estimate)."""
        raise NotImplementedError

    def controls(self, ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
        """(mode -> engine control, mode -> what the header records): none for warm cycles."""
        return {}, {}

    def open(self, ctx: RunContext) -> "CycleSession":
        controls, records = self.controls(ctx)
        return CycleSession(self, ctx, controls, records)

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan:
        return plan_resume(rs.samples, config.run, seed, len(rs.resumes))


@dataclass
class CycleSession(ExecutingSession):
    scenario: CycleScenario
    ctx: RunContext
    controls: dict[str, Any]
    control_records: dict[str, Any]
    executing: Optional[Executing] = None

    def facts(self) -> HeaderFacts:
        return HeaderFacts(harness=cycle_harness(self.ctx), cold=self.control_records)

    def check_size(self, header: Header, results_dir: Path) -> None:
        warn_if_small(self.scenario.rounds_planned(self.ctx.config), self.ctx, header, results_dir)

    def units(self, start: Start) -> Scheduler:
        settings = start.resume.settings if start.resume else self.ctx.config.run
        self.executing = self.ctx.open_executor()
        return Scheduler(settings, self.ctx.runtimes, self.executing.executor, start.output(), start.position(),
                         reconnect=answers_anew, controls=self.controls)  # fmt: skip


def cycle_harness(ctx: RunContext) -> dict[str, Any]:
    runtimes = ctx.runtimes
    return {
        "executor": "docker",
        "timing": CYCLE_TIMING,
        # per mode: the path the timed requests took (bench.measure.wire, or docker-py where it cannot go)
        "timing_paths": {rt.mode.name: "raw HTTP/1.1 on a pre-opened keep-alive connection"
                         if wire.supported(rt.endpoint) else "docker-py APIClient" for rt in runtimes},
        "cycle_shapes": {rt.mode.name: rt.mode.cycle for rt in runtimes},
    }  # fmt: skip


def warn_if_small(rounds: int, ctx: RunContext, header: Header, results_dir: Path) -> Optional[estimate.SetSize]:
    """Preflight's size check: a warning (the run still starts) when the results folder has less than twice
    the set's estimated size free."""
    shapes = {rt.mode.name: CYCLE_SHAPES[rt.mode.cycle] for rt in ctx.runtimes}
    size = estimate.estimate(header, rounds, shapes)
    free = resultset.free_bytes(results_dir)
    if 0 <= free < estimate.HEADROOM * size.total:
        ctx.say(
            f"  warning: the results folder {results_dir} has {free // 1024} KiB free, less than twice the set's "
            f"estimated {size.total // 1024} KiB ({size.describe()}): it may fill before the run ends (the run "
            "then stops, keeps every complete record and can be resumed elsewhere)"
        )
    return size


def plan_resume(samples: Sequence[Sample], settings: RunSettings, seed: int, resumes_so_far: int) -> ResumePlan:
    """Rounds left to run, where numbering goes on, and the new seed (a fresh order for the rounds
    after the gap, reproducible from the header's seed). Warm rounds first, as in the original run;
    once they are done only cold ones remain. A round cut short (some modes' cycles written, others
    not) is not done: it runs again whole under a new number, so every mode gets its rounds; the cut
    round's cycles stay in the set (paired analyses use the rounds that hold every mode)."""
    measured = [s for s in samples if not s.warmup and s.scenario != "cold"]
    modes = {s.mode for s in measured}
    held: dict[int, set[str]] = {}
    for s in measured:
        held.setdefault(s.round, set()).add(s.mode)
    done = {r for r, there in held.items() if there == modes}
    cold_done = {s.round for s in samples if s.scenario == "cold"}
    remaining = max(0, settings.rounds - len(done)) if settings.scenario != "cold" else 0
    cold_remaining = max(0, settings.cold_rounds - len(cold_done))
    scenario = settings.scenario if remaining or settings.scenario == "cold" else "cold"
    if scenario == "cold" and not cold_remaining:
        scenario = "warm"
    resumed = replace(
        settings,
        rounds=max(1, remaining),
        min_rounds=min(settings.min_rounds, max(1, remaining)),
        scenario=scenario,
        cold_rounds=cold_remaining,
    )
    return ResumePlan(
        rounds_done=len(done),
        rounds_remaining=remaining,
        cold_done=len(cold_done),
        cold_remaining=cold_remaining,
        first_round=max((s.round for s in samples), default=-1) + 1,
        seed=seed + 7919 * (resumes_so_far + 1),
        settings=resumed,
    )
