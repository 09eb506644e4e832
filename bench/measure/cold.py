"""One cold cycle, for any executor: the engine stopped and started, then the usual six phases.

Phases, all with scenario "cold":

- ``engine_stop``: the control's stop (until the engine process is gone, or the
  stop command returned). Recorded for completeness; not part of any metric.
- ``engine_up``: from the start command until ``/_ping`` answers on a new
  connection. For the VM engine this is boot to engine ready (Toolbox's
  ``docker-machine start``); for a local engine, a dockerd restart.
- then create, start, ready, exec, stop, remove of the first container.

How the engine phases are taken is the executor's business (bench.measure.restart for
a real engine); this module only composes them with the cycle. When an engine phase
fails, the cycle's phases are `not_run` and the result says the engine is down, so the
scheduler brings it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.core.phases import COLD, PHASES
from bench.measure.executor import CycleResult, Executor, not_run
from bench.results.records import Place

if TYPE_CHECKING:
    from bench.engine.control.restart import EngineControl
    from bench.engine.preflight import ModeRuntime


def run_cold_cycle(
    executor: Executor, rt: "ModeRuntime", control: "EngineControl", round_no: int, pos: int
) -> CycleResult:
    base: Place = {"round": round_no, "pos": pos, "mode": rt.mode.name, "warmup": False, "scenario": COLD}
    engine = executor.restart_engine(rt, control, base)
    if engine.failed is not None:
        samples = engine.samples + [not_run(base, p, engine.failed) for p in PHASES]
        return CycleResult(samples=samples, interrupted=engine.interrupted, engine_down=True)
    result = executor.run_cycle(rt, round_no, pos, warmup=False, scenario=COLD)
    result.samples[0:0] = engine.samples
    return result
