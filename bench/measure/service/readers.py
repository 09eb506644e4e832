"""Each task's first output line, read on the task's own node as a warm cycle reads it: an attach
stream on the node's engine, opened as soon as the node reports the task's container created (its
container event, or a poll that shows the container id), usually before the container starts. A
line printed before the stream opened is read from the node's log instead, and its time is then the
log's own timestamp (the node's clock, corrected by its offset). A node the harness cannot reach is
read through the manager's task logs (GET /tasks/{id}/logs). Each sample says which way
(``line_via``: "node", "node log" or "manager").

One daemon thread per task; ``stop()`` closes every stream, so no reader outlives its service.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Optional

import docker

from bench.core.outcomes import BadOutput
from bench.engine import classify
from bench.engine.service.nodes import NodeDirectory
from bench.engine.service.times import parse_ns
from bench.measure.attach import READY_LIMIT_BYTES, close_socket
from bench.measure.service.trace import TaskTrace


def _check(line: str, marker: str) -> None:
    if line.strip() != marker:
        raise BadOutput(f"first line was {line[:200]!r}, expected {marker!r}")


def manager_first_line(client: docker.APIClient, task_id: str, marker: str, keep: Callable[[Any], None]) -> None:
    """The task's first line through the manager (GET /tasks/{id}/logs, followed)."""
    params = {"follow": 1, "stdout": 1, "stderr": 1, "timestamps": 0}
    res = client._get(client._url("/tasks/{0}/logs", task_id), params=params, stream=True)
    keep(res)
    client._raise_for_status(res)
    out = b""
    for chunk in client._multiplexed_response_stream_helper(res):
        out += chunk
        if b"\n" in out or len(out) > READY_LIMIT_BYTES:
            break
    if b"\n" not in out:
        raise BadOutput(f"the task's output ended before its ready line (got {out[:200]!r})")
    _check(out.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r"), marker)


CHECK_S = 0.1  # with nothing on the attach stream this long, the node's log is read once (see attach_first_line)


def _payload(buf: bytes) -> tuple[bytes, bytes]:
    """Complete frames of a multiplexed stream (8-byte headers) -> (their payload, the rest)."""
    out = b""
    while len(buf) >= 8 and len(buf) >= 8 + int.from_bytes(buf[4:8], "big"):
        size = int.from_bytes(buf[4:8], "big")
        out += buf[8 : 8 + size]
        buf = buf[8 + size :]
    return out, buf


def logged_line(client: docker.APIClient, cid: str) -> Optional[tuple[str, Optional[int]]]:
    """The container's first complete line in its node's log, with the log's timestamp (node clock)."""
    raw = bytes(client.logs(cid, stdout=True, stderr=True, timestamps=True))
    if b"\n" not in raw:
        return None
    stamp, _, line = raw.split(b"\n", 1)[0].decode("utf-8", "replace").partition(" ")
    return line.rstrip("\r"), parse_ns(stamp)


def attach_first_line(
    client: docker.APIClient, cid: str, marker: str, keep: Callable[[Any], None], stopped: Callable[[], bool]
) -> Optional[int]:
    """Reads the task's first line on its node. An attach stream (no log replay: attaching with the
    logs replayed can lose a line printed between the replay and the stream) is opened as soon as the
    container exists, usually before it starts; the node's log is read once the stream is open, and
    again whenever the stream stays quiet for CHECK_S: the log holds a line printed before the stream
    opened. Returns None when the line came from the stream (read now), or the log's timestamp of it
    (node clock; -1 when the log has none) when it came from the log."""
    sock = client.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
    keep(sock)
    raw: Any = getattr(sock, "_sock", sock)  # the socket under docker-py's SocketIO (unix); TLS sockets as they are
    raw.settimeout(CHECK_S)
    buf, out = b"", b""
    first = True  # the log is read before the first wait on the stream: the line may be there already
    while not stopped():
        chunk: Optional[bytes] = None
        if not first:
            try:
                chunk = raw.recv(4096)
            except socket.timeout:
                chunk = None
        first = False
        if chunk:
            got, buf = _payload(buf + chunk)
            out += got
            if b"\n" in out:
                _check(out.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r"), marker)
                return None
            if len(out) > READY_LIMIT_BYTES:
                raise BadOutput(f"no newline in the first {READY_LIMIT_BYTES} bytes of output")
            continue
        logged = logged_line(client, cid)
        if logged is not None:
            _check(logged[0], marker)
            return logged[1] if logged[1] is not None else -1
        if chunk == b"":
            raise BadOutput(f"the container's output ended before its ready line (got {out[:200]!r})")
    raise BadOutput("the reader was stopped before the ready line")


class FirstLines:
    """Starts one reader per task and notes, under ``lock``, when each line arrived."""

    def __init__(
        self,
        directory: NodeDirectory,
        now: Callable[[], int],
        marker: str,
        lock: threading.Lock,
        arrived: threading.Event,
        offsets: Optional[dict[str, int]] = None,
    ) -> None:
        self.directory = directory
        self.now = now
        self.marker = marker
        self.lock = lock
        self.arrived = arrived  # set whenever a line arrives: the poll loop wakes at once
        self.offsets = offsets or {}
        self.started: set[str] = set()
        self._open: list[Any] = []
        self._stopped = False

    def start(self, trace: TaskTrace) -> None:
        """Starts the task's reader once it has a node and a container."""
        with self.lock:
            if self._stopped or trace.id in self.started or not trace.cid or not trace.node_id:
                return
            self.started.add(trace.id)
        name = f"isobench-line-{trace.id[:8]}"
        threading.Thread(target=self._read, args=(trace, trace.node_id, trace.cid), name=name, daemon=True).start()

    def _keep(self, obj: Any) -> None:
        with self.lock:
            self._open.append(obj)
        if self._stopped:
            close_socket(obj)

    def _line(self, node_id: str, trace: TaskTrace, cid: str) -> tuple[int, str, Optional[int]]:
        """(when the line was had on the harness clock, how, the log's own stamp of it)."""
        client = self.directory.new_client(node_id)
        if client is None:
            manager_first_line(self.directory.manager, trace.id, self.marker, self._keep)
            return self.now(), "manager", None
        try:
            stamp = attach_first_line(client, cid, self.marker, self._keep, lambda: self._stopped)
            if stamp is None:
                return self.now(), "node", None
            at = stamp - self.offsets.get(node_id, 0) if stamp > 0 else self.now()
            return at, "node log", stamp if stamp > 0 else None
        finally:
            client.close()

    def _read(self, trace: TaskTrace, node_id: str, cid: str) -> None:
        try:
            arrived, via, stamp = self._line(node_id, trace, cid)
            with self.lock:
                trace.line_ns, trace.line_via = arrived, via
                trace.line_engine_ns = stamp or trace.line_engine_ns
        except Exception as exc:  # noqa: BLE001 - recorded on the task, never raised from a reader
            if not self._stopped:
                with self.lock:
                    trace.line_error = classify.classify(exc)
        finally:
            self.arrived.set()

    def stop(self) -> None:
        with self.lock:
            self._stopped = True
            opened, self._open = self._open, []
        for obj in opened:
            close_socket(obj)


def engine_line_time(directory: NodeDirectory, trace: TaskTrace, timeout: float) -> Optional[int]:
    """The first line's timestamp in the node's own log (node clock), read after the fact: untimed,
    for the record. None where the node cannot be asked or keeps no readable log."""
    from bench.core.watchdog import call_with_timeout

    client = directory.client(trace.node_id or "")
    if client is None or not trace.cid:
        return None
    try:
        raw = call_with_timeout(
            lambda: client.logs(trace.cid, stdout=True, stderr=True, timestamps=True), timeout, "logs"
        )
    except Exception:  # noqa: BLE001 - a detail, never a failure
        return None
    first = bytes(raw).split(b"\n", 1)[0].decode("utf-8", "replace")
    return parse_ns(first.split(" ", 1)[0])
