"""Each node's container events for one run's tasks: the node engine's own timestamps of a task
container's create, start, die and destroy, keyed by swarm task id (the events carry the label
``com.docker.swarm.task.id``). Swarm itself has no task events; these are the nearest engine-side
marks. A stream that breaks (a node that went down) is retried until closed; what it missed is
simply absent.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

import docker

from bench.core.labels import RUN_LABEL
from bench.engine.events import ACTIONS, EventFollower

TASK_LABEL = "com.docker.swarm.task.id"
RETRY_S = 1.0


class NodeEvents:
    """Follows one node's container events for ``run_id`` on a daemon thread."""

    def __init__(
        self,
        name: str,
        factory: Callable[[], Optional[docker.APIClient]],
        run_id: str,
        on_event: Optional[Callable[[str, str, dict[str, Any]], None]] = None,
    ) -> None:
        self.name = name
        self._on_event = on_event  # (task id, action, attributes): e.g. wake a first-line reader
        self._lock = threading.Lock()
        self.seen: dict[str, dict[str, int]] = {}
        self.cids: dict[str, str] = {}
        filters = {"type": ["container"], "label": [f"{RUN_LABEL}={run_id}"]}
        thread_name = f"isobench-events-{name}"
        self._events = EventFollower(factory, filters, self._record, thread_name, retry_s=RETRY_S)

    def start(self, wait_s: float = 3.0) -> "NodeEvents":
        self._events.start(wait_s)
        return self

    def _record(self, ev: dict[str, Any]) -> None:
        action = str(ev.get("Action") or ev.get("status") or "").split(":")[0]
        attrs = (ev.get("Actor") or {}).get("Attributes") or {}
        task, tn = attrs.get(TASK_LABEL), ev.get("timeNano")
        if action not in ACTIONS or not task or not isinstance(tn, int):
            return
        with self._lock:
            self.seen.setdefault(task, {}).setdefault(action, tn)
            cid = ev.get("id") or (ev.get("Actor") or {}).get("ID")
            if cid:
                self.cids.setdefault(task, str(cid))
        if self._on_event is not None:
            self._on_event(task, action, {**attrs, "cid": cid, "time_nano": tn})

    def times(self, task_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self.seen.get(task_id, {}))

    def close(self) -> None:
        self._events.close()
