"""A stand-in engine: answers every request of both cycle shapes at once, as dockerd does in shape
(status codes, bodies, an attach stream that gets the ready line when the container starts, an
exec stream that ends by closing its connection), with no containers behind it.

Against it, the harness's cycle and the raw cycle differ only by the client's own work, so their
per-phase difference is the harness's cost in microseconds, free of the engine's variation (which
on a busy two-core host is several percent of every phase). It runs in its own process, so its work
does not share the measuring interpreter: ``python -m bench.overhead.stand_in SOCKET MARKER``
prints "ready" once it listens.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

API = "1.41"
STATE = {"ExitCode": 0, "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": "2026-01-01T00:00:01Z"}
INSPECT = {"Created": "2026-01-01T00:00:00Z", "HostConfig": {"Isolation": ""}, "State": STATE}
UPGRADE = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n" \
          b"Upgrade: tcp\r\n\r\n"  # fmt: skip
STREAM = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"


def _reply(status: str, body: Optional[object] = None, chunked: bool = False) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = f"HTTP/1.1 {status}\r\nApi-Version: {API}\r\n"
    if not data:
        return (head + "\r\n").encode()
    if chunked:  # as dockerd sends a wait's answer
        return (head + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + \
            f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"  # fmt: skip
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data


class StandIn:
    """The server's state: attach streams waiting for their container's start."""

    def __init__(self, marker: str) -> None:
        self.frame = b"\x01\x00\x00\x00" + len(marker.encode() + b"\n").to_bytes(4, "big") + marker.encode() + b"\n"
        self.attached: dict[str, socket.socket] = {}
        self.ids = itertools.count()

    def handle(self, conn: socket.socket, method: str, path: str) -> bool:
        """Answers one request; False when the connection is done (an exec stream, an attach)."""
        parts = path.split("?")[0].split("/")[2:]  # after /vX.Y
        if parts == ["containers", "create"]:
            conn.sendall(_reply("201 Created", {"Id": f"{next(self.ids):064x}", "Warnings": []}))
        elif parts[0] == "containers" and parts[-1] == "attach":
            self.attached[parts[1]] = conn  # before the answer: the client's start may come at once after it
            conn.sendall(UPGRADE)
            return False
        elif parts[0] == "containers" and parts[-1] == "start":
            conn.sendall(_reply("204 No Content"))
            stream = self.attached.pop(parts[1], None)
            if stream is not None:
                stream.sendall(self.frame)
        elif parts[0] == "containers" and parts[-1] == "exec":
            conn.sendall(_reply("201 Created", {"Id": f"e{next(self.ids):063x}"}))
        elif parts[0] == "exec" and parts[-1] == "start":
            conn.sendall(STREAM)
            return False  # the exec's output ends with the connection
        elif parts[0] == "exec":
            conn.sendall(_reply("200 OK", {"ExitCode": 0, "Running": False}))
        elif parts[-1] == "wait":
            conn.sendall(_reply("200 OK", {"StatusCode": 0}, chunked=True))
        elif parts[0] == "containers" and method == "GET":
            conn.sendall(_reply("200 OK", INSPECT))
        else:  # stop, remove, anything else
            conn.sendall(_reply("204 No Content"))
        return True

    def serve_connection(self, conn: socket.socket) -> None:
        buf, keep = b"", True
        while keep:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    conn.close()
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                           if k.strip().lower() == "content-length"), 0)  # fmt: skip
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            method, path = lines[0].split(" ")[:2]
            keep = self.handle(conn, method, path)
        if "attach" not in lines[0]:
            conn.close()


def serve(path: str, marker: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    state = StandIn(marker)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=state.serve_connection, args=(conn,), daemon=True).start()


@contextmanager
def stand_in_engine(marker: str) -> Iterator[str]:
    """The stand-in engine in its own process; yields its socket's path once it listens."""
    with tempfile.TemporaryDirectory(prefix="isobench-stand-in-") as tmp:
        path = str(Path(tmp) / "engine.sock")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.Popen([sys.executable, "-m", "bench.overhead.stand_in", path, marker],
                                stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if line.strip() != "ready":
                raise RuntimeError(f"the stand-in engine did not start (exit {proc.poll()})")
            yield path
        finally:
            proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
