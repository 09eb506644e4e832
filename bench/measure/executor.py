"""The executor seam (after hyperfine's): the scheduler asks an executor for cycles.

``bench.measure.docker.DockerExecutor`` runs them on a real engine; ``ScriptedExecutor``
returns scripted times, so the scheduler, writer, progress and the analysis
pipeline can be exercised and checked without an engine.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Protocol, Union

from bench.engine import classify as failures
from bench.measure.docker import CycleResult
from bench.core.phases import COLD, ENGINE_PHASES, PHASES, WARM
from bench.results.resultset import sample_record


class Executor(Protocol):
    def run_cycle(self, rt: Any, round_no: int, pos: int, warmup: bool) -> CycleResult: ...

    def run_cold_cycle(self, rt: Any, control: Any, round_no: int, pos: int) -> CycleResult: ...

    def retry_pending(self, deadline_s: float) -> list[str]: ...


# A script answers (mode name, phase, round) with a duration in ns, or a
# failure category string for a failed phase.
Script = Callable[[str, str, int], Union[int, str]]


class ScriptedExecutor:
    """Cycles whose phase times come from a script instead of an engine."""

    def __init__(self, script: Script, sleep: bool = False) -> None:
        self.script = script
        self.sleep = sleep

    def run_cycle(self, rt: Any, round_no: int, pos: int, warmup: bool) -> CycleResult:
        return self._scripted(rt, round_no, pos, warmup, WARM, PHASES)

    def run_cold_cycle(self, rt: Any, control: Any, round_no: int, pos: int) -> CycleResult:
        """Scripted like a warm cycle, with the engine phases first (the script sees their names)."""
        result = self._scripted(rt, round_no, pos, False, COLD, ENGINE_PHASES + PHASES)
        result.engine_down = any(not s["ok"] for s in result.samples if s["phase"] in ENGINE_PHASES)
        return result

    def _scripted(self, rt: Any, round_no: int, pos: int, warmup: bool, scenario: str,
                  phases: tuple[str, ...]) -> CycleResult:
        name = rt.mode.name if hasattr(rt, "mode") else str(rt)
        base = {"round": round_no, "pos": pos, "mode": name, "warmup": warmup, "scenario": scenario}
        samples: list[dict[str, Any]] = []
        failed: Optional[str] = None
        for phase in phases:
            wall = time.time_ns()
            if failed is not None:
                samples.append(sample_record(**base, phase=phase, duration_ns=None, ok=False, wall_ns=wall,
                                             error=failures.NOT_RUN, message=f"not run: {failed} failed"))
                continue
            outcome = self.script(name, phase, round_no)
            if isinstance(outcome, str):
                failed = phase
                samples.append(sample_record(**base, phase=phase, duration_ns=None, ok=False, wall_ns=wall,
                                             error=outcome, message=f"scripted {outcome}"))
                continue
            if self.sleep:
                time.sleep(outcome / 1e9)
            samples.append(sample_record(**base, phase=phase, duration_ns=int(outcome), ok=True, wall_ns=wall))
        return CycleResult(samples=samples)

    def retry_pending(self, deadline_s: float) -> list[str]:
        return []
