"""What a scenario is to the run driver (bench.run): one interface, so that the driver knows no
scenario by name and a scenario lives in one module (bench/scenarios/<name>.py) with its analysis
side under the same name (analysis/scenarios/<name>.py).

A scenario says what it needs before preflight (`needs`), refuses a config that could measure
nothing (`check`), how much longer than a cycle its units run (`extra_s`: the lease outlasts them),
and opens a `Session` once the leases are held. The session sweeps what gone runs left, gives the
header its facts, runs its units (a scheduler over its plan), and cleans up on every exit path.
A resumed set gets a `ResumePlan` from its scenario: what the set holds, what is left to run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from bench.core.config import Config, RunSettings
from bench.core.errors import UserError
from bench.core.scenario_settings import ScenarioSettings
from bench.engine.events import EventCollector
from bench.engine.preflight import ModeCheck, ModeRuntime
from bench.measure.docker import DockerExecutor
from bench.measure.leftovers import end_cleanup, sweep_all
from bench.results.header import HeaderFacts
from bench.results.records import Header, Resume
from bench.results.resultset import ResultSet, ResultWriter
from bench.schedule.progress import ProgressView
from bench.schedule.scheduler import Outcome, Output, Position, Tally

Say = Callable[[str], None]


@dataclass(frozen=True)
class Needs:
    """What must be up before preflight: the VM engine, the local swarm (both named by the modes'
    endpoints; the run brings them up and leaves them on every exit path: bench.engine.hosts)."""

    vm: bool = False
    swarm: bool = False


def mode_needs(config: Config) -> Needs:
    """The needs every scenario has: the engines its modes name."""
    return Needs(
        vm=any(m.endpoint == "vm" for m in config.modes),
        swarm=any(m.endpoint == "swarm" for m in config.modes),
    )


@dataclass(frozen=True)
class Executing:
    """The run's timed calls (one executor) and one event stream per engine, built by the driver
    (bench.run.open_executor, the one place an executor is chosen)."""

    executor: DockerExecutor
    streams: tuple[EventCollector, ...]

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


@dataclass(frozen=True)
class RunContext:
    """What the driver hands a scenario once preflight passed and the leases are held."""

    config: Config
    run_id: str
    checks: tuple[ModeCheck, ...]
    runtimes: list[ModeRuntime]
    say: Say
    open_executor: Callable[[], Executing]


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run still has to do (a pure function of the set so far). ``done``: units the set
    holds whole, skipped; ``first_group``: where group ids go on; ``unit_word``: what a unit is called."""

    rounds_done: int
    rounds_remaining: int
    cold_done: int
    cold_remaining: int
    first_round: int
    seed: int
    settings: RunSettings
    done: frozenset[Any] = frozenset()
    first_group: int = 0
    unit_word: str = "measured rounds"

    def record(self, rs: ResultSet, swept: int, leases: dict[str, Any], concurrent: bool) -> Resume:
        """The `resume` line: when the gap began, how the earlier part ended, what is left to do."""
        return Resume(
            resumed_ns=time.time_ns(), gap_from_ns=max((s.wall_ns for s in rs.samples), default=None),
            previous_end=rs.end.status if rs.end else None,
            rounds_done=self.rounds_done, rounds_remaining=self.rounds_remaining, seed=self.seed,
            cold_rounds_done=self.cold_done, cold_rounds_remaining=self.cold_remaining,
            swept_at_resume=swept, warnings=rs.warnings, leases=leases, concurrent=concurrent,
        )  # fmt: skip


@dataclass(frozen=True)
class Start:
    """Where a session's units begin: a new set (``resume`` None) or a resumed one."""

    writer: ResultWriter
    seed: int
    progress: ProgressView
    renew: Callable[[], None]
    resume: Optional[ResumePlan] = None

    def output(self) -> Output:
        """Where the units go: the set, the progress view, the lease renewed between units."""
        return Output(self.writer, self.progress, self.renew)

    def position(self) -> Position:
        """Where the seeded plan begins: at its start, or where the resumed set left it."""
        r = self.resume
        return Position(self.seed) if r is None else Position(self.seed, r.first_round, r.first_group, r.done)


@dataclass(frozen=True)
class Cleanup:
    """What the end of the units left: containers swept, ids the end record lists as leaked, the
    containers named to the user (``said``), and warnings said after the run's last line."""

    swept: int
    leaked: list[str]
    said: list[str]
    warnings: tuple[str, ...] = ()
    registry_left: tuple[str, ...] = ()  # images pushed to the user's registry that stayed there (the end says)


class Units(Protocol):
    """A scheduler over a scenario's plan: runs its units, writing each before the next."""

    tally: Tally

    def run(self) -> Outcome: ...


class Session(Protocol):
    """One scenario's run, from the leases to the end record. `close` runs on every exit path."""

    def sweep(self, live: dict[str, set[str]]) -> int: ...

    def facts(self) -> HeaderFacts: ...

    def check_size(self, header: Header, results_dir: Path) -> None: ...

    def units(self, start: Start) -> Units: ...

    def finish(self, units: Units) -> Cleanup: ...

    def close(self) -> None: ...


class Scenario(Protocol):
    """A scenario plug-in: found by its module's name: bench.scenarios.registry()."""

    name: str
    sample_kinds: tuple[str, ...]  # the phases its samples carry
    takes_workloads: bool  # judges readiness by a workload's probe (else only by the `ready` line)
    # Its own settings ([scenario.<name>], its `isobench run` options): bench.core.scenario_settings; None: none
    settings: Optional[type[ScenarioSettings]]

    def check(self, config: Config) -> None: ...

    def needs(self, config: Config) -> Needs: ...

    def extra_s(self, config: Config) -> float: ...

    def open(self, ctx: RunContext) -> Session: ...

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan: ...


class BaseScenario:
    """The defaults every scenario shares; a scenario overrides what it does differently. It still
    says its own ``name``, ``sample_kinds``, ``open`` and ``plan_resume``."""

    name = ""
    sample_kinds: tuple[str, ...] = ()
    takes_workloads = True
    settings: Optional[type[ScenarioSettings]] = None

    def check(self, config: Config) -> None:
        """Nothing refused up front."""
        return None

    def needs(self, config: Config) -> Needs:
        return mode_needs(config)

    def extra_s(self, config: Config) -> float:
        """A unit no longer than a cycle."""
        return 0.0


class ExecutingSession:
    """The end of a session that timed through the run's executor (``executing``, opened by its
    ``units``): the executor's last cleanup, then its event streams closed."""

    ctx: RunContext
    executing: Optional[Executing]

    def sweep(self, live: dict[str, set[str]]) -> int:
        swept, _ = sweep_all(self.ctx.runtimes, None, live)
        if swept:
            self.ctx.say(f"  swept {swept} container(s) left by runs that are gone")
        return swept

    def finish(self, units: Any) -> Cleanup:
        if self.executing is None:
            return Cleanup(0, [], [])
        swept, leaked = end_cleanup(self.executing.executor, self.ctx.runtimes, self.ctx.run_id, self.ctx.say)
        self.executing.close()
        return Cleanup(swept, leaked, leaked)

    def close(self) -> None:
        return None


def refuse_workloads(scenario: Scenario, config: Config) -> None:
    """A scenario that judges readiness only by the `ready` line cannot run a workload's probe: one sentence."""
    named = [f"{m.name} ({m.workload.name})" for m in config.modes if m.workload is not None]
    if named and not scenario.takes_workloads:
        raise UserError(
            f"--scenario {scenario.name} judges readiness by the container's `ready` line only, and mode "
            f"{', '.join(named)} runs a workload with its own readiness probe: run it with --scenario warm, "
            "first-start or size, or leave its workload out."
        )


def cannot_resume(rs: ResultSet, what: str) -> ResumePlan:
    """For a scenario whose units cannot be taken up again: one sentence."""
    raise UserError(f"{rs.path} is a {what} set: its {what}s cannot be resumed; start a new run.")
