"""The engine's own clock: ``docker events`` timeNano of create/start/die/destroy per container.

Kept beside the client's timings so the two views can be compared: the gap
between them is transport and client cost, not isolation cost.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import docker

ACTIONS = ("create", "start", "die", "destroy")
# Another engine kind's word for one of ACTIONS: Podman says "remove" where dockerd says "destroy".
ALIASES = {"remove": "destroy"}


class EventFollower:
    """Follows one engine's event stream, filtered by ``filters``, on a daemon thread, handing each
    event to ``record``. Serves both the run's collector here and each swarm node's task events
    (bench.engine.service.events).

    If the stream breaks (engine restart, a node gone) or ``record`` fails, it reconnects after
    ``retry_s`` until closed; the events missed meanwhile are simply absent, never invented. A
    factory that returns None (no engine known to ask) ends the following.
    """

    def __init__(
        self,
        client_factory: Callable[[], Optional[docker.APIClient]],
        filters: dict[str, list[str]],
        record: Callable[[dict[str, Any]], None],
        thread_name: str,
        retry_s: float,
    ) -> None:
        self._factory = client_factory
        self._filters = filters
        self._record = record
        self._retry_s = retry_s
        self._closed = False
        self._stream: Any = None
        self._thread = threading.Thread(target=self._follow, name=thread_name, daemon=True)
        self._ready = threading.Event()

    def start(self, wait_s: float) -> None:
        """Returns once the stream is open or its first attempt failed, or after ``wait_s``."""
        self._thread.start()
        self._ready.wait(wait_s)

    def _follow(self) -> None:
        while not self._closed:
            try:
                client = self._factory()
                if client is None:
                    return
                self._stream = client.events(filters=self._filters, decode=True)
                self._ready.set()
                for ev in self._stream:
                    self._record(ev)
                    if self._closed:
                        return
            except Exception:  # engine gone or stream cut: try again shortly
                self._ready.set()
            if not self._closed:
                time.sleep(self._retry_s)

    def close(self) -> None:
        self._closed = True
        stream = self._stream
        if stream is not None and hasattr(stream, "close"):
            try:
                stream.close()  # ends the blocking read in _follow
            except Exception:  # closing is best effort: the thread is a daemon
                pass


class EventCollector:
    """The container events of one run (``label``) on one engine: create/start/die/destroy
    timeNano per container id, taken by the cycle that ran the container."""

    def __init__(self, client_factory: Callable[[], docker.APIClient], label: str) -> None:
        self._cond = threading.Condition()
        self._seen: dict[str, dict[str, int]] = {}
        filters = {"label": [label], "type": ["container"]}
        self._events = EventFollower(client_factory, filters, self._record, "isobench-events", retry_s=0.5)

    def start(self, wait_s: float = 5.0) -> "EventCollector":
        self._events.start(wait_s)
        return self

    def _record(self, ev: dict[str, Any]) -> None:
        action = str(ev.get("Action") or ev.get("status") or "").split(":")[0]
        action = ALIASES.get(action, action)
        cid = ev.get("id") or ev.get("Actor", {}).get("ID")
        tn = ev.get("timeNano")
        if action not in ACTIONS or not cid or not isinstance(tn, int):
            return
        with self._cond:
            self._seen.setdefault(cid, {})[action] = tn
            self._cond.notify_all()

    def take(self, cid: Optional[str], wait_for: str = "destroy", wait_s: float = 0.5) -> dict[str, int]:
        """The timestamps seen for a container, waiting briefly for ``wait_for`` (the last
        event of a cycle) since events arrive a little after the API calls return."""
        if not cid:
            return {}
        deadline = time.monotonic() + wait_s
        with self._cond:
            while wait_for not in self._seen.get(cid, {}):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._seen.pop(cid, {})

    def close(self) -> None:
        self._events.close()
