"""Open-loop rate runs: arrivals at a fixed rate for a fixed time, each on its own worker, so a
slow engine cannot slow the load (no coordinated omission: bench.measure.scale.ScheduleGate).
Each arrival's startup counts from its scheduled time (`dispatch` + create + start + ready)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Optional

from bench.schedule.units import ScaleHost, Unit

if TYPE_CHECKING:
    from bench.engine.preflight import ModeRuntime


def arrival_offsets(rate: float, duration_s: float, process: str, rng: random.Random) -> list[float]:
    """Seconds from the run's start of each arrival within ``duration_s``: exponential gaps
    (a Poisson process, as independent clients arrive) or evenly spaced ones."""
    if process == "uniform":
        return [i / rate for i in range(max(1, int(rate * duration_s)))]
    out, t = [], rng.expovariate(rate)
    while t < duration_s:
        out.append(t)
        t += rng.expovariate(rate)
    return out or [0.0]


def run_unit(sched: ScaleHost, rt: "ModeRuntime", unit: Unit) -> tuple[Optional[str], str, Optional[int], bool]:
    """Runs and writes one rate run. Returns (why the run must stop, progress label, makespan, ok)."""
    rate = float(unit.level or 1.0)
    rng = random.Random(f"{sched.seed}/{unit.mode}/{rate}/{unit.round}")
    offsets = arrival_offsets(rate, sched.scale.rate_duration_s, sched.scale.arrivals, rng)
    result = sched.runner.arrivals(rt, sched.base(unit), offsets)
    sched.write(result, unit.warmup)
    summary = result.samples[-1]
    return sched.after_group(rt, result), f"{rt.mode.name} rate {rate:g}/s", summary.duration_ns, bool(summary.ok)
