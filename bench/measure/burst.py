"""One burst: N containers created, started and read to their first line together.

Every worker makes its own client and opens its connection first; a barrier releases them
once every worker holds its request (a worker whose set-up failed is not waited for). Each
container's create, start and ready are its own samples; the burst's `makespan` sample runs
from the first release to the last container ready, and its detail records how far the
creates really overlapped inside the engine (bench.engine.overlap). Once every startup is over,
the workers remove their containers together (forced: they are running), timed as `remove`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from bench.core import outcomes
from bench.core.errors import Terminated
from bench.core.phases import MAKESPAN, SCALE_PHASES
from bench.core.watchdog import Abandoned
from bench.engine.events import EventCollector
from bench.engine.overlap import creates_overlap
from bench.engine.preflight import ModeRuntime
from bench.measure.cleanup import StuckContainers
from bench.measure.group import GroupPlan, GroupResult, Slot, run_group
from bench.results.records import Place, Sample

# docker events action -> the scale phase whose call causes it (a forced remove: destroy)
EVENT_OF_PHASE = {"create": "create", "start": "start", "remove": "destroy"}


class BarrierGate:
    """Opens once every worker is at the gate or has left (set-up failed), or after ``timeout_s``
    (recorded: the release was then not simultaneous)."""

    def __init__(self, workers: int, timeout_s: float) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._arrived = 0
        self._left = 0
        self.broken = False
        self.opened_ns: Optional[int] = None

    def _open(self) -> bool:
        return self._arrived + self._left >= self.workers

    def wait(self, slot: Slot) -> None:
        slot.clock.enter("barrier", self.timeout_s + 5.0)
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            self._arrived += 1
            self._cond.notify_all()
            while not self._open():
                if slot.clock.abandoned:
                    raise Abandoned("barrier")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.broken = True
                    break
                self._cond.wait(min(remaining, 0.05))
            if self.opened_ns is None:
                self.opened_ns = time.perf_counter_ns()

    def leave(self, slot: Slot) -> None:
        with self._cond:
            self._left += 1
            self._cond.notify_all()

    def record(self) -> dict[str, Any]:
        return {"workers": self.workers, "left": self._left, "broken": self.broken, "timeout_s": self.timeout_s}


def run_burst(
    rt: ModeRuntime,
    run_id: str,
    base: Place,
    n: int,
    barrier_s: float,
    stuck: StuckContainers,
    events: Optional[EventCollector],
) -> GroupResult:
    """``base``: the sample fields every container of the burst shares (round, pos, mode, warmup,
    scenario, level, burst); each gets its slot. Returns the containers' samples and the
    `makespan` sample, in that order."""
    gate = BarrierGate(n, barrier_s)
    plan = GroupPlan(rt, run_id, SCALE_PHASES, gate=gate, hold=threading.Event(), prepare_s=rt.mode.timeouts.ping + 5.0)
    result = run_group(plan, [{**base, "slot": i} for i in range(n)], stuck)
    views = join_events(result, events)
    result.slots[-1].samples.append(makespan_sample(base, result.slots, gate.record(), creates_overlap(views)))
    return result


def join_events(result: GroupResult, events: Optional[EventCollector], wait_s: float = 0.5) -> list[dict[str, Any]]:
    """The engine's create/start/destroy times joined to each container's samples (one wait for
    the lot, since events arrive a little after the calls return); returns per container the
    engine's Created and create event, for the overlap. A stop signal meanwhile ends the wait (the
    group's samples are still written)."""
    views = []
    deadline = time.monotonic() + wait_s
    for slot in result.slots:
        seen: dict[str, int] = {}
        if events is not None and slot.cid and result.interrupted is None:
            try:
                seen = events.take(slot.cid, wait_s=max(0.0, deadline - time.monotonic()))
            except (KeyboardInterrupt, Terminated) as exc:
                result.interrupted = exc
        for i, s in enumerate(slot.samples):
            action = EVENT_OF_PHASE.get(s.phase)
            if action and action in seen:
                slot.samples[i] = s.but(engine={"event": action, "time_nano": seen[action]})
        if slot.cid:
            views.append({"created": slot.view.get("created"), "create_event_ns": seen.get("create")})
    return views


def _failure(slots: list[Slot]) -> tuple[Optional[str], Optional[str]]:
    for slot in slots:
        for s in slot.samples:
            if not s.ok and s.error != outcomes.NOT_RUN and s.phase in ("create", "start", "ready"):
                return s.error, f"container {s.slot}: {s.phase} {s.error}: {s.message}"
    return None, None


def makespan_sample(base: Place, slots: list[Slot], gate: dict[str, Any], overlap: dict[str, Any]) -> Sample:
    """From the first release to the last container ready (or, when one failed, to the last
    startup's end: then not ok, with the first failure's category)."""
    released = [s.released_ns for s in slots if s.released_ns is not None]
    ends = [e for e in (s.ready_ns if s.ready_ns is not None else s.settled_ns for s in slots) if e is not None]
    ready = sum(1 for s in slots if s.ready_ns is not None)
    error, message = _failure(slots)
    duration = max(ends) - min(released) if released and ends else None
    if error is None and (ready < len(slots) or duration is None):
        error, message = outcomes.INTERRUPTED, "the burst was cut short before every container was ready"
    detail = {
        "containers": len(slots),
        "ready": ready,
        "release_spread_ns": max(released) - min(released) if released else None,
        "ready_offsets_ns": [None if s.ready_ns is None or not released else s.ready_ns - min(released) for s in slots],
        "barrier": gate,
        "creates_overlap": overlap,
    }
    group: Place = {**base, "slot": None}
    return Sample(
        **group,
        phase=MAKESPAN,
        duration_ns=duration,
        ok=error is None,
        error=error,
        message=message,
        wall_ns=min((s.rec.phase_wall["create"] for s in slots if s.rec and "create" in s.rec.phase_wall), default=0)
        or time.time_ns(),
        detail=detail,
    )
