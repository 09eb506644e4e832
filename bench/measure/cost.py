"""What each cycle costs the host in CPU, and its startup waterfall (issue 23; names in bench.core.costs).

The probe reads its counters outside the timed windows: before the cycle's first clock read and after
its last (the container's own cgroup between exec and stop, untimed, since removal deletes it), and
returns cost records (bench.results.records.Cost), which the cycle's batch carries apart from
its samples: a cost is no phase of the cycle. Per source, per mode, the header (``harness.cost``) names the
accounting method, or why a figure cannot be had: such a figure is not written, never as zero.

- engine stack: the engine's cgroup (bench.engine.cgroups: isobench-engine, or the service's own);
- container: its cgroup's counter, which holds every process of it from `runc init` on;
- VM engine: the qemu process's utime + stime (the engine, its containers and the guest kernel);
- harness: getrusage(RUSAGE_SELF) of this process, every thread (the listener's included, and shown
  apart in the waterfall's detail as ``listener_cpu_ns``).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from bench.core import signals
from bench.core.costs import CPU_CONTAINER, CPU_ENGINE, CPU_HARNESS, CPU_VM, STEP_PREFIX, WATERFALL
from bench.engine import cgroups
from bench.engine.cgroups import EngineHome, Hierarchy
from bench.engine.preflight import ModeRuntime
from bench.engine.procevents import CLOSE_WAIT_S, ProcEvents
from bench.measure import waterfall
from bench.results.records import Cost, Place, Sample

# ISOBENCH_PROC_EVENTS=0 runs without the process-event listener (to measure what it costs).
PROC_EVENTS_ENV = "ISOBENCH_PROC_EVENTS"
# ISOBENCH_PROC_EVENTS_OFF=MODE[,MODE]: these modes' cycles run with the listener unsubscribed (the
# kernel sends no events): an in-run A/B of its cost (`isobench ab --mode runc --mode runc-off`).
PROC_EVENTS_OFF_ENV = "ISOBENCH_PROC_EVENTS_OFF"
DEFAULT_PID_FILES = {"/var/run/docker.sock": "/var/run/docker.pid", "/run/docker.sock": "/var/run/docker.pid"}
HARNESS_METHOD = "getrusage(RUSAGE_SELF) of the isobench process: every thread, user + system"
VM_METHOD = "the qemu process's utime + stime (/proc/<pid>/stat, clock-tick resolution): guest, engine and containers"


def harness_cpu_ns() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return int((r.ru_utime + r.ru_stime) * 1e9)


@dataclass(frozen=True)
class Sources:
    """Where one mode's CPU is read, or why it cannot be (``why``: source -> one sentence)."""

    engine: Optional[EngineHome]
    dockerd: Optional[int]
    containers: Optional[Hierarchy]
    qemu: Optional[int]
    why: dict[str, str]


@dataclass(frozen=True)
class Mark:
    """The counters at a cycle's (or burst's) beginning."""

    engine_ns: Optional[int]
    vm_ns: Optional[int]
    harness_ns: int
    listener_ns: int


def _dockerd_pid(rt: ModeRuntime) -> Optional[int]:
    path = cgroups.socket_path(rt.endpoint.base_url)
    if path is None:
        return None
    pid = cgroups.listening_pid(path)
    if pid is None and path in DEFAULT_PID_FILES:
        try:
            pid = int(Path(DEFAULT_PID_FILES[path]).read_text().strip())
        except (OSError, ValueError):
            pid = None
    return pid


def _qemu_pid(rt: ModeRuntime) -> Optional[int]:
    if rt.mode.endpoint != "vm":
        return None
    from bench.engine.control.vm.state import load_state

    state = load_state()
    return state.pid if state is not None else None


def sources(rt: ModeRuntime, h: Union[Hierarchy, str], homes: dict[int, Union[EngineHome, str]]) -> Sources:
    """This mode's sources: a local dockerd's cgroup (placed once per dockerd), the VM's qemu."""
    why: dict[str, str] = {}
    qemu = _qemu_pid(rt)
    pid = _dockerd_pid(rt)
    if qemu is not None:
        inside = "the engine runs inside the VM: the host sees its CPU only as qemu's (cpu_vm)"
        why.update({CPU_ENGINE: inside, CPU_CONTAINER: inside})
    elif rt.endpoint.scheme != "unix" or pid is None:
        why[CPU_ENGINE] = why[CPU_CONTAINER] = (
            "the engine is not a dockerd on this machine, so its processes cannot be accounted here"
        )
    elif isinstance(h, str):
        why[CPU_ENGINE] = why[CPU_CONTAINER] = h
    if CPU_ENGINE not in why and pid is not None and isinstance(h, Hierarchy):
        if pid not in homes:
            homes[pid] = cgroups.place_engine(pid, h)
        if isinstance(homes[pid], str):
            why[CPU_ENGINE] = str(homes[pid])
    if qemu is None:
        why[CPU_VM] = "this mode's engine is not the VM engine"
    home = homes.get(pid) if pid is not None and CPU_ENGINE not in why else None
    return Sources(
        engine=home if isinstance(home, EngineHome) else None,
        dockerd=pid,
        containers=h if isinstance(h, Hierarchy) and CPU_CONTAINER not in why else None,
        qemu=qemu,
        why=why,
    )


class CostProbe:
    """Per mode, the CPU sources and the process-event listener; gives each cycle's cost records."""

    def __init__(self, by_mode: dict[str, Sources], listener: Optional[ProcEvents], listener_why: str) -> None:
        self.by_mode = by_mode
        self.listener = listener
        self.listener_why = listener_why
        self.off = {m for m in os.environ.get(PROC_EVENTS_OFF_ENV, "").split(",") if m}

    @classmethod
    def for_run(cls, runtimes: list[ModeRuntime], say: Callable[[str], None] = lambda _: None) -> "CostProbe":
        h = cgroups.hierarchy()
        homes: dict[int, Union[EngineHome, str]] = {}
        by_mode = {rt.mode.name: sources(rt, h, homes) for rt in runtimes}
        for pid, home in homes.items():
            if isinstance(home, EngineHome) and home.moved:
                say(f"  cost: moved dockerd (pid {pid}) and {len(home.moved) - 1} process(es) below it into "
                    f"the cgroup {home.cgroups[0]} to account the engine stack's CPU")  # fmt: skip
        roots = [pid for pid, home in homes.items() if isinstance(home, EngineHome)]
        listener, why = None, ""
        if os.environ.get(PROC_EVENTS_ENV, "1") == "0":
            why = f"the process-event listener was switched off ({PROC_EVENTS_ENV}=0)"
        elif not roots:
            why = "no engine of this run is a dockerd on this machine whose processes could be followed"
        else:
            try:
                listener = ProcEvents(roots, cgroups.parent_map()).start()
            except OSError as exc:
                why = f"the kernel's process events (netlink cn_proc) cannot be read ({exc.strerror}): run as root"
        return cls(by_mode, listener, why)

    def __enter__(self) -> "CostProbe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """On every exit path. After a second stop signal the shutdown's last second is for the leases and
        the VM: the listener is then not waited for (its thread is a daemon, its sockets are closed)."""
        if self.listener is not None:
            self.listener.close(0.0 if signals.hurrying() else CLOSE_WAIT_S)

    def idle(self) -> None:
        """A cycle cut short by a stop signal gets no cost records: the listener goes back to waking only
        every BATCH_S (no exec of the shutdown's removals wakes it) and subscribed."""
        self.focus(False)
        if self.listener is not None:
            self.listener.pause(False)

    def header(self) -> dict[str, Any]:
        """harness.cost: the window, per mode and source the method or why not, and the waterfall's source."""
        modes: dict[str, Any] = {}
        for name, src in self.by_mode.items():
            rec: dict[str, Any] = {CPU_HARNESS: {"method": HARNESS_METHOD}}
            rec[CPU_ENGINE] = src.engine.record() if src.engine else {"unavailable": src.why.get(CPU_ENGINE)}
            rec[CPU_CONTAINER] = (
                {"method": f"the container's cgroup, read after exec and before stop: {src.containers.describe()}"}
                if src.containers else {"unavailable": src.why.get(CPU_CONTAINER)}
            )  # fmt: skip
            rec[CPU_VM] = (
                {"method": VM_METHOD, "qemu_pid": src.qemu} if src.qemu else {"unavailable": src.why.get(CPU_VM)}
            )
            if name in self.off:
                rec["waterfall"] = {
                    "unavailable": f"the listener was unsubscribed for this mode's cycles ({PROC_EVENTS_OFF_ENV})"
                }
            modes[name] = rec
        wf: dict[str, Any] = (
            {"source": "netlink cn_proc (fork, exec, exit of the processes below dockerd)",
             "clock": "CLOCK_MONOTONIC, as time.perf_counter_ns", "steps": "bench.core.costs.STEPS"}
            if self.listener else {"unavailable": self.listener_why}
        )  # fmt: skip
        wf["containerd_task_events"] = (
            "not recorded: containerd's /tasks/create and /tasks/start events reach dockerd, which does not pass "
            "them on; reading them needs containerd's own socket and its API client, which isobench does not carry"
        )
        return {"window": "from before create's clock to after remove's, outside every timed call",
                "modes": modes, "waterfall": wf}  # fmt: skip

    def begin(self, rt: ModeRuntime, start: bool = False) -> Mark:
        """The counters now; ``start``: a cycle whose start the waterfall follows is next."""
        if start and rt.mode.name in self.off and self.listener is not None:
            self.listener.pause(True)
        elif start:
            self.focus(True)
        src = self.by_mode.get(rt.mode.name)
        engine = src.engine.usage_ns() if src and src.engine else None
        vm = cgroups.proc_cpu_ns(src.qemu) if src and src.qemu else None
        listener = self.listener.cpu_ns if self.listener else 0
        return Mark(engine, vm, harness_cpu_ns(), listener)

    def focus(self, on: bool) -> None:
        """A cycle's start is about to be in flight (or is over): the listener takes execs at once."""
        if self.listener is not None:
            self.listener.focus(on)

    def container_ns(self, mode: str, cid: Optional[str]) -> Optional[int]:
        """The container's CPU so far (its cgroup's counter), or None. Called after exec: the start is long
        over, so the listener need not take execs at once any more (stop and remove follow)."""
        self.focus(False)
        src = self.by_mode.get(mode)
        if not cid or src is None or src.containers is None:
            return None
        where = cgroups.container_cgroup(src.containers, cid)
        return src.containers.usage_ns(where) if where else None

    def _figures(self, rt: ModeRuntime, mark: Mark) -> dict[str, int]:
        """CPU since ``mark`` per source that could be read now (the engine's only while its dockerd
        still lives in the accounted cgroup: a cold cycle's restarted dockerd does not)."""
        src = self.by_mode.get(rt.mode.name)
        out = {CPU_HARNESS: harness_cpu_ns() - mark.harness_ns}
        if src is None:
            return out
        if src.engine and mark.engine_ns is not None and src.dockerd is not None:
            now = src.engine.usage_ns()
            home = cgroups.cgroup_of(src.dockerd, src.engine.h)
            if now is not None and home in src.engine.cgroups:
                out[CPU_ENGINE] = now - mark.engine_ns
        if src.qemu and mark.vm_ns is not None:
            now = cgroups.proc_cpu_ns(src.qemu)
            if now is not None:
                out[CPU_VM] = now - mark.vm_ns
        return out

    def finish(
        self,
        rt: ModeRuntime,
        samples: list[Sample],
        mark: Mark,
        ready_end_ns: Optional[int],
        container_ns: Optional[int],
    ) -> list[Cost]:
        """The cycle's cost records (CPU by source, and its waterfall), from its ``samples``. A failed cycle's
        CPU is kept, not ok, with the phase it failed at: it is not a start's cost."""
        try:
            if not samples:
                return []
            figures = self._figures(rt, mark)
            if container_ns is not None:
                figures[CPU_CONTAINER] = container_ns
            base = _place(samples[0])
            failed = next((s for s in samples if not s.ok), None)
            out = [Cost(**base, metric=metric, value_ns=max(ns, 0), ok=failed is None, wall_ns=time.time_ns(),
                        failed_at=failed.phase if failed else None, cid=samples[0].cid)
                   for metric, ns in figures.items()]  # fmt: skip
            if failed is None and ready_end_ns is not None:
                out += self._waterfall(rt, base, samples, ready_end_ns, mark)
            return out
        finally:
            self.focus(False)
            if self.listener is not None:
                self.listener.pause(False)

    def _waterfall(self, rt: ModeRuntime, base: Place, samples: list[Sample], t_end: int, mark: Mark) -> list[Cost]:
        """The start's process events and steps: from the start call sent (t_end minus ready and
        start) to the ready line read, on the perf_counter clock."""
        src = self.by_mode.get(rt.mode.name)
        if self.listener is None or src is None or src.engine is None or rt.mode.name in self.off:
            return []
        took = {s.phase: s.duration_ns for s in samples if s.phase in ("start", "ready")}
        start_ns, ready_ns = took.get("start"), took.get("ready")
        if start_ns is None or ready_ns is None:
            return []
        t0 = t_end - start_ns - ready_ns
        now = time.perf_counter_ns()
        events = self.listener.window(t0, now)  # once the listener has read up to now
        found = waterfall.markers(events)
        detail = {
            "events": waterfall.event_rows(events, t0),
            "markers": {m: ns - t0 for m, ns in found.items()},
            "start_ns": start_ns,
            "listener_cpu_ns": self.listener.cpu_ns - mark.listener_ns,
            "lost": self.listener.lost,
        }
        cid = samples[0].cid
        out = [Cost(**base, metric=WATERFALL, value_ns=t_end - t0, ok=True, wall_ns=time.time_ns(), cid=cid,
                    detail=detail)]  # fmt: skip
        for step, ns in waterfall.steps(found, t0, t_end):
            out.append(Cost(**base, metric=STEP_PREFIX + step, value_ns=ns, ok=True, wall_ns=time.time_ns(),
                            cid=cid))  # fmt: skip
        return out

    def finish_group(self, rt: ModeRuntime, base: Place, containers: int, mark: Mark) -> list[Cost]:
        """A burst's CPU (slot null): the engine's and the harness's over the whole group, for `containers`."""
        rec = _place_of(base)
        rec["slot"] = None
        return [
            Cost(
                **rec,
                metric=metric,
                value_ns=max(ns, 0),
                ok=True,
                wall_ns=time.time_ns(),
                detail={"containers": containers},
            )  # fmt: skip
            for metric, ns in self._figures(rt, mark).items()
        ]


def _place(sample: Sample) -> Place:
    """Where a cycle's costs stand: its samples' shared fields."""
    return Place(round=sample.round, pos=sample.pos, mode=sample.mode, warmup=sample.warmup, scenario=sample.scenario,
                 group=sample.group, level=sample.level, level_unit=sample.level_unit, slot=sample.slot)  # fmt: skip


def _place_of(base: Place) -> Place:
    """A group's place as its cost records need every field of it (a base may leave the scale ones out)."""
    return Place(round=base["round"], pos=base["pos"], mode=base["mode"], warmup=base["warmup"],
                 scenario=base.get("scenario", "warm"), group=base.get("group"), level=base.get("level"),
                 level_unit=base.get("level_unit"), slot=base.get("slot"))  # fmt: skip
