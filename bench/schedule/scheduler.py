"""Rounds: one cycle per mode per round, in a seeded shuffled order, so drift hits every mode alike.

Warm-up rounds come first; their samples are kept and flagged. Measured rounds
stop at ``rounds``, when the time budget would be overrun, or (optionally)
once every mode's startup median is known to ``precision`` after
``min_rounds``. Each cycle's samples are written (fsynced) before the next
cycle begins.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from bench.core.config import RunSettings
from bench.core.errors import Terminated
from bench.core.outcomes import ENGINE_DISK_FULL
from bench.core.phases import COLD, COLD_DERIVED, DERIVED, WARM
from bench.core.precision import relative_halfwidth
from bench.core.watchdog import call_with_timeout
from bench.measure.cold import run_cold_cycle
from bench.measure.executor import CycleResult, Executor
from bench.results.records import End, Sample
from bench.results.resultset import ResultWriter
from bench.schedule.progress import NullProgress, ProgressView

if TYPE_CHECKING:
    from bench.engine.control.restart import EngineControl
    from bench.engine.preflight import ModeRuntime

# Reconnect after the engine went away: waits between pings double up to this cap,
# until RunSettings.reconnect_s has passed.
RECONNECT_FIRST_S = 0.5
RECONNECT_CAP_S = 15.0
# An engine whose data root is full fails every create until someone frees space: after this many cycles
# in a row on one engine answered "no space left on device", the run stops instead of failing the rest.
ENGINE_DISK_FULL_STOP = 3


def derived_of(samples: Sequence[Sample], metric: str = "startup") -> Optional[int]:
    """A derived metric of one cycle (startup = create + start + ready; cold_startup adds engine_up),
    or None if any part failed."""
    parts = {s.phase: s for s in samples}
    needed = DERIVED.get(metric) or COLD_DERIVED[metric]
    if all(p in parts and parts[p].ok for p in needed):
        return sum(parts[p].duration_ns or 0 for p in needed)
    return None


@dataclass
class Tally:
    """Counts for the end record: measured (non-warm-up) samples per mode and phase."""

    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    startups: dict[str, list[int]] = field(default_factory=dict)
    cycles: int = 0

    def add(self, result: CycleResult, warmup: bool) -> None:
        if warmup:
            return
        self.cycles += 1
        self.count(result.samples)
        mode = result.samples[0].mode
        if result.samples[0].scenario == COLD:
            return  # the precision rule is about warm startups
        st = derived_of(result.samples)
        if st is not None:
            self.startups.setdefault(mode, []).append(st)
        else:
            self.startups.setdefault(mode, [])

    def count(self, samples: Sequence[Sample]) -> None:
        """Per mode and phase: ok and failed samples, and failures by category."""
        for s in samples:
            per_phase = self.counts.setdefault(s.mode, {}).setdefault(s.phase, {"ok": 0, "failed": 0})
            per_phase["ok" if s.ok else "failed"] += 1
            if not s.ok:
                errors = self.counts[s.mode].setdefault("_errors", {})
                category = s.error or "error"  # a failed sample always has one; "error" is the generic category
                errors[category] = errors.get(category, 0) + 1


@dataclass
class Outcome:
    status: str
    reason: str
    measured_rounds: int
    tally: Tally
    interrupted: Optional[BaseException] = None
    # why the run stopped early, as a category (bench.core.outcomes: results_disk_full, engine_disk_full)
    stop: Optional[str] = None


@dataclass(frozen=True)
class Output:
    """Where a scheduler's units go: the writer (each unit written and flushed before the next), the
    progress view, and housekeeping that must never overlap a timed phase (lease renewal), run after each unit."""

    writer: ResultWriter
    progress: ProgressView = field(default_factory=NullProgress)
    between_units: Optional[Callable[[], None]] = None


@dataclass(frozen=True)
class Position:
    """Where the seeded plan begins: its seed and, for a resumed set, the first round (cycles), the first
    group id and the units the set holds whole (groups: skipped)."""

    seed: int
    first_round: int = 0
    first_group: int = 0
    done: frozenset[Any] = frozenset()


class Scheduler:
    def __init__(
        self,
        settings: RunSettings,
        runtimes: Sequence["ModeRuntime"],
        executor: Executor,
        output: Output,
        position: Position,
        *,
        reconnect: Optional[Callable[["ModeRuntime"], bool]] = None,
        controls: Optional[dict[str, "EngineControl"]] = None,
    ) -> None:
        self.settings = settings
        self.runtimes = list(runtimes)
        self.executor = executor
        self.writer = output.writer
        self.rng = random.Random(position.seed)
        self.progress = output.progress
        self.reconnect = reconnect
        self.clock: Callable[[], float] = time.monotonic  # a test sets a scripted one to reach the budget
        self.tally = Tally()
        self.first_round = position.first_round
        # mode name -> bench.engine.control.restart.EngineControl, for the cold scenario
        self.controls = dict(controls or {})
        # Housekeeping that must never overlap a timed phase (lease renewal): run after each cycle.
        self.between_cycles = output.between_units
        self._next_round, self._measured = position.first_round, 0
        self.disk_full: dict[str, int] = {}  # engine url -> cycles in a row that found its data root full
        self.stop: Optional[str] = None  # the category of an early stop (the end record's `stop`)

    @property
    def measured(self) -> int:
        """The measured rounds run so far (a round counts once its last cycle ended)."""
        return self._measured

    @property
    def first_measured_round(self) -> int:
        """The number of the first measured round: after the resumed part and the warm-up rounds."""
        return self.first_round + self.settings.warmup

    def _precise_enough(self, measured: int) -> bool:
        s = self.settings
        if s.precision is None or measured < s.min_rounds:
            return False
        return all(relative_halfwidth(self.tally.startups.get(rt.mode.name, [])) <= s.precision for rt in self.runtimes)

    def _run_round(self, round_no: int, warmup: bool, cold: bool = False) -> Optional[str]:
        """Runs one round; returns a reason to stop the run as failed, or None. A cold round
        runs one cold cycle per mode that has an engine control (see bench.measure.cold)."""
        order = [rt for rt in self.runtimes if not cold or rt.mode.name in self.controls]
        self.rng.shuffle(order)
        for pos, rt in enumerate(order):
            control = self.controls.get(rt.mode.name) if cold else None
            if control is not None:
                result = run_cold_cycle(self.executor, rt, control, round_no, pos)
            else:
                result = self.executor.run_cycle(rt, round_no, pos, warmup)
            self.writer.append([*result.samples, *result.costs])  # one batch: the cycle and what it cost
            self.tally.add(result, warmup)
            startup = derived_of(result.samples, "cold_startup" if cold else "startup")
            self.progress.cycle_done(f"{rt.mode.name} cold" if cold else rt.mode.name, startup, startup is not None)
            if result.engine_down and control is not None:
                self._restore(rt, control)
            if result.interrupted is not None:
                raise result.interrupted
            full = self._engine_disk_full(rt, result)
            if full:
                return full
            if self.between_cycles is not None:
                self.between_cycles()
            if (result.engine_down or result.engine_unavailable) and not self._wait_for_engine(rt):
                if cold:
                    return (
                        f"the engine of mode {rt.mode.name!r} did not come back after a cold cycle "
                        f"({self.settings.reconnect_s:g} s of reconnect attempts)"
                    )
                return (
                    f"the engine of mode {rt.mode.name!r} stayed unavailable for {self.settings.reconnect_s:g} s "
                    "of reconnect attempts"
                )
        self.progress.round_done()
        return None

    def _engine_disk_full(self, rt: "ModeRuntime", result: CycleResult) -> Optional[str]:
        """Counts cycles in a row on ``rt``'s engine that found its data root full; at ENGINE_DISK_FULL_STOP
        returns the stop's one sentence (the engine, its data root, what to do), and marks the stop."""
        if not any(s.error == ENGINE_DISK_FULL for s in result.samples):
            if self.disk_full:  # (only then is the engine's url needed: scripted runtimes have none)
                self.disk_full[rt.endpoint.base_url] = 0
            return None
        url = rt.endpoint.base_url
        self.disk_full[url] = n = self.disk_full.get(url, 0) + 1
        if n < ENGINE_DISK_FULL_STOP:
            return None
        self.stop = ENGINE_DISK_FULL
        engine = rt.record.get("engine") or {}
        return (
            f"the engine of mode {rt.mode.name!r} ({url}, {engine.get('name') or 'unnamed'}) answered "
            f"'no space left on device' {n} cycles in a row: its data root {engine.get('data_root') or '(unknown)'} "
            f"is full; free space there (docker system prune, unused images) and continue the set with "
            f"`isobench run --resume {self.writer.path}`"
        )

    def _restore(self, rt: "ModeRuntime", control: "EngineControl") -> None:
        """After a failed cold cycle: the engine is brought back (best effort) so the run,
        and the host, are not left without it. Finishing the stop first lets a stop that
        was cut short end before the start."""
        if self.reconnect is not None and self.reconnect(rt):
            return
        for step in (control.stop, control.start):
            try:
                call_with_timeout(step, rt.mode.timeouts.engine_up, "engine restore")
            except Exception:
                pass

    def _wait_for_engine(self, rt: "ModeRuntime") -> bool:
        if self.reconnect is None:
            return True
        deadline = time.monotonic() + self.settings.reconnect_s
        delay = RECONNECT_FIRST_S
        while time.monotonic() < deadline:
            if self.reconnect(rt):
                return True
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, RECONNECT_CAP_S)
        return self.reconnect(rt)

    def run(self) -> Outcome:
        s = self.settings
        started = self.clock()
        measured = 0
        round_no = self.first_round
        warm = s.scenario in (WARM, "both")
        cold_rounds = s.cold_rounds if s.scenario in (COLD, "both") and self.controls else 0
        self.progress.start((s.rounds if warm else 0) + cold_rounds, s.warmup if warm else 0)
        try:
            reason = ""
            if warm:
                outcome = self._run_warm(started)
                if outcome.status != "complete" or not cold_rounds:
                    return outcome
                reason, measured, round_no = outcome.reason + "; ", outcome.measured_rounds, self._next_round
            for _ in range(cold_rounds):
                failed = self._run_round(round_no, warmup=False, cold=True)
                round_no += 1
                if failed:
                    return Outcome("failed", failed, measured, self.tally, stop=self.stop)
            return Outcome("complete", reason + f"{cold_rounds} cold rounds done", measured, self.tally)
        except KeyboardInterrupt as exc:
            return Outcome("interrupted", "SIGINT (Ctrl-C)", self._measured, self.tally, exc)
        except Terminated as exc:
            return Outcome("interrupted", f"signal {exc.signum}", self._measured, self.tally, exc)
        finally:
            self.progress.stop()

    def _run_warm(self, started: float) -> Outcome:
        s = self.settings
        measured = 0
        round_no = self.first_round
        try:
            for _ in range(s.warmup):
                failed = self._run_round(round_no, warmup=True)
                round_no += 1
                if failed:
                    return Outcome("failed", failed, measured, self.tally, stop=self.stop)
            reason = f"{s.rounds} rounds done"
            while measured < s.rounds:
                if s.budget_s is not None and measured > 0:
                    elapsed = self.clock() - started
                    per_round = elapsed / (measured + s.warmup)
                    if elapsed + per_round > s.budget_s:
                        reason = f"time budget of {s.budget_s:g} s reached after {measured} rounds"
                        break
                if self._precise_enough(measured):
                    reason = f"every mode's startup median known to ±{s.precision:.1%} after {measured} rounds"
                    break
                failed = self._run_round(round_no, warmup=False)
                round_no += 1
                measured += 1
                if failed:
                    return Outcome("failed", failed, measured, self.tally, stop=self.stop)
            return Outcome("complete", reason, measured, self.tally)
        finally:
            self._next_round, self._measured = round_no, measured


def end_record(
    outcome: Outcome,
    swept: int,
    leaked: list[str],
    leases: Optional[dict[str, Any]] = None,
    registry_left: tuple[str, ...] = (),
) -> End:
    """``leases``: engine url -> what the run's lease saw (runs that joined with --allow-concurrent,
    a lease lost to another run); see bench.engine.lease."""
    leases = leases or {}
    joined = sorted({g["run_id"] for rec in leases.values() for g in rec.get("concurrent_with", [])})
    return End(
        status=outcome.status,
        reason=outcome.reason,
        measured_rounds=outcome.measured_rounds,
        measured_cycles=outcome.tally.cycles,
        counts=outcome.tally.counts,
        swept_at_end=swept,
        leaked=leaked,
        ended_ns=time.time_ns(),
        leases=leases,
        concurrent_with=joined,
        stop=outcome.stop,
        registry_left=list(registry_left) or None,
    )
