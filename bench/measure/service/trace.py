"""One task's life as the harness saw it, and the samples it yields (pure: no engine here).

A task's times come from three places, all put on the harness's clock:

* ``seen``: when a poll of GET /tasks first answered with the task in a state (harness clock; the
  poll interval is its resolution);
* ``stamped``: the task's own Status.Timestamp for that state, read when the poll saw it: the
  manager (leader) stamps new/allocated/pending/assigned, the task's node every later state. Each is
  corrected by the stamping node's clock offset (bench.engine.service.nodes.clock_offset);
* ``line_ns``: when the harness read the task's first output line on its node.

The ClusterLoader2 metrics are then: create_to_schedule = assigned - create; schedule_to_run =
running - assigned; run_to_ready = ready - running; service_startup = ready - create, where ready =
max(first line read, running): a task is ready once it printed its line *and* swarm reports it
running (its container often prints before the agent marks it running). A state a poll skipped
has no stamp; `assigned` then takes the earliest later state's stamp (an upper bound: noted in
``assigned_from``). Times are kept in order (a later mark never before an earlier one, which
clock-offset error could otherwise cause): any mark moved is named in ``clamped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from bench.core import outcomes
from bench.core.phases import MANAGER_STATES, TASK_METRICS, TASK_STATES
from bench.engine.service.times import parse_ns
from bench.results.records import Place, Sample


@dataclass
class TaskTrace:
    id: str
    slot: Optional[int] = None
    node_id: Optional[str] = None
    state: str = "new"
    desired: str = "running"
    seen: dict[str, int] = field(default_factory=dict)
    stamped: dict[str, int] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)  # the latest task record
    cid: Optional[str] = None
    line_ns: Optional[int] = None
    line_error: Optional[tuple[str, str]] = None
    line_engine_ns: Optional[int] = None  # the line's timestamp in the node's log (node clock)
    line_via: Optional[str] = None  # "node" (attached on the task's node) or "manager" (task logs)
    events: dict[str, int] = field(default_factory=dict)  # the node's container events (node clock)

    def observe(self, task: dict[str, Any], at_ns: int) -> None:
        """Takes one poll's record of the task, answered at ``at_ns`` (harness clock)."""
        status = task.get("Status") or {}
        state = str(status.get("State") or "")
        self.last = task
        if task.get("Slot") is not None:
            self.slot = int(task["Slot"])
        self.node_id = task.get("NodeID") or self.node_id
        self.desired = str(task.get("DesiredState") or self.desired)
        if state and state not in self.seen:
            self.seen[state] = at_ns
            stamp = parse_ns(status.get("Timestamp"))
            if stamp is not None:
                self.stamped[state] = stamp
        self.state = state or self.state
        cid = (status.get("ContainerStatus") or {}).get("ContainerID")
        if cid:
            self.cid = str(cid)

    @property
    def running(self) -> bool:
        return "running" in self.seen

    @property
    def ready(self) -> bool:
        return self.running and self.line_ns is not None


@dataclass
class Marks:
    """A task's boundaries on the harness clock (None: not reached)."""

    create: int
    assigned: Optional[int] = None
    assigned_from: Optional[str] = None
    running: Optional[int] = None
    ready: Optional[int] = None
    clamped: list[str] = field(default_factory=list)


def at(trace: TaskTrace, state: str, offsets: dict[str, int], leader: Optional[str]) -> Optional[int]:
    """The state's stamp on the harness clock: the engine's time minus the stamping node's offset."""
    raw = trace.stamped.get(state)
    if raw is None:
        return None
    stamper = leader if state in MANAGER_STATES else trace.node_id
    return raw - offsets.get(stamper or "", 0)


def marks(trace: TaskTrace, create_ns: int, offsets: dict[str, int], leader: Optional[str]) -> Marks:
    m = Marks(create=create_ns)
    later = TASK_STATES[TASK_STATES.index("assigned") :]
    for state in later:
        value = at(trace, state, offsets, leader)
        if value is not None:
            m.assigned, m.assigned_from = value, state
            break
    m.running = at(trace, "running", offsets, leader)
    if m.assigned is not None and m.assigned < m.create:
        m.assigned = m.create
        m.clamped.append("assigned")
    if m.running is not None and m.assigned is not None and m.running < m.assigned:
        m.running = m.assigned
        m.clamped.append("running")
    if m.running is not None and trace.line_ns is not None:
        m.ready = max(trace.line_ns, m.running)
    return m


def detail(trace: TaskTrace, m: Marks, common: dict[str, Any], offsets: dict[str, int], leader: Optional[str]) -> dict:
    """What each of the task's samples carries: its id, node, and every state's times."""
    return {
        **common,
        "task": trace.id,
        "slot": trace.slot,
        "node_id": trace.node_id,
        "states": {
            s: {"seen_ns": trace.seen[s], "engine_ns": trace.stamped.get(s), "at_ns": at(trace, s, offsets, leader)}
            for s in sorted(trace.seen, key=lambda s: (TASK_STATES + (s,)).index(s))
        },
        "create_ns": m.create,
        "assigned_ns": m.assigned,
        "assigned_from": m.assigned_from,
        "running_ns": m.running,
        "line_ns": trace.line_ns,
        "line_engine_ns": trace.line_engine_ns,
        "line_via": trace.line_via,
        "ready_ns": m.ready,
        "clamped": m.clamped,
        "events": dict(trace.events),
        "final_state": trace.state,
        "desired_state": trace.desired,
    }


@dataclass
class Outcome:
    """How a task's wait ended when it did not become ready: a failure or an interruption."""

    category: str
    message: str
    ended_ns: int


def task_samples(
    trace: TaskTrace,
    base: Place,
    m: Marks,
    info: dict[str, Any],
    failed: Optional[Outcome] = None,
) -> list[Sample]:
    """The task's four samples, in TASK_METRICS order. A metric whose end was not reached fails with
    ``failed``'s category (timed until the wait ended) and the metrics after it are `not_run`;
    service_startup fails with the same category, since it is the whole."""
    spans = {
        "create_to_schedule": (m.create, m.assigned),
        "schedule_to_run": (m.assigned, m.running),
        "run_to_ready": (m.running, m.ready),
        "service_startup": (m.create, m.ready),
    }
    out: list[Sample] = []
    broken: Optional[str] = None
    why = failed or Outcome(outcomes.ERROR, "the task's marks are incomplete", m.create)
    for metric in TASK_METRICS:
        start, end = spans[metric]
        place: Place = {**base, "slot": trace.slot}
        shared: dict[str, Any] = {"phase": metric, "cid": trace.cid[:12] if trace.cid else None}
        if start is not None and end is not None:
            out.append(Sample(**place, **shared, duration_ns=end - start, ok=True, wall_ns=start, detail=info))
        elif broken is None or metric == "service_startup":
            began = start if start is not None else why.ended_ns
            timed = why.category != outcomes.INTERRUPTED
            out.append(
                Sample(
                    **place,
                    **shared,
                    duration_ns=max(0, why.ended_ns - began) if timed else None,
                    ok=False,
                    error=why.category,
                    message=why.message,
                    wall_ns=began,
                    detail=info,
                )
            )
            broken = broken or metric
        else:
            message = f"not run: {broken} failed"
            out.append(
                Sample(
                    **place,
                    **shared,
                    duration_ns=None,
                    ok=False,
                    error=outcomes.NOT_RUN,
                    message=message,
                    wall_ns=why.ended_ns,
                    detail=info,
                )
            )
    return out
