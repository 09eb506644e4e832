"""The floor any client can reach: the harness's requests as bare HTTP/1.1 over the engine's unix
socket (http.client, one keep-alive connection, the same JSON bodies), timed the same way."""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any, Callable
from urllib.parse import urlencode


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class _Attached:
    """An attach stream opened before start (as the harness does), read up to the first line."""

    def __init__(self, sock_path: str, api: str, cid: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(sock_path)
        q = urlencode({"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
        self.sock.sendall(
            f"POST /v{api}/containers/{cid}/attach?{q} HTTP/1.1\r\nHost: localhost\r\n"
            f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(4096)
        self.pending = head.split(b"\r\n\r\n", 1)[1]

    def first_line(self, marker: str) -> None:
        buf, out = self.pending, b""
        while b"\n" not in out:
            while len(buf) < 8:
                buf += self.sock.recv(4096)
            size = int.from_bytes(buf[4:8], "big")
            while len(buf) < 8 + size:
                buf += self.sock.recv(4096)
            out += buf[8 : 8 + size]
            buf = buf[8 + size :]
        if out.split(b"\n", 1)[0].strip() != marker.encode():
            raise RuntimeError(f"unexpected first line {out!r}")

    def close(self) -> None:
        self.sock.close()


class RawCycle:
    """One mode's cycles as bare HTTP requests. ``body`` is the create body of the full shape,
    ``run_body`` that of the run shape (docker-py's create_container_config of each)."""

    def __init__(self, sock_path: str, api: str, bodies: dict[str, dict[str, Any]], exec_cmd: list[str],
                 grace: int, marker: str) -> None:  # fmt: skip
        self.sock_path, self.api, self.bodies, self.exec_cmd = sock_path, api, bodies, exec_cmd
        self.grace, self.marker = grace, marker
        self.conn = UnixHTTPConnection(sock_path)

    def _req(self, method: str, path: str, body: Any = None) -> bytes:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, f"/v{self.api}{path}", body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:200]!r}")
        return payload

    def _timed(self, t: dict[str, int], phase: str, call: Callable[[], Any]) -> Any:
        t0 = time.perf_counter_ns()
        value = call()
        t[phase] = time.perf_counter_ns() - t0
        return value

    def full(self, label: str) -> dict[str, int]:
        """create, start, ready, exec, stop, remove: each phase's time."""
        return self._cycle("full", label, self._exec_stop_remove)

    def run(self, label: str) -> dict[str, int]:
        """create, start, ready, wait, remove (what `docker run --rm` does): each phase's time."""
        return self._cycle("run", label, self._wait_remove)

    def _cycle(self, shape: str, label: str, finish: Callable[[dict[str, int], str], None]) -> dict[str, int]:
        t: dict[str, int] = {}
        base = self.bodies[shape]
        body = json.dumps(dict(base, Labels={**base.get("Labels", {}), "isobench.run": label})).encode()
        cid = json.loads(self._timed(t, "create", lambda: self._req("POST", "/containers/create", body)))["Id"]
        try:
            attached = _Attached(self.sock_path, self.api, cid)
            try:
                # contiguous, as in the harness: ready runs from the moment start returned
                t0 = time.perf_counter_ns()
                self._req("POST", f"/containers/{cid}/start")
                t1 = time.perf_counter_ns()
                attached.first_line(self.marker)
                t["start"], t["ready"] = t1 - t0, time.perf_counter_ns() - t1
            finally:
                attached.close()
            finish(t, cid)
        except BaseException:
            try:
                self._req("DELETE", f"/containers/{cid}?force=1")
            except Exception:
                pass
            raise
        return t

    def _exec_stop_remove(self, t: dict[str, int], cid: str) -> None:
        def exec_() -> None:
            ex = self._req("POST", f"/containers/{cid}/exec",
                           {"Cmd": self.exec_cmd, "AttachStdout": True, "AttachStderr": True})  # fmt: skip
            self._req("POST", f"/exec/{json.loads(ex)['Id']}/start", {"Detach": False, "Tty": False})

        self._timed(t, "exec", exec_)
        self._timed(t, "stop", lambda: self._req("POST", f"/containers/{cid}/stop?t={self.grace}"))
        self._timed(t, "remove", lambda: self._req("DELETE", f"/containers/{cid}"))

    def _wait_remove(self, t: dict[str, int], cid: str) -> None:
        self._timed(t, "wait", lambda: self._req("POST", f"/containers/{cid}/wait"))
        self._timed(t, "remove", lambda: self._req("DELETE", f"/containers/{cid}"))
