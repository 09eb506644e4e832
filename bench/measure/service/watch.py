"""Watching one service through the manager: GET /tasks every poll interval (swarm has no task
events and keeps only each task's latest state), each task's states as first seen, its first line
read on its node, and its node's container events, until a condition holds or a deadline passes.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

import docker

from bench.engine.service import api
from bench.engine.service.nodes import NodeDirectory
from bench.measure.service.readers import FirstLines
from bench.measure.service.trace import TaskTrace

SERVICE_ID_LABEL = "com.docker.swarm.service.id"
NODES_EVERY_NS = 1_000_000_000  # how often the node list is refreshed while waiting (a node that died)


class ServiceWatch:
    def __init__(
        self,
        client: docker.APIClient,
        sid: str,
        directory: NodeDirectory,
        now: Callable[[], int],
        poll_s: float,
        marker: str,
        call_timeout: float,
        offsets: Optional[dict[str, int]] = None,
    ) -> None:
        self.client = client
        self.sid = sid
        self.directory = directory
        self.now = now
        self.poll_ns = int(poll_s * 1e9)
        self.call_timeout = call_timeout
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.traces: dict[str, TaskTrace] = {}
        self.readers = FirstLines(directory, now, marker, self.lock, self.arrived, offsets)
        self.polls = 0
        self.rtts: list[int] = []
        self.last: list[dict[str, Any]] = []
        self._nodes_at = now()

    def _trace(self, task_id: str) -> TaskTrace:
        trace = self.traces.get(task_id)
        if trace is None:
            trace = self.traces[task_id] = TaskTrace(task_id)
        return trace

    def on_event(self, node_id: str, task_id: str, action: str, attrs: dict[str, Any]) -> None:
        """A node's container event (bench.engine.service.events): a task container of this service
        created starts its reader at once, before the container even starts."""
        if attrs.get(SERVICE_ID_LABEL) != self.sid:
            return
        with self.lock:
            trace = self._trace(task_id)
            if isinstance(attrs.get("time_nano"), int):
                trace.events.setdefault(action, attrs["time_nano"])
            if action == "create":
                trace.node_id = trace.node_id or node_id
                trace.cid = trace.cid or attrs.get("cid")
        if action == "create":
            self.readers.start(trace)

    def poll(self) -> list[dict[str, Any]]:
        """One GET /tasks; every task's record is taken as of the moment the answer arrived."""
        t0 = self.now()
        tasks = api.tasks(self.client, self.sid, self.call_timeout)
        t1 = self.now()
        self.polls += 1
        self.rtts.append(t1 - t0)
        with self.lock:
            for task in tasks:
                self._trace(task["ID"]).observe(task, t1)
            traces = list(self.traces.values())
        for trace in traces:
            self.readers.start(trace)
        self.last = tasks
        return tasks

    def ready(self) -> list[TaskTrace]:
        with self.lock:
            return [t for t in self.traces.values() if t.ready]

    def _refresh_nodes(self) -> None:
        if self.now() - self._nodes_at < NODES_EVERY_NS:
            return
        self._nodes_at = self.now()
        try:
            self.directory.refresh()
        except Exception:  # noqa: BLE001 - the manager's node list is advice here; the next poll says more
            pass

    def wait(self, until: Callable[[], bool], deadline_ns: int) -> bool:
        """Polls until ``until()`` holds (True) or the deadline passes (False). A line that arrives
        between polls is checked at once, without an extra poll."""
        next_poll = self.now()
        while True:
            if self.now() >= next_poll:
                self.poll()
                next_poll = self.now() + self.poll_ns
            if until():
                return True
            if self.now() >= deadline_ns:
                return False
            self._refresh_nodes()
            pause = (min(next_poll, deadline_ns) - self.now()) / 1e9
            if pause > 0 and self.arrived.wait(pause):
                self.arrived.clear()

    def ended_or_lost(self) -> bool:
        """Every task of the last poll has ended, or sits on a node that is down (it cannot report)."""
        return all(
            (t.get("Status") or {}).get("State") in api.ENDED or self.directory.down(t.get("NodeID")) for t in self.last
        )

    def reaped(self) -> bool:
        """No task of the service is left on the manager, but those on a node that is down."""
        return all(self.directory.down(t.get("NodeID")) for t in self.last)

    def stop(self) -> None:
        self.readers.stop()

    def poll_record(self) -> dict[str, Any]:
        rtts = sorted(self.rtts)
        return {
            "polls": self.polls,
            "poll_rtt_median_ns": rtts[len(rtts) // 2] if rtts else None,
            "poll_rtt_max_ns": rtts[-1] if rtts else None,
        }


class EventRouter:
    """Hands the nodes' container events (one stream per node for the whole run) to the service
    being watched now."""

    def __init__(self) -> None:
        self.current: Optional[ServiceWatch] = None

    def handler(self, node_id: str) -> Callable[[str, str, dict[str, Any]], None]:
        def on_event(task_id: str, action: str, attrs: dict[str, Any]) -> None:
            watch = self.current
            if watch is not None:
                watch.on_event(node_id, task_id, action, attrs)

        return on_event
