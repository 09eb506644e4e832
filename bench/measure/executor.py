"""The executor seam (after hyperfine's): the scheduler asks an executor for cycles.

``bench.measure.docker.DockerExecutor`` runs them on a real engine; ``ScriptedExecutor``
returns scripted times, so the scheduler, writer, progress and the analysis pipeline can be
exercised and checked without an engine. Nothing here imports docker-py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Union

from bench.core import outcomes
from bench.core.phases import CLEANUP, ENGINE_PHASES, PHASES, WARM
from bench.results.records import Cost, Place, Sample

if TYPE_CHECKING:
    from bench.engine.control.restart import EngineControl
    from bench.engine.preflight import ModeRuntime


@dataclass
class CycleResult:
    samples: list[Sample]
    cid: Optional[str] = None
    leaked: Optional[str] = None  # a container the cycle could not remove
    interrupted: Optional[BaseException] = None
    engine_down: bool = False  # a cold cycle stopped the engine and could not start it again
    # what the cycle cost the host (bench.measure.cost): written in the cycle's batch, never counted as a phase
    costs: list[Cost] = field(default_factory=list)

    @property
    def engine_unavailable(self) -> bool:
        """A phase failed because the engine did not answer: the scheduler waits for it."""
        return any(s.error == outcomes.ENGINE_UNAVAILABLE for s in self.samples if s.phase != CLEANUP)


@dataclass
class EnginePhases:
    """A cold cycle's first part: the engine stopped and started (see bench.measure.cold)."""

    samples: list[Sample] = field(default_factory=list)
    failed: Optional[str] = None  # the engine phase that failed: the cycle's phases are then not run
    interrupted: Optional[BaseException] = None


class Executor(Protocol):
    def run_cycle(
        self, rt: "ModeRuntime", round_no: int, pos: int, warmup: bool, scenario: str = WARM
    ) -> CycleResult: ...

    def restart_engine(self, rt: "ModeRuntime", control: "EngineControl", base: Place) -> EnginePhases: ...

    def retry_pending(self, deadline_s: float) -> list[str]: ...


def _without_duration(base: Place, phase: str, error: str, message: str, wall_ns: int, cid: Optional[str]) -> Sample:
    """A failed phase that has no duration to record: it never ran, or never ended."""
    return Sample(
        **base, phase=phase, duration_ns=None, ok=False, error=error, message=message, wall_ns=wall_ns, cid=cid
    )


def not_run(base: Place, phase: str, cause: str, cid: Optional[str] = None, wall_ns: Optional[int] = None) -> Sample:
    return _without_duration(base, phase, outcomes.NOT_RUN, f"not run: {cause} failed", wall_ns or time.time_ns(), cid)


def interrupted_sample(base: Place, phase: str, wall_ns: int, cid: Optional[str] = None) -> Sample:
    """The sample of a phase a stop signal cut short."""
    return _without_duration(base, phase, outcomes.INTERRUPTED, f"run interrupted during {phase}", wall_ns, cid)


def fill_missing(
    samples: dict[str, Sample],
    base: Place,
    phases: tuple[str, ...] = PHASES,
    timeout: Optional[outcomes.CallTimeout] = None,
    interrupted: bool = False,
    cid: Optional[str] = None,
    walls: Optional[dict[str, int]] = None,
) -> list[Sample]:
    """Every phase gets a sample, in order: the first missing one is `timeout` (it overran) or
    `interrupted` (a stop signal cut it), the rest `not_run` naming the phase that failed.
    Pure: the real, cold, scripted and synthetic paths all fill their gaps with it."""
    walls = walls or {}
    first_missing = next((p for p in phases if p not in samples), None)
    failed_at = next((p for p in phases if p in samples and not samples[p].ok), None)
    out = []
    for p in phases:
        if p in samples:
            out.append(samples[p])
            continue
        wall = walls.get(p) or time.time_ns()
        if p == first_missing and timeout is not None:
            out.append(
                Sample(
                    **base,
                    phase=p,
                    duration_ns=int(timeout.seconds * 1e9),
                    ok=False,
                    error=outcomes.TIMEOUT,
                    message=f"{timeout} (at {timeout.what})",
                    wall_ns=wall,
                    cid=cid,
                )
            )
        elif p == first_missing and interrupted:
            out.append(interrupted_sample(base, p, wall, cid))
        else:
            out.append(not_run(base, p, failed_at or first_missing or "an earlier phase", cid, wall))
    return out


# A script answers (mode name, phase, round) with a duration in ns, or a
# failure category string for a failed phase.
Script = Callable[[str, str, int], Union[int, str]]


class ScriptedExecutor:
    """Cycles whose phase times come from a script instead of an engine."""

    def __init__(self, script: Script, sleep: bool = False) -> None:
        self.script = script
        self.sleep = sleep

    def run_cycle(self, rt: "ModeRuntime", round_no: int, pos: int, warmup: bool, scenario: str = WARM) -> CycleResult:
        base: Place = {"round": round_no, "pos": pos, "mode": rt.mode.name, "warmup": warmup, "scenario": scenario}
        return CycleResult(samples=self._scripted(rt.mode.name, base, PHASES))

    def restart_engine(self, rt: "ModeRuntime", control: "EngineControl", base: Place) -> EnginePhases:
        """The engine phases from the script too (it sees their names); the control is not called."""
        samples = self._scripted(rt.mode.name, base, ENGINE_PHASES)
        failed = next((s.phase for s in samples if not s.ok), None)
        return EnginePhases(samples=samples, failed=failed)

    def _scripted(self, name: str, base: Place, phases: tuple[str, ...]) -> list[Sample]:
        samples: dict[str, Sample] = {}
        for phase in phases:
            wall = time.time_ns()
            outcome = self.script(name, phase, base["round"])
            if isinstance(outcome, str):
                samples[phase] = Sample(
                    **base,
                    phase=phase,
                    duration_ns=None,
                    ok=False,
                    wall_ns=wall,
                    error=outcome,
                    message=f"scripted {outcome}",
                )
                break
            if self.sleep:
                time.sleep(outcome / 1e9)
            samples[phase] = Sample(**base, phase=phase, duration_ns=int(outcome), ok=True, wall_ns=wall)
        return fill_missing(samples, base, phases)

    def retry_pending(self, deadline_s: float) -> list[str]:
        return []
