"""A real engine stopped and started, timed: a cold cycle's ``engine_stop`` and ``engine_up``.

``engine_up`` runs from the start command until ``/_ping`` answers on a new connection.
Between engine_up and the cycle, untimed set-up may run (the VM engine's image is imported
again, since its storage lives in memory); what it did is recorded in engine_up's
``detail``. A failure is a sample with its reason. Each call is bounded by the mode's timeouts.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import docker

from bench.core.errors import Terminated
from bench.core.watchdog import call_with_timeout
from bench.engine import classify, endpoints
from bench.engine.control.restart import EngineControl
from bench.engine.preflight import ModeRuntime
from bench.measure.executor import EnginePhases, interrupted_sample, not_run
from bench.results.records import Place, Sample

PING_EVERY_S = 0.05
PING_TIMEOUT_S = 5.0


def _wait_for_ping(rt: ModeRuntime, endpoint: endpoints.Endpoint, deadline: float) -> tuple[docker.APIClient, int]:
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


def _phase(
    base: Place, phase: str, work: Callable[[int], tuple[int, dict[str, Any]]], out: list[Sample]
) -> Optional[BaseException]:
    """Runs one engine phase: ``work(t0)`` returns (duration_ns, detail). Appends its sample,
    success or not; returns the exception that ended it (a signal included), or None."""
    wall, t0 = time.time_ns(), time.perf_counter_ns()
    try:
        duration_ns, detail = work(t0)
        out.append(Sample(**base, phase=phase, duration_ns=duration_ns, ok=True, wall_ns=wall, detail=detail))
        return None
    except (KeyboardInterrupt, Terminated) as exc:
        out.append(interrupted_sample(base, phase, wall))
        return exc
    except Exception as exc:
        category, message = classify.classify(exc)
        out.append(
            Sample(
                **base,
                phase=phase,
                duration_ns=time.perf_counter_ns() - t0,
                ok=False,
                error=category,
                message=message,
                wall_ns=wall,
            )
        )
        return exc


def restart_engine(rt: ModeRuntime, control: EngineControl, base: Place) -> EnginePhases:
    t = rt.mode.timeouts

    def stop(t0: int) -> tuple[int, dict[str, Any]]:
        call_with_timeout(control.stop, t.engine_stop, "engine_stop")
        return time.perf_counter_ns() - t0, {"control": control.kind}

    def up(t0: int) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + t.engine_up
        new_endpoint = call_with_timeout(control.start, t.engine_up, "engine_up")
        command_ns = time.perf_counter_ns() - t0
        endpoint = new_endpoint or rt.endpoint
        client, attempts = call_with_timeout(
            lambda: _wait_for_ping(rt, endpoint, deadline),
            max(1.0, deadline - time.monotonic()) + PING_TIMEOUT_S,
            "engine_up",
        )
        up_ns = time.perf_counter_ns() - t0
        rt.endpoint, rt.client = endpoint, client
        detail: dict[str, Any] = {"control": control.kind, "command_ns": command_ns, "pings": attempts}
        # Untimed: what the fresh engine needs before the first container (see module doc).
        detail.update(call_with_timeout(lambda: control.after_start(client, rt.image), t.engine_up, "engine set-up"))
        return up_ns, detail

    out = EnginePhases()
    ended = _phase(base, "engine_stop", stop, out.samples)
    if ended is not None:
        out.failed = "engine_stop"
        out.samples.append(not_run(base, "engine_up", out.failed))
    else:
        ended = _phase(base, "engine_up", up, out.samples)
        out.failed = "engine_up" if ended is not None else None
    out.interrupted = ended if isinstance(ended, (KeyboardInterrupt, Terminated)) else None
    return out
