"""The timed requests' own path: one keep-alive HTTP/1.1 connection on the engine's transport.

docker-py (over requests and urllib3) adds about a millisecond to every call: building the
request, adapters, hooks, header merging, response objects. A startup benchmark must not
charge that to the isolation mode. So the timed calls go through this thinner path on the
same transport (the unix socket, or tcp with the endpoint's own TLS settings): the request's
bytes are built before the clock starts, and between the two clock reads there is only
``sendall`` and reading the answer. Everything untimed (attach, inspect, events, cleanup)
keeps using docker-py. Transports this path does not speak (npipe, ssh) fall back to
docker-py, and the result set's header says which path timed the calls.

Errors are raised as docker-py's own exception types, so failure classification is the
same whichever path made the call.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlencode, urlsplit

import docker.errors

from bench.engine.endpoints import Endpoint

SCHEMES = ("unix", "tcp", "tcp+tls")


@dataclass(frozen=True)
class Request:
    """A request's bytes, built before the clock starts."""

    method: str
    path: str
    data: bytes


@dataclass
class Response:
    status: int
    body: bytes
    reason: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Status:
    """What docker-py's error types read from a response."""

    def __init__(self, status: int, reason: str, url: str) -> None:
        self.status_code, self.reason, self.url = status, reason, url


def supported(endpoint: Endpoint) -> bool:
    return endpoint.scheme in SCHEMES


class Wire:
    """One connection to one engine, used by one worker at a time (see DockerExecutor)."""

    def __init__(self, endpoint: Endpoint, api_version: str, timeout: float) -> None:
        self.endpoint, self.api_version, self.timeout = endpoint, api_version, timeout
        self.host = "localhost" if endpoint.scheme == "unix" else urlsplit(endpoint.base_url).netloc
        self.sock: Optional[socket.socket] = None

    # -- untimed --------------------------------------------------------------------

    def request(
        self, method: str, path: str, query: Optional[dict[str, Any]] = None, body: Optional[dict[str, Any]] = None
    ) -> Request:
        target = f"/v{self.api_version}{path}" + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: isobench\r\n"
            f"Content-Length: {len(data)}\r\n" + ("Content-Type: application/json\r\n" if data else "") + "\r\n"
        )
        return Request(method, path, head.encode() + data)

    def connect(self) -> None:
        """Opens the connection if it is not open or the engine dropped it (before the clock starts)."""
        if self.sock is not None and _dropped(self.sock):
            self.close()
        if self.sock is not None:
            return
        if self.endpoint.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.endpoint.base_url[len("unix://") :])
        else:
            parts = urlsplit(self.endpoint.base_url)
            sock = socket.create_connection((parts.hostname or "", parts.port or 2376), timeout=self.timeout)
            if self.endpoint.tls is not None:
                hostname = self.endpoint.tls_hostname or parts.hostname
                sock = self._tls_context().wrap_socket(sock, server_hostname=hostname)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.sock = sock

    def _tls_context(self) -> ssl.SSLContext:
        tls = self.endpoint.tls
        assert tls is not None
        ctx = ssl.create_default_context(cafile=tls.ca_cert) if tls.verify and tls.ca_cert else \
            ssl.create_default_context()  # fmt: skip
        if not tls.verify:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if tls.cert:
            ctx.load_cert_chain(*tls.cert)
        if self.endpoint.tls_max_version == "1.2":  # as bench.engine.endpoints does (TCG breaks ChaCha20)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("ECDHE+AESGCM")
        return ctx

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    # -- timed: nothing here but writing the request and reading its answer ---------

    def send(self, req: Request) -> Response:
        """Sends a prepared request on the open connection and reads the whole answer."""
        sock = self.sock
        if sock is None:
            raise ConnectionError("the engine connection is not open")
        sock.sendall(req.data)
        return self._read(sock, req)

    def _read(self, sock: socket.socket, req: Request) -> Response:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                raise ConnectionError("the engine closed the connection before answering")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status, reason = int(lines[0].split(" ", 2)[1]), lines[0].split(" ", 2)[-1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        # 204 and 304 answers have no body and no length: reading on would wait for a close that never comes
        body = b"" if status in (204, 304) else self._body(sock, headers, rest)
        framed = status in (204, 304) or "content-length" in headers or \
            headers.get("transfer-encoding", "").lower() == "chunked"  # fmt: skip
        if headers.get("connection", "").lower() == "close" or not framed:
            self.close()  # read to the end: the engine closed it
        response = Response(status, body, reason)
        if status >= 400:
            raise _api_error(response, req)
        return response

    def _body(self, sock: socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
        if "content-length" in headers:
            size = int(headers["content-length"])
            while len(rest) < size:
                chunk = sock.recv(max(65536, size - len(rest)))
                if not chunk:
                    break
                rest += chunk
            return rest[:size]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return _dechunk(sock, rest)
        while True:  # no length: the body runs to the end of the connection (a hijacked exec stream)
            chunk = sock.recv(65536)
            if not chunk:
                return rest
            rest += chunk


def _dropped(sock: socket.socket) -> bool:
    """True when an idle keep-alive connection was closed by the engine (restarted, or timed out).

    Nothing is in flight between requests, so a readable socket means end-of-file, a TLS close
    alert or an error: sending on it would fail (EPIPE) or, worse, be read as the engine closing
    the connection mid-request and charged to the isolation mode as a failed sample. urllib3
    checks the same way before reusing a pooled connection.
    """
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _dechunk(sock: socket.socket, buf: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in buf:
            buf += sock.recv(65536)
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(buf) < size + 2:
            buf += sock.recv(65536)
        if size == 0:
            return out
        out, buf = out + buf[:size], buf[size + 2 :]


def _api_error(response: Response, req: Request) -> docker.errors.APIError:
    try:
        explanation = (response.json() or {}).get("message") or response.body.decode("utf-8", "replace")
    except ValueError:
        explanation = response.body.decode("utf-8", "replace")
    status = _Status(response.status, response.reason, req.path)
    kind = docker.errors.NotFound if response.status == 404 else docker.errors.APIError
    return kind(f"{response.status} {response.reason}", response=status, explanation=explanation)
