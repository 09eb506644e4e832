"""A lean client for a group's workers (bursts, rate arrivals): the requests a worker makes, on its own
raw keep-alive connection (bench.measure.wire) instead of a docker-py client of its own.

Issue 23 measured the harness's CPU per burst container against the engine stack's: each worker's own
docker-py client (a requests session, its adapters, a pool) and every call through it are the harness's
largest cost on the two cores it shares with the engine. A worker keeps its own connection (the burst
measures the engine's concurrency, not a shared pool); the attach stream is a second raw connection,
upgraded as docker-py does it. Only the unix socket: other transports keep docker-py (``for_worker``).
Errors are docker-py's own types (bench.measure.wire), so failures are classified alike.
"""

from __future__ import annotations

import socket
from typing import Any, Optional

from bench.engine.preflight import ModeRuntime
from bench.measure.wire import Request, Wire

ENV = "ISOBENCH_LEAN_WORKERS"  # "0": every worker gets its own docker-py client, as before


class LeanClient:
    """What a group worker asks of the engine (the subset of docker.APIClient it uses)."""

    def __init__(self, rt: ModeRuntime) -> None:
        self.rt = rt
        self.wire = Wire(rt.endpoint, rt.client.api_version, rt.client.timeout)
        self.path = rt.endpoint.base_url[len("unix://") :]

    def _call(self, method: str, path: str, query: Optional[dict[str, Any]] = None, body: Any = None) -> Any:
        self.wire.connect()
        return self.wire.send(self.wire.request(method, path, query, body)).json()

    def ping(self) -> Any:
        self.wire.connect()
        return self.wire.send(self.wire.request("GET", "/_ping"))

    def create_container(self, **kwargs: Any) -> Any:
        # docker-py's own config builder (no request): the body is what its create_container sends
        return self._call("POST", "/containers/create", None, dict(self.rt.client.create_container_config(**kwargs)))

    def create_host_config(self, **kwargs: Any) -> Any:
        return self.rt.client.create_host_config(**kwargs)

    def start(self, cid: str) -> Any:
        return self._call("POST", f"/containers/{cid}/start")

    def inspect_container(self, cid: str) -> Any:
        return self._call("GET", f"/containers/{cid}/json")

    def remove_container(self, cid: str, force: bool = False) -> Any:
        return self._call("DELETE", f"/containers/{cid}", {"force": 1} if force else None)

    def attach_socket(self, cid: str, params: dict[str, Any]) -> socket.socket:
        """A raw socket carrying the container's multiplexed output (the answer's head read exactly,
        so no byte of the stream is lost to a buffer)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        target = f"/v{self.wire.api_version}/containers/{cid}/attach?{query}"
        head = f"POST {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: isobench\r\nConnection: Upgrade\r\n"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.wire.timeout)
        try:
            sock.connect(self.path)
            sock.sendall((head + "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n").encode())
            status = _read_head(sock)
        except BaseException:
            sock.close()
            raise
        if status not in (101, 200):
            sock.close()
            from bench.measure.wire import Response, _api_error

            raise _api_error(Response(status, b"", "attach"), Request("POST", f"/containers/{cid}/attach", b""))
        return sock

    def close(self) -> None:
        self.wire.close()


def _read_head(sock: socket.socket) -> int:
    """Reads an HTTP answer's head up to its blank line, no further (peek, then take exactly that)."""
    buf = b""
    while True:
        peek = sock.recv(4096, socket.MSG_PEEK)
        if not peek:
            raise ConnectionError("the engine closed the attach connection before answering")
        end = (buf + peek).find(b"\r\n\r\n")
        if end >= 0:
            buf += sock.recv(end + 4 - len(buf))
            return int(buf.split(b" ", 2)[1])
        buf += sock.recv(len(peek))


TIMING = (
    "perf_counter_ns around each worker's own requests: raw HTTP/1.1 on its own keep-alive connection (the "
    "unix socket), opened (one /_ping) before the barrier or the arrival; docker-py's APIClient elsewhere"
)


def lean_for(rt: ModeRuntime) -> bool:
    import os

    return rt.endpoint.scheme == "unix" and os.environ.get(ENV, "1") != "0"


def path_for(rt: ModeRuntime) -> str:
    """What the header records as a group worker's timing path for this mode."""
    return "raw HTTP/1.1 on the worker's own keep-alive connection" if lean_for(rt) else "docker-py APIClient"


def for_worker(rt: ModeRuntime) -> Any:
    """A group worker's client: lean on a unix socket (unless ISOBENCH_LEAN_WORKERS=0), else docker-py's."""
    return LeanClient(rt) if lean_for(rt) else rt.new_client()
