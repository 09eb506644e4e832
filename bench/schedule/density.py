"""Density: how many containers of a mode fit on this host, and what each costs.

Each step starts `density_step` idle containers together and keeps them running, records the
host's available memory and the runtime's PSS (bench.engine.memory) in the step's sample, then
times `probes` probe containers one after another (create to ready, then removed). The run stops
at the first failure, when the probes' median startup passes the SLO, when available memory
falls below the reserve, or when the next step would pass `density_max`. Then every container is
removed and the engine is checked to hold none of this mode's containers: the `teardown` sample
says why the steps stopped, what was removed, and what was left.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any, Optional

from bench.core import outcomes, signals
from bench.core.errors import Terminated
from bench.core.phases import STEP, TEARDOWN
from bench.results.records import Place, Sample
from bench.schedule.scheduler import derived_of
from bench.schedule.units import ScaleHost, Unit

if TYPE_CHECKING:
    from bench.engine.preflight import ModeRuntime
    from bench.measure.group import GroupResult


class _Run:
    """One mode's density run: the containers kept running and the memory before the first step."""

    def __init__(self, sched: ScaleHost, rt: "ModeRuntime", unit: Unit) -> None:
        self.sched, self.rt, self.unit = sched, rt, unit
        self.running: list[str] = []
        self.views: list[dict[str, Any]] = []
        self.baseline = sched.runner.memory(rt, [])
        self.last = self.baseline
        self.stop_reason = ""
        self.failed: Optional[str] = None  # an engine that never came back: the whole run fails
        self.probe_p50: Optional[int] = None  # the last step's probe median (for the progress line)

    def reserve_reached(self) -> Optional[str]:
        free = self.last.get("mem_available_bytes")
        reserve = self.sched.scale.reserve_bytes
        if isinstance(free, int) and free < reserve:
            return (
                f"available memory {free / 2**30:.2f} GiB fell below the reserve of "
                f"{self.sched.scale.reserve_gib:g} GiB with {len(self.running)} running"
            )
        return None

    def step(self) -> Optional[str]:
        """One step: idle containers up, memory taken, probes timed. Returns why to stop, or None."""
        s = self.sched.scale
        if len(self.running) + s.density_step > s.density_max:
            return f"density_max reached: {len(self.running)} running, one more step would pass {s.density_max}"
        why = self.reserve_reached()
        if why:
            return why
        level = len(self.running) + s.density_step
        base = self.sched.base(self.unit, float(level))
        idle = self.sched.runner.idle(self.rt, base, s.density_step)
        self.running += [slot.cid for slot in idle.slots if slot.cid]
        self.views += [slot.view for slot in idle.slots if slot.view]
        self.last = self.sched.runner.memory(self.rt, self.running, self.views)
        record = step_sample(base, idle, self.last, self.baseline, len(self.running))
        self.sched.writer.append([record])
        self.sched.tally.count([record])
        if idle.interrupted is not None:
            raise idle.interrupted
        ended = self.sched.runner.oom_killed(self.rt, self.running)
        if ended:  # named before any other rule: the host (or the limit) ran out of memory
            return (
                f"{outcomes.OOM_KILLED}: the kernel's OOM killer ended {len(ended)} idle container(s) at {level} "
                f"containers ({', '.join(c for c, _ in ended)}: {ended[0][1]})"
            )
        if not record.ok:
            return f"first failure, at {level} containers: {record.message}"
        return self.reserve_reached() or self.probe(base) or self.between()

    def probe(self, base: Place) -> Optional[str]:
        startups = []
        for p in range(self.sched.scale.probes):
            result = self.sched.runner.probe(self.rt, {**base, "slot": p})
            self.sched.write(result, False)
            value = derived_of(result.samples)
            if value is None:
                bad = next(s for s in result.samples if not s.ok)
                return f"first failure, a probe at {len(self.running)} running: {bad.phase} {bad.error}"
            startups.append(value)
        self.probe_p50 = int(statistics.median(startups)) if startups else None
        if startups and statistics.median(startups) > self.sched.scale.slo_s * 1e9:
            return (
                f"probe median startup {statistics.median(startups) / 1e9:.2f} s passed the SLO of "
                f"{self.sched.scale.slo_s:g} s with {len(self.running)} running"
            )
        return None

    def between(self) -> Optional[str]:
        if self.sched.between_cycles is not None:
            self.sched.between_cycles()
        if not self.sched.wait_for_engine(self.rt):
            self.failed = f"the engine of mode {self.rt.mode.name!r} stayed unavailable during density steps"
            return self.failed
        return None

    def teardown(self, interrupted: bool) -> None:
        """Removes every container of the run together within one deadline, then checks the engine
        holds none of this mode's; the `teardown` sample says what happened."""
        wall, t0 = time.time_ns(), time.perf_counter_ns()
        limit = signals.remaining_budget(self.rt.mode.timeouts.remove * 3)
        removed, stuck, left = 0, list[str](), list[str]()
        try:
            removed, stuck = self.sched.runner.remove(self.rt, self.running, limit)
            left = self.sched.runner.left_on_engine(self.rt)
        except (KeyboardInterrupt, Terminated):
            signals.note_hurry()
            interrupted = True
        except Exception as exc:  # the check itself failed: say so, the run's end sweep still runs
            left = [f"unknown: {exc}"]
        record = teardown_sample(self, wall, time.perf_counter_ns() - t0, removed, stuck, left, interrupted)
        self.sched.writer.append([record])
        self.sched.tally.count([record])


def step_sample(
    base: Place, idle: "GroupResult", facts: dict[str, Any], baseline: dict[str, Any], running: int
) -> Sample:
    """The step: how long its idle containers took to come up (first create to last ready), each
    container's outcome, and what the host and the runtime hold now, per container."""
    containers = []
    for slot in idle.slots:
        phases = {s.phase: s for s in slot.samples}
        bad = next((s for s in slot.samples if not s.ok and s.error != outcomes.NOT_RUN), None)
        containers.append(
            {
                "slot": slot.base["slot"],
                "cid": slot.cid[:12] if slot.cid else None,
                **{f"{p}_ns": phases[p].duration_ns for p in ("create", "start", "ready") if p in phases},
                "ok": bad is None,
                "error": bad.error if bad else None,
                "message": f"{bad.phase}: {bad.message}" if bad else None,
            }
        )
    failed = next((c for c in containers if not c["ok"]), None)
    released = [s.released_ns for s in idle.slots if s.released_ns is not None]
    ready = [s.ready_ns for s in idle.slots if s.ready_ns is not None]
    group: Place = {**base, "slot": None}
    return Sample(
        **group,
        phase=STEP,
        duration_ns=max(ready) - min(released) if released and ready else None,
        ok=failed is None and bool(ready),
        error=None if failed is None else str(failed["error"]),
        message=None if failed is None else f"idle container {failed['slot']}: {failed['message']}",
        wall_ns=time.time_ns(),
        detail={
            "running": running,
            "containers": containers,
            "memory": facts,
            **per_container(facts, baseline, running),
        },
    )


def per_container(facts: dict[str, Any], baseline: dict[str, Any], running: int) -> dict[str, Any]:
    """Memory per running container: the drop in available memory since before the first step, and
    the runtime's PSS (and, for a VM engine, the growth of its qemu's PSS) divided among them."""
    out: dict[str, Any] = {"mem_available_baseline_bytes": baseline.get("mem_available_bytes")}
    before, now = baseline.get("mem_available_bytes"), facts.get("mem_available_bytes")
    if isinstance(before, int) and isinstance(now, int) and running:
        out["mem_available_drop_per_container_bytes"] = (before - now) / running
    rt_now, rt_before = facts.get("runtime") or {}, baseline.get("runtime") or {}
    if rt_now.get("qemu_pid") and running:
        out["pss_per_container_bytes"] = (rt_now["pss_bytes"] - rt_before.get("pss_bytes", 0)) / running
    elif rt_now.get("containers_found"):
        out["pss_per_container_bytes"] = rt_now["pss_bytes"] / rt_now["containers_found"]
    return out


def teardown_sample(
    run: _Run, wall: int, duration: int, removed: int, stuck: list[str], left: list[str], interrupted: bool
) -> Sample:
    reason = "interrupted" if interrupted else run.stop_reason
    error = outcomes.INTERRUPTED if interrupted else (outcomes.CLEANUP_FAILED if left else None)
    group: Place = {**run.sched.base(run.unit, float(len(run.running))), "slot": None}
    return Sample(
        **group,
        phase=TEARDOWN,
        duration_ns=duration,
        ok=error is None,
        error=error,
        message=f"left on the engine: {', '.join(left)}" if left else (reason if interrupted else None),
        wall_ns=wall,
        detail={"stop_reason": reason, "running": len(run.running), "removed": removed, "stuck": stuck, "left": left},
    )


def run_unit(sched: ScaleHost, rt: "ModeRuntime", unit: Unit) -> tuple[Optional[str], str, Optional[int], bool]:
    """One mode's density run, its teardown whatever happened. Returns (why the run must stop,
    progress label, None, ok)."""
    run = _Run(sched, rt, unit)
    interrupted = True
    try:
        while not run.stop_reason:
            run.stop_reason = run.step() or ""
        interrupted = False
    finally:
        run.teardown(interrupted)
    return run.failed, f"{rt.mode.name} density: {len(run.running)} running ({run.stop_reason})", run.probe_p50, True
