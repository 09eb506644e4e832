"""The scale scenarios' work on a real engine: bursts, open-loop arrivals, density's idle
containers and probes, the teardown, and the memory facts. Shares the warm executor's run id,
event collectors and stuck-container list (bench.measure.docker.DockerExecutor), so the run's
end cleanup covers scale containers exactly as it covers warm ones.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from bench.core.phases import DISPATCH, MAKESPAN, RATE_PHASES, SCALE_PHASES
from bench.core.scale import ScaleSettings
from bench.core.watchdog import Abandoned
from bench.engine import memory
from bench.engine.preflight import ModeRuntime
from bench.engine.sweep import labelled, remove_containers
from bench.measure import oom
from bench.measure.burst import join_events, makespan_sample, run_burst
from bench.measure.docker import DockerExecutor
from bench.measure.group import GroupPlan, GroupResult, Slot, run_group
from bench.results.records import Place, Sample

REFUSED = "refused"  # an arrival the harness refused: max_inflight containers were already starting


class ScheduleGate:
    """Open-loop arrivals: worker i goes at ``start + offsets[i]`` whatever the others are doing;
    its `dispatch` sample is how late it went (near zero unless this machine cannot keep up)."""

    def __init__(self, start_perf_ns: int, offsets_s: list[float], max_inflight: int) -> None:
        self.start_perf_ns = start_perf_ns
        self.offsets_ns = [int(o * 1e9) for o in offsets_s]
        self.max_inflight = max_inflight
        self.dispatched: list[Slot] = []
        self.lock = threading.Lock()

    def wait(self, slot: Slot) -> None:
        due = self.start_perf_ns + self.offsets_ns[slot.index]
        slot.clock.enter("arrival", max(0.0, (due - time.perf_counter_ns()) / 1e9) + 30.0)
        while True:
            left = due - time.perf_counter_ns()
            if left <= 0:
                break
            if slot.clock.abandoned:
                raise Abandoned("arrival")
            time.sleep(min(left / 1e9, 0.05) if left > 2_000_000 else 0)
        now = time.perf_counter_ns()
        with self.lock:
            inflight = sum(1 for s in self.dispatched if not s.startup_done.is_set())
            refused = inflight >= self.max_inflight
            if not refused:
                self.dispatched.append(slot)
        slot.extra[DISPATCH] = Sample(
            **slot.base,
            phase=DISPATCH,
            duration_ns=now - due,
            ok=not refused,
            error=REFUSED if refused else None,
            message=f"{self.max_inflight} arrivals were already in flight (max_inflight)" if refused else None,
            wall_ns=time.time_ns(),
            detail={"scheduled_offset_ns": self.offsets_ns[slot.index]},
        )
        if refused:
            raise Abandoned("refused")

    def leave(self, slot: Slot) -> None:
        pass


class ScaleRunner:
    def __init__(self, executor: DockerExecutor, scale: ScaleSettings) -> None:
        self.executor = executor
        self.scale = scale

    @property
    def run_id(self) -> str:
        return self.executor.run_id

    def burst(self, rt: ModeRuntime, base: Place, n: int) -> GroupResult:
        events = self.executor.events.get(rt.mode.name)
        probe = self.executor.probe
        mark = probe.begin(rt) if probe is not None else None
        result = run_burst(rt, self.run_id, base, n, self.scale.barrier_s, self.executor.stuck, events)
        if probe is not None and mark is not None and result.interrupted is None:  # the burst's CPU (issue 23)
            result.costs = probe.finish_group(rt, base, n, mark)
        return result

    def arrivals(self, rt: ModeRuntime, base: Place, offsets_s: list[float]) -> GroupResult:
        """One open-loop rate run: a worker per arrival, each with its own client made before the
        first arrival is due; each container is removed as soon as it is ready."""
        lead_s = 1.0 + 0.02 * len(offsets_s)  # every worker's set-up done before the first arrival
        gate = ScheduleGate(time.perf_counter_ns() + int(lead_s * 1e9), offsets_s, self.scale.max_inflight)
        plan = GroupPlan(rt, self.run_id, RATE_PHASES, gate=gate, prepare_s=rt.mode.timeouts.ping + lead_s)
        result = run_group(plan, [{**base, "slot": i} for i in range(len(offsets_s))], self.executor.stuck)
        join_events(result, self.executor.events.get(rt.mode.name))
        result.slots[-1].samples.append(rate_makespan(base, result.slots, gate))
        return result

    def idle(self, rt: ModeRuntime, base: Place, k: int) -> GroupResult:
        """Density: ``k`` containers started together and left running."""
        plan = GroupPlan(rt, self.run_id, SCALE_PHASES, keep=True, prepare_s=rt.mode.timeouts.ping + 5.0)
        return run_group(plan, [{**base, "slot": i} for i in range(k)], self.executor.stuck)

    def probe(self, rt: ModeRuntime, base: Place) -> GroupResult:
        """Density: one container timed from create to ready, then removed."""
        plan = GroupPlan(rt, self.run_id, SCALE_PHASES, prepare_s=rt.mode.timeouts.ping + 5.0)
        result = run_group(plan, [base], self.executor.stuck)
        join_events(result, self.executor.events.get(rt.mode.name))
        return result

    def remove(self, rt: ModeRuntime, cids: list[str], deadline_s: float) -> tuple[int, list[str]]:
        """Force-removes ``cids`` together within one deadline; what stays is left for the run's end."""
        removed, stuck = remove_containers(rt.client, cids, deadline_s)
        for cid in cids:
            if cid[:12] in stuck:
                self.executor.stuck.pending[cid] = rt
        return removed, stuck

    def left_on_engine(self, rt: ModeRuntime) -> list[str]:
        """This run's containers of this mode still on the engine (the teardown's check)."""
        found = labelled(rt.client, self.run_id, timeout=rt.mode.timeouts.ping)
        return sorted(c["Id"][:12] for c in found if (c.get("Labels") or {}).get("isobench.mode") == rt.mode.name)

    def oom_killed(self, rt: ModeRuntime, cids: list[str]) -> list[tuple[str, str]]:
        """Density: which of the idle containers the kernel's OOM killer ended (bench.measure.oom)."""
        return oom.killed(rt.client, self.run_id, cids, rt.mode.timeouts.ping)

    def memory(self, rt: ModeRuntime, cids: list[str], views: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
        return memory_facts(rt, cids, views)


def engine_is_local(rt: ModeRuntime) -> bool:
    """Whether the engine's containers live on this machine (its socket or pipe; the VM's qemu)."""
    return rt.endpoint.scheme in ("unix", "npipe") or rt.mode.endpoint == "vm"


def _qemu_pid(rt: ModeRuntime) -> Optional[int]:
    if rt.mode.endpoint != "vm":
        return None
    from bench.engine.control.vm.state import load_state

    state = load_state()
    return state.pid if state is not None else None


def memory_facts(rt: ModeRuntime, cids: list[str], views: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """The host's available memory and the runtime's PSS now, for this mode's ``cids``. An engine
    elsewhere has no host facts here; a Windows engine's Hyper-V containers add their facts."""
    facts: dict[str, Any] = {"local": engine_is_local(rt), "taken_ns": time.time_ns()}
    if facts["local"]:
        facts["mem_available_bytes"] = memory.mem_available()
        qemu = _qemu_pid(rt)
        facts["runtime"] = memory.runtime_pss(cids, extra_pids=[qemu] if qemu else [])
        if qemu:
            facts["runtime"]["qemu_pid"] = qemu
    engine_os = str((rt.record.get("engine") or {}).get("os_type") or "")
    isolation = (views or [{}])[0].get("isolation") if views else None
    if engine_os == "windows" and (isolation == "hyperv" or rt.mode.isolation == "hyperv"):
        facts["hyperv"] = memory.hyperv_facts((views or [{}])[0], facts["local"])
    return facts


def rate_makespan(base: Place, slots: list[Slot], gate: ScheduleGate) -> Sample:
    """A rate run's summary sample: from the first scheduled arrival to the last container ready;
    its detail says whether completions kept up with arrivals."""
    sample = makespan_sample(base, slots, {"arrivals": len(slots)}, {})
    first_due = gate.start_perf_ns + min(gate.offsets_ns, default=0)
    ends = [s.ready_ns for s in slots if s.ready_ns is not None]
    detail = {
        "arrivals": len(slots),
        "completed": len(ends),
        "completed_offsets_ns": sorted(e - first_due for e in ends),
        "scheduled_offsets_ns": gate.offsets_ns,
        "max_inflight": gate.max_inflight,
    }
    return sample.but(phase=MAKESPAN, duration_ns=max(ends) - first_due if ends else sample.duration_ns, detail=detail)
