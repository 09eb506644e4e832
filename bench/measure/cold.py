"""One cold cycle: stop the engine, start it, then the usual six phases on the fresh engine.

Phases, all with scenario "cold":

- ``engine_stop``: the control's stop (until the engine process is gone, or the
  stop command returned). Recorded for completeness; not part of any metric.
- ``engine_up``: from the start command until ``/_ping`` answers on a new
  connection. For the VM engine this is boot to engine ready (Toolbox's
  ``docker-machine start``); for a local engine, a dockerd restart.
- then create, start, ready, exec, stop, remove of the first container.

Between engine_up and create, untimed set-up may run (the VM engine's image is
imported again, since its storage lives in memory); what it did is recorded in
engine_up's ``detail``. A failure anywhere is a sample with its reason; the
phases after it are ``not_run``. Each call is bounded by the mode's timeouts.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from bench.engine import endpoints
from bench.engine import classify as failures
from bench.measure.docker import CycleResult, DockerExecutor
from bench.engine.control.restart import EngineControl
from bench.core.errors import Terminated
from bench.core.phases import COLD, PHASES
from bench.engine.preflight import ModeRuntime
from bench.results.resultset import sample_record
from bench.core.watchdog import call_with_timeout

PING_EVERY_S = 0.05
PING_TIMEOUT_S = 5.0


def _wait_for_ping(rt: ModeRuntime, endpoint: endpoints.Endpoint, deadline: float) -> tuple[Any, int]:
    """A new client once /_ping answers; (client, attempts). Raises the last error at the deadline."""
    attempts = 0
    while True:
        attempts += 1
        try:
            client = endpoints.make_client(endpoint, rt.client.timeout, version=rt.client.api_version)
            client.timeout = min(PING_TIMEOUT_S, max(0.5, deadline - time.monotonic()))
            client.ping()
            client.timeout = rt.client.timeout
            return client, attempts
        except Exception:
            if time.monotonic() + PING_EVERY_S >= deadline:
                raise
            time.sleep(PING_EVERY_S)


def _phase(base: dict[str, Any], phase: str, work: Callable[[int], tuple[int, dict[str, Any]]],
           out: list[dict[str, Any]]) -> Optional[BaseException]:
    """Runs one engine phase: ``work(t0)`` returns (duration_ns, detail). Appends its sample,
    success or not; returns the exception that ended it (a signal included), or None."""
    wall, t0 = time.time_ns(), time.perf_counter_ns()
    try:
        duration_ns, detail = work(t0)
        out.append(sample_record(**base, phase=phase, duration_ns=duration_ns, ok=True, wall_ns=wall, detail=detail))
        return None
    except (KeyboardInterrupt, Terminated) as exc:
        out.append(sample_record(**base, phase=phase, duration_ns=None, ok=False, error=failures.INTERRUPTED,
                                 message=f"run interrupted during {phase}", wall_ns=wall))
        return exc
    except Exception as exc:
        category, message = failures.classify(exc)
        out.append(sample_record(**base, phase=phase, duration_ns=time.perf_counter_ns() - t0, ok=False,
                                 error=category, message=message, wall_ns=wall))
        return exc


def run_cold_cycle(executor: DockerExecutor, rt: ModeRuntime, control: EngineControl, round_no: int,
                   pos: int) -> CycleResult:
    base = {"round": round_no, "pos": pos, "mode": rt.mode.name, "warmup": False, "scenario": COLD}
    t = rt.mode.timeouts
    engine_samples: list[dict[str, Any]] = []

    def stop(t0: int) -> tuple[int, dict[str, Any]]:
        call_with_timeout(control.stop, t.engine_stop, "engine_stop")
        return time.perf_counter_ns() - t0, {"control": control.kind}

    def up(t0: int) -> tuple[int, dict[str, Any]]:
        """From the start command to the first /_ping answered."""
        deadline = time.monotonic() + t.engine_up
        new_endpoint = call_with_timeout(control.start, t.engine_up, "engine_up")
        command_ns = time.perf_counter_ns() - t0
        endpoint = new_endpoint or rt.endpoint
        client, attempts = call_with_timeout(lambda: _wait_for_ping(rt, endpoint, deadline),
                                             max(1.0, deadline - time.monotonic()) + PING_TIMEOUT_S, "engine_up")
        up_ns = time.perf_counter_ns() - t0
        rt.endpoint, rt.client = endpoint, client
        detail: dict[str, Any] = {"control": control.kind, "command_ns": command_ns, "pings": attempts}
        # Untimed: what the fresh engine needs before the first container (see module doc).
        detail.update(call_with_timeout(lambda: control.after_start(client, rt.image), t.engine_up, "engine set-up"))
        return up_ns, detail

    failed: Optional[str] = None
    ended = _phase(base, "engine_stop", stop, engine_samples)
    if ended is not None:
        failed = "engine_stop"
        engine_samples.append(_not_run(base, "engine_up", failed))
    else:
        ended = _phase(base, "engine_up", up, engine_samples)
        failed = "engine_up" if ended is not None else None
    interrupted = ended if isinstance(ended, (KeyboardInterrupt, Terminated)) else None

    if failed is not None:
        samples = engine_samples + [_not_run(base, p, failed) for p in PHASES]
        result = CycleResult(samples=samples, interrupted=interrupted)
        result.engine_down = True
        return result
    result = executor.run_cycle(rt, round_no, pos, warmup=False, scenario=COLD)
    result.samples[0:0] = engine_samples
    return result


def _not_run(base: dict[str, Any], phase: str, cause: str) -> dict[str, Any]:
    return sample_record(**base, phase=phase, duration_ns=None, ok=False, error=failures.NOT_RUN,
                         message=f"not run: {cause} failed", wall_ns=time.time_ns())
