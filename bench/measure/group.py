"""Many containers at once, each on its own worker thread with its own client and its own
watchdog clock: the machinery under bursts, rate runs and density steps.

Each worker times its container's phases through the same ``_PhaseTimer`` as a warm cycle
(bench.measure.docker): the wall clock, then ``perf_counter_ns`` around one low-level API call.
The main thread watches every worker's clock at once: a worker whose phase overruns is
abandoned (its phase becomes a `timeout` sample, the rest `not_run`) while the others go on,
so a hung container costs its own samples and nothing else. Ctrl-C or SIGTERM abandons them all
(`interrupted` samples). Containers a worker could not remove are force-removed together
within one deadline, each with its `cleanup` sample.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from bench.core import signals
from bench.core.errors import Terminated
from bench.core.outcomes import CallTimeout
from bench.core.watchdog import Abandoned, PhaseClock
from bench.engine.drivers import driver_for
from bench.engine.preflight import ModeRuntime
from bench.engine.spec import create_kwargs
from bench.engine.sweep import remove_containers
from bench.measure import lean
from bench.measure.attach import close_socket, read_first_line
from bench.measure.cleanup import CLEANUP_RETRIES, StuckContainers
from bench.measure.docker import _created, _PhaseTimer, _Recorder, _Stop
from bench.measure.executor import fill_missing
from bench.results.records import Cost, Place, Sample

# How often the watcher looks at the clocks (it is never inside a timed call). A wake-up costs ~80 us of
# CPU on this 2-core VM: at 0.01 s, with every holding worker polling every 0.05 s, the waiting alone was
# a third of the harness's CPU per burst container (issue 23). A worker's startup ending or its thread
# ending wakes the watcher at once (Slot.changed), so the group is let go without waiting for a poll.
WATCH_EVERY_S = 0.1
HOLD_POLL_S = 0.5  # a holding worker looks for its own abandonment this often (the hold's end wakes it)


@dataclass
class Slot:
    """One container of a group: its sample fields, its worker's clock and recorder, and what the
    group needs afterwards (perf_counter_ns marks, the engine's view of it)."""

    base: Place
    clock: PhaseClock = field(default_factory=PhaseClock)
    rec: Optional[_Recorder] = None
    client: Any = None
    startup_done: threading.Event = field(default_factory=threading.Event)
    released_ns: Optional[int] = None  # perf_counter_ns just before the create request
    ready_ns: Optional[int] = None  # perf_counter_ns when the ready line arrived
    settled_ns: Optional[int] = None  # perf_counter_ns when its startup ended, however it ended
    view: dict[str, Any] = field(default_factory=dict)  # the engine's Created, isolation, memory limit
    timeout: Optional[CallTimeout] = None
    samples: list[Sample] = field(default_factory=list)
    extra: dict[str, Sample] = field(default_factory=dict)  # samples made outside _PhaseTimer
    changed: Optional[threading.Event] = None  # the group's: set when this worker's startup or thread ends

    @property
    def cid(self) -> Optional[str]:
        return self.rec.cid if self.rec else None

    @property
    def removed(self) -> bool:
        return bool(self.rec and self.rec.removed)

    @property
    def index(self) -> int:
        """The container's place in its group (every container of a group has one)."""
        slot = self.base.get("slot")
        if slot is None:
            raise ValueError("a group's container was planned without its slot")
        return slot


class Gate(Protocol):
    """What a worker waits for before its create request (a barrier, its scheduled arrival)."""

    def wait(self, slot: Slot) -> None:
        """Blocks until the worker may go; on the slot's clock, so a gate that never opens is a timeout."""

    def leave(self, slot: Slot) -> None:
        """The worker will never reach the gate (its set-up failed): nobody waits for it."""


class OpenGate:
    def wait(self, slot: Slot) -> None:
        pass

    def leave(self, slot: Slot) -> None:
        pass


@dataclass
class GroupPlan:
    """What every worker of a group does: ``gate`` before its create (a barrier, a scheduled
    arrival), then create, start, ready; then ``hold`` (wait for the group) and remove, unless
    ``keep`` (density's idle containers stay running)."""

    rt: ModeRuntime
    run_id: str
    phases: tuple[str, ...]
    gate: Gate = field(default_factory=OpenGate)
    hold: Optional[threading.Event] = None
    keep: bool = False
    prepare_s: float = 0.0  # set-up before the gate: a client and a warm connection

    @property
    def startup_s(self) -> float:
        t = self.rt.mode.timeouts
        return self.prepare_s + t.create + t.start + t.ready


@dataclass
class GroupResult:
    slots: list[Slot]
    interrupted: Optional[BaseException] = None
    # what the group cost the host (bench.measure.cost, slot null): written in its batch, never counted as a phase
    costs: list[Cost] = field(default_factory=list)

    @property
    def samples(self) -> list[Sample]:
        return [s for slot in self.slots for s in slot.samples]


def prepare(slot: Slot, plan: GroupPlan) -> None:
    """Each worker's own client, with its keep-alive connection opened by one ping: the burst
    measures the engine's concurrency, not connection set-up or a shared pool."""
    slot.client = lean.for_worker(plan.rt)  # its own raw connection (issue 23), else its own docker-py client
    slot.client.ping()


def _work(slot: Slot, plan: GroupPlan) -> None:
    mode, t = plan.rt.mode, plan.rt.mode.timeouts
    rec = slot.rec = _Recorder(slot.clock, slot.base)
    timed = _PhaseTimer(rec, slot.clock)
    sock = None
    passed = False
    try:
        timed.untimed("create", "prepare", plan.prepare_s or t.ping, lambda: prepare(slot, plan))
        api = slot.client
        kwargs = create_kwargs(api, mode, plan.rt.image, plan.run_id)
        plan.gate.wait(slot)
        passed = True
        slot.released_ns = time.perf_counter_ns()
        cid = timed("create", t.create, lambda: api.create_container(**kwargs), detail=lambda c, _: _created(rec, c))[
            "Id"
        ]
        if driver_for(mode).attach_inits:  # the attach runs the runtime's create: timed with start (as a cycle's)

            def start() -> Any:
                nonlocal sock
                sock = api.attach_socket(cid, params=_ATTACH)
                return api.start(cid)

        else:
            sock = timed.untimed("start", "attach", t.start, lambda: api.attach_socket(cid, params=_ATTACH))

            def start() -> Any:
                return api.start(cid)

        slot.ready_ns = timed.start_ready(t, start, lambda: read_first_line(sock, mode.ready_marker))
        close_socket(sock)
        sock = None
        slot.view = _engine_view(timed.untimed("remove", "inspect", t.remove, lambda: api.inspect_container(cid)))
        _settle(slot)
        if plan.keep:
            return
        _hold(slot, plan)
        timed("remove", t.remove, lambda: api.remove_container(cid, force=True))
        rec.removed = True
    except (Abandoned, _Stop):
        pass
    finally:
        if not passed:
            plan.gate.leave(slot)
        _settle(slot)
        if sock is not None:
            close_socket(sock)
        _tidy_late(slot)


_ATTACH = {"stdout": 1, "stderr": 1, "stream": 1, "logs": 0}


def _settle(slot: Slot) -> None:
    if not slot.startup_done.is_set():
        slot.settled_ns = time.perf_counter_ns()
        slot.startup_done.set()
        if slot.changed is not None:
            slot.changed.set()


def _hold(slot: Slot, plan: GroupPlan) -> None:
    """Waits (on the clock, so a group that never lets go is a timeout) until the group lets its
    containers go: the last one's startup is over."""
    if plan.hold is None:
        return
    slot.clock.enter("hold", plan.startup_s + 5.0)
    while not plan.hold.wait(HOLD_POLL_S):
        if slot.clock.abandoned:
            raise Abandoned("hold")


def _tidy_late(slot: Slot) -> None:
    """A late call returned after the watcher gave up: the worker removes its own container."""
    if slot.clock.abandoned and slot.cid and not slot.removed and slot.client is not None:
        try:
            slot.client.remove_container(slot.cid, force=True)
        except Exception:
            pass


def _engine_view(info: dict[str, Any]) -> dict[str, Any]:
    host = info.get("HostConfig") or {}
    return {
        "created": info.get("Created"),
        "started_at": (info.get("State") or {}).get("StartedAt"),
        "isolation": host.get("Isolation"),
        "runtime": host.get("Runtime"),
        "memory_limit_bytes": host.get("Memory"),
        "pid": (info.get("State") or {}).get("Pid"),
    }


def run_group(plan: GroupPlan, bases: list[Place], stuck: StuckContainers) -> GroupResult:
    """Runs one worker per ``bases`` entry and watches them all; every slot ends with a sample for
    each of ``plan.phases`` (and a `cleanup` sample where its container had to be force-removed)."""
    changed = threading.Event()
    slots = [Slot(base=b, changed=changed) for b in bases]
    threads = [
        threading.Thread(target=_run_slot, args=(s, plan), name=f"isobench-{b['scenario']}-{i}", daemon=True)
        for i, (s, b) in enumerate(zip(slots, bases))
    ]
    for th in threads:
        th.start()
    interrupted: Optional[BaseException] = None
    try:
        _watch(slots, plan)
    except (KeyboardInterrupt, Terminated) as exc:
        interrupted = exc
        for s in slots:
            s.clock.abandon()
    for s in slots:
        _fill(s, plan, interrupted is not None)
    _cleanup(plan.rt, [s for s in slots if s.cid and not s.removed and not plan.keep], stuck)
    for s in slots:
        _close(s)
    return GroupResult(slots, interrupted)


def _run_slot(slot: Slot, plan: GroupPlan) -> None:
    try:
        _work(slot, plan)
    finally:
        slot.clock.finish()
        if slot.changed is not None:
            slot.changed.set()


def _watch(slots: list[Slot], plan: GroupPlan) -> None:
    """Until every worker finished or was abandoned: abandons a worker whose phase overran, and
    lets the group go (``plan.hold``) once no startup is still running."""
    changed = slots[0].changed if slots else None
    while True:
        if changed is not None:
            changed.clear()  # before looking: a change while we look makes the wait below return at once
        now = time.monotonic()
        live = 0
        for s in slots:
            with s.clock.lock:
                if s.clock.finished or s.clock.abandoned:
                    continue
                if s.clock.phase is not None and now > s.clock.deadline:
                    s.clock.abandoned = True
                    s.timeout = CallTimeout(s.clock.phase, s.clock.timeout)
                    _settle(s)
                    continue
                live += 1
        if plan.hold is not None and all(s.startup_done.is_set() for s in slots):
            plan.hold.set()
        if not live:
            return
        if changed is not None:
            changed.wait(WATCH_EVERY_S)
        else:
            time.sleep(WATCH_EVERY_S)


def _fill(slot: Slot, plan: GroupPlan, interrupted: bool) -> None:
    rec = slot.rec
    if rec is not None:
        rec.settle_pending()
    got = dict(rec.samples) if rec else {}
    got.update(slot.extra)
    if plan.keep:  # an idle container is not removed here: its remove is the teardown's
        phases = tuple(p for p in plan.phases if p != "remove")
    else:
        phases = plan.phases
    walls = dict(rec.phase_wall) if rec else {}
    cid = slot.cid[:12] if slot.cid else None
    slot.samples = fill_missing(got, slot.base, phases, slot.timeout, interrupted and slot.timeout is None, cid, walls)


def _cleanup(rt: ModeRuntime, left: list[Slot], stuck: StuckContainers) -> None:
    """Force-removes what the workers left, all at once within one deadline; a container still held
    (a hung runtime) stays pending for the run's end, as a warm cycle's does."""
    if not left:
        return
    t0, wall = time.perf_counter_ns(), time.time_ns()
    cids = [s.cid for s in left if s.cid]
    why = "force remove did not finish in time: retried at the run's end"
    try:
        _, stuck_ids = remove_containers(
            rt.client, cids, signals.remaining_budget(rt.mode.timeouts.remove * CLEANUP_RETRIES)
        )
    except (KeyboardInterrupt, Terminated):  # a second stop signal: the samples are written, the run's end removes them
        signals.note_hurry()
        stuck_ids, why = [c[:12] for c in cids], "cut short by a second stop signal: removed at the run's end"
    for s in left:
        cid = s.cid or ""
        ok = cid[:12] not in stuck_ids
        if not ok:
            stuck.pending[cid] = rt
        s.samples.append(
            Sample(
                **s.base,
                phase="cleanup",
                duration_ns=time.perf_counter_ns() - t0,
                ok=ok,
                error=None if ok else "cleanup_failed",
                message=None if ok else why,
                wall_ns=wall,
                cid=cid[:12],
                detail={"together": len(cids)},
            )
        )


def _close(slot: Slot) -> None:
    if slot.client is not None and not slot.clock.abandoned:
        try:
            slot.client.close()
        except Exception:
            pass
