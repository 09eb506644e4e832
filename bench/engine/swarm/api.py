"""Engine API clients for the nodes: always over the node's unix socket, always with a timeout."""

from __future__ import annotations

import docker

from bench.engine.swarm import layout
from bench.engine.swarm.layout import NodeSpec


def client(spec: NodeSpec, timeout: float = 30.0) -> docker.APIClient:
    """A low-level client to one node. ``timeout`` bounds every call made with it."""
    return docker.APIClient(base_url=spec.endpoint, version=layout.API_VERSION, timeout=timeout)


def ping(spec: NodeSpec, timeout: float = 2.0) -> bool:
    if not spec.socket.exists():
        return False
    try:
        with client(spec, timeout) as c:
            return bool(c.ping())
    except Exception:  # noqa: BLE001 - any failure means "does not answer"
        return False
