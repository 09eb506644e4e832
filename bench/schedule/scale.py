"""The scale scenarios' schedule: warm-up bursts, then bursts (each (mode, N) repeated in seeded
shuffled rounds, so drift hits every level alike), then open-loop rate runs, then density steps.

Each group's samples (one burst, one rate run, one density step) are written and fsynced before
the next group begins; the lease is renewed between groups, never during one. The plan is a
pure function of the seed, so a resumed set skips the groups it already holds and redoes the
rest in the same order.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from bench.core.config import RunSettings
from bench.core.errors import Terminated
from bench.core.outcomes import ENGINE_UNAVAILABLE, INTERRUPTED
from bench.core.phases import BURST, DENSITY, MAKESPAN, RATE, SCALE, TEARDOWN
from bench.core.scale import ScaleSettings
from bench.results.records import LEVEL_UNITS, Place, Sample
from bench.schedule import burst, density, rate
from bench.schedule.scheduler import Outcome, Output, Position, Scheduler
from bench.schedule.units import Unit

if TYPE_CHECKING:
    from bench.engine.preflight import ModeRuntime
    from bench.measure.group import GroupResult
    from bench.measure.scale import ScaleRunner

# Who runs a unit of each scenario (they see this scheduler as a bench.schedule.units.ScaleHost).
UNIT_RUNNERS = {BURST: burst.run_unit, RATE: rate.run_unit, DENSITY: density.run_unit}


def scenarios_of(run_scenario: str, scale: ScaleSettings) -> tuple[str, ...]:
    if run_scenario == SCALE:
        return (BURST,) + ((RATE,) if scale.rates else ()) + (DENSITY,)
    return (run_scenario,)


def plan(
    run_scenario: str, scale: ScaleSettings, modes: Sequence[str], warmup: int, seed: int, first_round: int = 0
) -> list[list[Unit]]:
    """Rounds of units in run order: warm-up bursts (the smallest burst per mode), then `repeat`
    rounds of every (mode, N) in a seeded shuffled order, then one round of every (mode, λ), then
    one round of density (a mode at a time)."""
    rng = random.Random(seed)
    rounds: list[list[Unit]] = []
    wanted = scenarios_of(run_scenario, scale)

    def add(pairs: list[tuple[str, str, Optional[float]]], warm: bool = False) -> None:
        rng.shuffle(pairs)
        r = first_round + len(rounds)
        rounds.append([Unit(s, m, lv, r, i, warm) for i, (s, m, lv) in enumerate(pairs)])

    if BURST in wanted:
        for _ in range(warmup):
            add([(BURST, m, float(min(scale.levels_for(m) or scale.burst))) for m in modes], warm=True)
        for r in range(scale.repeat):
            add([(BURST, m, float(n)) for m in modes if r < scale.repeats_for(m) for n in scale.levels_for(m)])
    if RATE in wanted:
        add([(RATE, m, r) for m in modes for r in scale.rates_or_default()])
    if DENSITY in wanted:
        add([(DENSITY, m, None) for m in modes if m not in scale.density_skip])
    return [r for r in rounds if r]


def done_units(samples: Sequence[Sample]) -> set[tuple[str, str, Optional[float], int]]:
    """Groups a set already holds whole (for --resume): a burst or rate run with its makespan, a
    density run with its teardown; an interrupted one is run again."""
    done = set()
    for s in samples:
        if s.phase in (MAKESPAN, TEARDOWN) and s.error != INTERRUPTED:
            level = None if s.scenario == DENSITY else s.level
            done.add((s.scenario, s.mode, None if level is None else float(level), s.round))
    return done


class ScaleScheduler(Scheduler):
    def __init__(
        self,
        settings: RunSettings,
        scale: ScaleSettings,
        runtimes: Sequence["ModeRuntime"],
        runner: "ScaleRunner",
        output: Output,
        position: Position,
        reconnect: Optional[Callable[["ModeRuntime"], bool]] = None,
    ) -> None:
        super().__init__(settings, runtimes, runner.executor, output, position, reconnect=reconnect)
        self.scale = scale
        self.seed = position.seed
        self.runner = runner
        self.by_name = {rt.mode.name: rt for rt in runtimes}
        self.next_group = position.first_group
        self.done: set[tuple[str, str, Optional[float], int]] = set(position.done)
        self.spent: dict[tuple[str, str, Optional[float]], list[float]] = {}

    def new_group(self) -> int:
        self.next_group += 1
        return self.next_group - 1

    def base(self, unit: Unit, level: Optional[float] = None) -> Place:
        """The sample fields every container of a new group shares."""
        return {
            "round": unit.round,
            "pos": unit.pos,
            "mode": unit.mode,
            "warmup": unit.warmup,
            "scenario": unit.scenario,
            "level": unit.level if level is None else level,
            "level_unit": LEVEL_UNITS[unit.scenario],
            "group": self.new_group(),
        }

    def write(self, result: "GroupResult", warmup: bool) -> None:
        """One group's samples, fsynced before anything else happens; counted for the end record."""
        samples = result.samples
        self.writer.append([*samples, *result.costs])  # one batch: the group and what it cost
        if not warmup:
            self.tally.count(samples)
            self.tally.cycles += len(result.slots)
        if result.interrupted is not None:
            raise result.interrupted

    def after_group(self, rt: "ModeRuntime", result: "GroupResult") -> Optional[str]:
        """Between groups: the lease renewed; an engine that stopped answering waited for."""
        if self.between_cycles is not None:
            self.between_cycles()
        if any(s.error == ENGINE_UNAVAILABLE for s in result.samples) and not self.wait_for_engine(rt):
            return (
                f"the engine of mode {rt.mode.name!r} stayed unavailable for {self.settings.reconnect_s:g} s "
                "of reconnect attempts"
            )
        return None

    def wait_for_engine(self, rt: "ModeRuntime") -> bool:
        return self._wait_for_engine(rt)

    def run(self) -> Outcome:
        rounds = plan(self.settings.scenario, self.scale, list(self.by_name), self.settings.warmup, self.seed)
        todo = [[u for u in r if u.key not in self.done] for r in rounds]
        todo = [r for r in todo if r]
        self.progress.start(sum(1 for r in todo if not r[0].warmup), sum(1 for r in todo if r[0].warmup))
        started, skipped = self.clock(), 0
        try:
            for units in todo:
                for unit in units:
                    if self._budget_spent(unit, started):
                        skipped += 1  # bursts and rate runs only: density still runs
                        continue
                    failed = self._run_unit(unit)
                    if failed:
                        return Outcome("failed", failed, self._measured, self.tally)
                self.progress.round_done()
            budget = (
                f"; scale time budget of {self.scale.budget_s:g} s reached: {skipped} groups not run" if skipped else ""
            )
            return Outcome("complete", f"{self._measured} groups done{budget}", self._measured, self.tally)
        except KeyboardInterrupt as exc:
            return Outcome("interrupted", "SIGINT (Ctrl-C)", self._measured, self.tally, exc)
        except Terminated as exc:
            return Outcome("interrupted", f"signal {exc.signum}", self._measured, self.tally, exc)
        finally:
            self.progress.stop()

    def _budget_spent(self, unit: Unit, started: float) -> bool:
        budget = self.scale.budget_s
        if budget is None or unit.scenario == DENSITY:
            return False
        elapsed = self.clock() - started
        past = self.spent.get((unit.scenario, unit.mode, unit.level)) or [0.0]
        return elapsed + sum(past) / len(past) > budget

    def _run_unit(self, unit: Unit) -> Optional[str]:
        rt = self.by_name[unit.mode]
        t0 = self.clock()
        failed, label, value_ns, ok = UNIT_RUNNERS[unit.scenario](self, rt, unit)
        self.spent.setdefault((unit.scenario, unit.mode, unit.level), []).append(self.clock() - t0)
        if not unit.warmup:
            self._measured += 1
        self.progress.cycle_done(label, value_ns, ok)
        return failed
