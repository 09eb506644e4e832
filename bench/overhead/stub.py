"""The client paths' own cost, without an engine's noise.

Against the real engine each phase's time varies by several percent from call to call, so
30 rounds cannot resolve a 2% difference between the harness's path and raw HTTP (the
intervals in the per-phase table say how wide). What the harness adds is the client side:
so both paths also send the same requests to a stand-in engine in another process, which
answers at once with the engine's status codes and a canned body. Interleaved call by call,
thousands of times, the difference of their medians is the harness's extra cost per call
in microseconds, and its share of the shortest real phase bounds what it can add there.

Run as ``python -m bench.overhead.stub SOCKET`` it is that stand-in engine.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import docker

from bench.engine.endpoints import Endpoint
from bench.measure.calls import WireCalls
from bench.measure.wire import Wire
from bench.overhead.raw import UnixHTTPConnection
from bench.overhead.summary import ClientCost

API = "1.41"
CREATED = b'{"Id":"' + b"f" * 64 + b'","Warnings":[]}'


def _answer(request_line: bytes) -> bytes:
    method, target = request_line.split(b" ")[:2]
    if target.endswith(b"/containers/create"):
        status, body = b"201 Created", CREATED
    elif method == b"DELETE" or target.endswith(b"/start"):
        status, body = b"204 No Content", b""
    else:
        status, body = b"200 OK", b"{}"
    length = b"" if not body else b"Content-Length: %d\r\nContent-Type: application/json\r\n" % len(body)
    return b"HTTP/1.1 " + status + b"\r\nApi-Version: " + API.encode() + b"\r\n" + length + b"\r\n" + body


def _serve_connection(conn: socket.socket) -> None:
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next((int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:])
                           if k.strip().lower() == b"content-length"), 0)  # fmt: skip
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            conn.sendall(_answer(lines[0]))


def serve(path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve_connection, args=(conn,), daemon=True).start()


@contextmanager
def stand_in_engine() -> Iterator[str]:
    """The stand-in engine in its own process, so its work does not share this one's interpreter."""
    with tempfile.TemporaryDirectory(prefix="isobench-stub-") as tmp:
        path = str(Path(tmp) / "engine.sock")
        proc = subprocess.Popen([sys.executable, "-m", "bench.overhead.stub", path])
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(path):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the stand-in engine did not start")
                time.sleep(0.01)
            yield path
        finally:
            proc.kill()
            proc.wait()


def _timed_us(call: Callable[[], object]) -> float:
    t0 = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - t0) / 1e3


def client_cost(create_kwargs: dict[str, Any], calls: int = 2000) -> ClientCost:
    """create (a JSON body and answer), start and remove (no body, 204) through both paths, interleaved."""
    with stand_in_engine() as path:
        api = docker.APIClient(base_url=f"unix://{path}", version=API, timeout=10)
        wire_calls = WireCalls(Wire(Endpoint(f"unix://{path}", "unix"), API, 10), api)
        raw = UnixHTTPConnection(path, timeout=10)

        def raw_req(method: str, target: str, body: Optional[bytes] = None) -> Callable[[], bytes]:
            def go() -> bytes:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                raw.request(method, f"/v{API}{target}", body=body, headers=headers)
                return raw.getresponse().read()

            return go

        body = json.dumps(api.create_container_config(**create_kwargs)).encode()
        requests: dict[str, tuple[Callable[[], Callable[[], object]], Callable[[], object]]] = {
            "create": (lambda: wire_calls.create(create_kwargs), raw_req("POST", "/containers/create", body)),
            "start": (lambda: wire_calls.start("f" * 64), raw_req("POST", f"/containers/{'f' * 64}/start")),
            "remove": (lambda: wire_calls.remove("f" * 64), raw_req("DELETE", f"/containers/{'f' * 64}")),
        }
        times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in requests}
        for i in range(calls):
            for name, (prepare, raw_call) in requests.items():
                h, r = times[name]
                harness_call = prepare()  # prepared before the clock, as in a cycle
                if i % 2:
                    h.append(_timed_us(harness_call))
                    r.append(_timed_us(raw_call))
                else:
                    r.append(_timed_us(raw_call))
                    h.append(_timed_us(harness_call))
        wire_calls.close()
        raw.close()
    return ClientCost({k: statistics.median(v[0]) for k, v in times.items()},
                      {k: statistics.median(v[1]) for k, v in times.items()}, calls)  # fmt: skip


if __name__ == "__main__":
    serve(sys.argv[1])
