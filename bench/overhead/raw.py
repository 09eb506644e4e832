"""The floor any client can reach: the harness's requests as bare HTTP/1.1 bytes on the engine's
unix socket, timed the same way as the harness times its own: the request's bytes are built and the
connection opened before the clock starts; between the two clock reads there is only ``sendall``
and reading the answer. Written apart from the harness's wire (bench.measure.wire), so the two are
two implementations of one minimum, not the same code timed twice."""

from __future__ import annotations

import json
import select
import socket
import time
from typing import Any, Callable, Optional
from urllib.parse import urlencode

TIMEOUT_S = 60.0


class RawError(RuntimeError):
    """A raw request the engine refused or cut short: that side's cycle failed."""


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise RawError("the engine closed the connection mid-answer")
    return chunk


class RawConnection:
    """One keep-alive connection, reopened (untimed) when the engine closed it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: Optional[socket.socket] = None

    def ready(self) -> socket.socket:
        """Before the clock: an open connection (a readable idle one was closed by the engine)."""
        if self.sock is not None and select.select([self.sock], [], [], 0)[0]:
            self.close()
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(TIMEOUT_S)
            self.sock.connect(self.path)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def exchange(self, sock: socket.socket, request: bytes) -> bytes:
        """Timed: sends the request, reads the whole answer, returns its body."""
        sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += _recv(sock)
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
        if status in (204, 304):
            body = b""
        elif b"content-length" in headers:
            while len(body) < int(headers[b"content-length"]):
                body += _recv(sock)
        elif headers.get(b"transfer-encoding") == b"chunked":  # the wait's answer, sent when the container exits
            while not body.endswith(b"0\r\n\r\n"):
                body += _recv(sock)
            body = _dechunked(body)
        else:  # no length: the body runs to the end of the connection (an exec's output)
            while chunk := sock.recv(65536):
                body += chunk
            self.close()
        if status >= 400:
            raise RawError(f"{lines[0].decode('latin-1')}: {body[:200]!r}")
        return body


def request_bytes(api: str, method: str, path: str, body: Any = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} /v{api}{path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(data)}\r\n"
    return (head + ("Content-Type: application/json\r\n" if data else "") + "\r\n").encode() + data


def _dechunked(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


class _Attached:
    """An attach stream opened before start (as the harness does), read up to the first line."""

    def __init__(self, sock_path: str, api: str, cid: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(sock_path)
        q = urlencode({"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
        self.sock.sendall(
            f"POST /v{api}/containers/{cid}/attach?{q} HTTP/1.1\r\nHost: localhost\r\n"
            f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += _recv(self.sock)
        self.pending = head.split(b"\r\n\r\n", 1)[1]

    def first_line(self, marker: str) -> None:
        buf, out = self.pending, b""
        while b"\n" not in out:
            while len(buf) < 8:
                buf += _recv(self.sock)
            size = int.from_bytes(buf[4:8], "big")
            while len(buf) < 8 + size:
                buf += _recv(self.sock)
            out += buf[8 : 8 + size]
            buf = buf[8 + size :]
        if out.split(b"\n", 1)[0].strip() != marker.encode():
            raise RawError(f"unexpected first line {out!r}")

    def close(self) -> None:
        self.sock.close()


class RawCycle:
    """One mode's cycles as bare HTTP requests. ``bodies``: the create body of each shape ("full",
    "run"), docker-py's create_container_config of each."""

    def __init__(self, sock_path: str, api: str, bodies: dict[str, dict[str, Any]], exec_cmd: list[str],
                 grace: int, marker: str) -> None:  # fmt: skip
        self.sock_path, self.api, self.bodies, self.exec_cmd = sock_path, api, bodies, exec_cmd
        self.grace, self.marker = grace, marker
        self.conn = RawConnection(sock_path)
        # The harness reads exec's exit code and the stopped container's state between its timed calls, on
        # another connection (docker-py's): so does its raw twin, so both cycles ask the engine the same.
        self.side = RawConnection(sock_path)

    def _untimed(self, method: str, path: str) -> bytes:
        return self.side.exchange(self.side.ready(), request_bytes(self.api, method, path))

    def close(self) -> None:
        self.conn.close()
        self.side.close()

    def _timed(self, t: dict[str, int], phase: str, method: str, path: str, body: Any = None) -> bytes:
        request = request_bytes(self.api, method, path, body)
        sock = self.conn.ready()
        t0 = time.perf_counter_ns()
        answer = self.conn.exchange(sock, request)
        t[phase] = time.perf_counter_ns() - t0
        return answer

    def full(self, label: str) -> dict[str, int]:
        """create, start, ready, exec, stop, remove: each phase's time."""
        return self._cycle("full", label, self._exec_stop_remove)

    def run(self, label: str) -> dict[str, int]:
        """create, start, ready, wait, remove (what `docker run --rm` does): each phase's time."""
        return self._cycle("run", label, self._wait_remove)

    def _cycle(self, shape: str, label: str, finish: Callable[[dict[str, int], str], None]) -> dict[str, int]:
        t: dict[str, int] = {}
        base = self.bodies[shape]
        body = dict(base, Labels={**base.get("Labels", {}), "isobench.run": label})
        cid = json.loads(self._timed(t, "create", "POST", "/containers/create", body))["Id"]
        try:
            self._start_ready(t, cid)
            finish(t, cid)
        except BaseException:
            self.conn.close()
            try:
                self._timed({}, "cleanup", "DELETE", f"/containers/{cid}?force=1")
            except Exception:
                pass
            raise
        return t

    def _start_ready(self, t: dict[str, int], cid: str) -> None:
        attached = _Attached(self.sock_path, self.api, cid)
        try:
            request = request_bytes(self.api, "POST", f"/containers/{cid}/start")
            sock = self.conn.ready()
            # contiguous, as in the harness: ready runs from the moment start returned
            t0 = time.perf_counter_ns()
            self.conn.exchange(sock, request)
            t1 = time.perf_counter_ns()
            attached.first_line(self.marker)
            t["start"], t["ready"] = t1 - t0, time.perf_counter_ns() - t1
        finally:
            attached.close()

    def _exec_stop_remove(self, t: dict[str, int], cid: str) -> None:
        create = request_bytes(self.api, "POST", f"/containers/{cid}/exec",
                               {"AttachStdin": False, "AttachStdout": True, "AttachStderr": True,
                                "Cmd": self.exec_cmd, "Privileged": False, "Tty": False})  # fmt: skip
        sock = self.conn.ready()
        t0 = time.perf_counter_ns()
        exec_id = json.loads(self.conn.exchange(sock, create))["Id"]
        # the answer streams the exec's output until it exits, then the engine closes the connection
        self.conn.exchange(
            sock, request_bytes(self.api, "POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": False})
        )
        t["exec"] = time.perf_counter_ns() - t0
        self._untimed("GET", f"/exec/{exec_id}/json")
        self._timed(t, "stop", "POST", f"/containers/{cid}/stop?t={self.grace}")
        self._untimed("GET", f"/containers/{cid}/json")
        self._timed(t, "remove", "DELETE", f"/containers/{cid}")

    def _wait_remove(self, t: dict[str, int], cid: str) -> None:
        answer = self._timed(t, "wait", "POST", f"/containers/{cid}/wait")
        self._timed(t, "remove", "DELETE", f"/containers/{cid}")
        if json.loads(answer).get("StatusCode") != 0:
            raise RawError(f"the run command exited with {answer!r}")
