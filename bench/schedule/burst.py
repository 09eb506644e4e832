"""Bursts: one group of N containers released together (bench.measure.burst), per unit of the
scale plan (bench.schedule.scale)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from bench.schedule.units import ScaleHost, Unit

if TYPE_CHECKING:
    from bench.engine.preflight import ModeRuntime


def run_unit(sched: ScaleHost, rt: "ModeRuntime", unit: Unit) -> tuple[Optional[str], str, Optional[int], bool]:
    """Runs and writes one burst. Returns (why the run must stop, progress label, makespan, ok)."""
    n = int(unit.level or 1)
    result = sched.runner.burst(rt, sched.base(unit), n)
    sched.write(result, unit.warmup)
    makespan = result.samples[-1]
    label = f"{rt.mode.name} burst {n}" + (" (warm-up)" if unit.warmup else "")
    return sched.after_group(rt, result), label, makespan.duration_ns, bool(makespan.ok)
