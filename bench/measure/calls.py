"""The timed engine calls of a cycle, each prepared before its clock starts.

This is the engine seam of a cycle: ``calls_for`` picks the implementation by the wire protocol an
engine kind speaks (``EngineDriver.api``, bench.engine.drivers). dockerd and Podman's compat service
both speak the Docker Engine API, so both use these; an engine with another API (containerd's
gRPC, say) adds its own ``Calls`` class here and one line in ``CALLS``.

``prepared(...)`` returns a zero-argument callable per call: the request is built when it is
prepared, so timing the callable times only the request and its answer. ``WireCalls`` sends the
requests on the lean keep-alive connection (bench.measure.wire); ``ClientCalls`` goes through
docker-py, for transports the wire does not speak (npipe, ssh). Both send the same requests.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import docker

from bench.engine.drivers.base import DOCKER_API
from bench.engine.endpoints import Endpoint
from bench.measure import wire
from bench.measure.wire import Response, Wire

Call = Callable[[], Any]


class Calls(Protocol):
    path: str  # what the result-set header records as the timing path

    def create(self, kwargs: dict[str, Any]) -> Call: ...

    def start(self, cid: str) -> Call: ...

    def exec(self, cid: str, command: tuple[str, ...]) -> Call: ...

    def stop(self, cid: str, grace_s: int) -> Call: ...

    def wait(self, cid: str) -> Call: ...

    def remove(self, cid: str) -> Call: ...

    def decode(self, answer: Any) -> Any:
        """The answer as docker-py returns it; done after the clock stops."""
        ...

    def close(self) -> None: ...


class ClientCalls:
    path = "docker-py APIClient"

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api

    def create(self, kwargs: dict[str, Any]) -> Call:
        return lambda: self.api.create_container(**kwargs)

    def start(self, cid: str) -> Call:
        return lambda: self.api.start(cid)

    def exec(self, cid: str, command: tuple[str, ...]) -> Call:
        def run() -> str:
            exec_id: str = self.api.exec_create(cid, list(command), stdout=True, stderr=True)["Id"]
            self.api.exec_start(exec_id)  # returns when the exec's output ends, i.e. it exited
            return exec_id

        return run

    def stop(self, cid: str, grace_s: int) -> Call:
        return lambda: self.api.stop(cid, timeout=grace_s)

    def wait(self, cid: str) -> Call:
        return lambda: self.api.wait(cid)

    def remove(self, cid: str) -> Call:
        return lambda: self.api.remove_container(cid)

    def decode(self, answer: Any) -> Any:
        return answer

    def close(self) -> None:
        pass


class WireCalls:
    """The same requests docker-py sends, on one pre-opened connection (see bench.measure.wire)."""

    path = "raw HTTP/1.1 on a pre-opened keep-alive connection, request built before the clock"

    def __init__(self, wire: Wire, api: docker.APIClient) -> None:
        self.wire, self.api = wire, api

    def _prepared(self, method: str, path: str, query: Any = None, body: Any = None) -> Call:
        self.wire.connect()  # untimed: (re)opened before the clock starts
        req = self.wire.request(method, path, query, body)
        return lambda: self.wire.send(req)

    def create(self, kwargs: dict[str, Any]) -> Call:
        # docker-py's own container config, so the body is byte-for-byte what APIClient would send
        config = self.api.create_container_config(**kwargs)
        return self._prepared("POST", "/containers/create", None, dict(config))

    def start(self, cid: str) -> Call:
        return self._prepared("POST", f"/containers/{cid}/start")

    def exec(self, cid: str, command: tuple[str, ...]) -> Call:
        body = {"AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "Cmd": list(command),
                "Privileged": False, "Tty": False}  # fmt: skip
        send_create = self._prepared("POST", f"/containers/{cid}/exec", None, body)
        wire = self.wire

        def run() -> str:
            exec_id: str = send_create().json()["Id"]
            # The answer streams the exec's output until it exits, then the engine closes the connection.
            wire.send(wire.request("POST", f"/exec/{exec_id}/start", None, {"Detach": False, "Tty": False}))
            return exec_id

        return run

    def stop(self, cid: str, grace_s: int) -> Call:
        return self._prepared("POST", f"/containers/{cid}/stop", {"t": grace_s})

    def wait(self, cid: str) -> Call:
        return self._prepared("POST", f"/containers/{cid}/wait")

    def remove(self, cid: str) -> Call:
        return self._prepared("DELETE", f"/containers/{cid}")

    def decode(self, answer: Any) -> Any:
        # Parsing the JSON answer is no part of the engine's time: done after the second clock read.
        return answer.json() if isinstance(answer, Response) else answer

    def close(self) -> None:
        self.wire.close()


def _docker_api(endpoint: Endpoint, api: docker.APIClient) -> Calls:
    """The lean wire where it can go (unix, tcp, tcp+TLS), docker-py where it cannot (npipe, ssh)."""
    if wire.supported(endpoint):
        return WireCalls(Wire(endpoint, api.api_version, api.timeout), api)
    return ClientCalls(api)


# The wire protocol an engine kind speaks (EngineDriver.api) -> how its timed calls are made.
CALLS: dict[str, Callable[[Endpoint, docker.APIClient], Calls]] = {DOCKER_API: _docker_api}


def calls_for(api_kind: str, endpoint: Endpoint, api: docker.APIClient) -> Calls:
    try:
        make = CALLS[api_kind]
    except KeyError:
        raise ValueError(f"no timed calls for engine API {api_kind!r}: add them to bench.measure.calls.CALLS") from None
    return make(endpoint, api)
