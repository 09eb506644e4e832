"""The cluster's nodes as the manager lists them, a client to each node's own engine where it can be
reached, and each node's clock against the harness's.

Where a node's engine is: for the local swarm (endpoint ``swarm``), its unix socket from
build/swarm/state.json; for a real cluster, the mode's ``node_endpoints`` (hostname -> endpoint,
with the mode's TLS settings). A node with no endpoint is still measured through the manager (task
states; its first line read through the manager's task logs), only its container events and clock
are unknown.

Clock offsets are estimated the NTP way from ``GET /info``'s SystemTime: the best of a few round
trips, offset = SystemTime - midpoint, known to within half the round trip. An offset no larger than
that uncertainty is applied as 0 (``applied_ns``): it cannot be told from no offset at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import docker

from bench.core.watchdog import call_with_timeout
from bench.engine.endpoints import Endpoint, make_client
from bench.engine.service import api
from bench.engine.service.times import parse_ns

CLOCK_TRIES = 5


@dataclass
class Node:
    id: str
    hostname: str
    name: str  # the local swarm's node name where known, else the hostname
    role: str
    state: str  # ready, down, unknown, disconnected
    availability: str
    labels: dict[str, str] = field(default_factory=dict)
    os: str = ""
    engine_version: Optional[str] = None
    leader: bool = False
    endpoint: Optional[Endpoint] = None

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hostname": self.hostname,
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "availability": self.availability,
            "labels": dict(self.labels),
            "os": self.os,
            "engine_version": self.engine_version,
            "leader": self.leader,
            "endpoint": self.endpoint.base_url if self.endpoint else None,
        }


def _node(raw: dict[str, Any], endpoints: dict[str, Endpoint], names: dict[str, str]) -> Node:
    desc, spec = raw.get("Description") or {}, raw.get("Spec") or {}
    hostname = str(desc.get("Hostname") or raw["ID"])
    return Node(
        id=raw["ID"],
        hostname=hostname,
        name=names.get(raw["ID"]) or names.get(hostname) or hostname,
        role=str(spec.get("Role") or ""),
        state=str((raw.get("Status") or {}).get("State") or "unknown"),
        availability=str(spec.get("Availability") or ""),
        labels=dict(spec.get("Labels") or {}),
        os=str((desc.get("Platform") or {}).get("OS") or ""),
        engine_version=(desc.get("Engine") or {}).get("EngineVersion"),
        leader=bool((raw.get("ManagerStatus") or {}).get("Leader")),
        endpoint=endpoints.get(raw["ID"]) or endpoints.get(hostname),
    )


class NodeDirectory:
    """Node id -> Node, refreshed from the manager; clients to the nodes' own engines."""

    def __init__(
        self,
        manager: docker.APIClient,
        endpoints: dict[str, Endpoint],
        names: dict[str, str],
        timeout: float,
    ) -> None:
        self.manager = manager
        self.endpoints = dict(endpoints)  # node id or hostname -> its engine
        self.names = dict(names)  # node id or hostname -> a name for reports
        self.timeout = timeout
        self.nodes: dict[str, Node] = {}
        self._clients: dict[str, docker.APIClient] = {}
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, Node]:
        listed = api.nodes(self.manager, self.timeout)
        with self._lock:
            self.nodes = {n["ID"]: _node(n, self.endpoints, self.names) for n in listed}
            return dict(self.nodes)

    def get(self, node_id: Optional[str]) -> Optional[Node]:
        with self._lock:
            return self.nodes.get(node_id or "")

    def name(self, node_id: Optional[str]) -> Optional[str]:
        node = self.get(node_id)
        return node.name if node else (node_id[:12] if node_id else None)

    def down(self, node_id: Optional[str]) -> bool:
        node = self.get(node_id)
        return node is not None and node.state not in ("ready", "unknown")

    def new_client(self, node_id: str, timeout: Optional[float] = None) -> Optional[docker.APIClient]:
        """A fresh client to the node's own engine (for streams), or None where none is known."""
        node = self.get(node_id)
        if node is None or node.endpoint is None:
            return None
        return make_client(node.endpoint, timeout or self.timeout, version=self.manager.api_version)

    def client(self, node_id: str) -> Optional[docker.APIClient]:
        """A shared client to the node's own engine for short calls, or None."""
        with self._lock:
            if node_id in self._clients:
                return self._clients[node_id]
        made = self.new_client(node_id)
        if made is not None:
            with self._lock:
                self._clients.setdefault(node_id, made)
        return made

    def record(self) -> list[dict[str, Any]]:
        with self._lock:
            return [n.record() for n in sorted(self.nodes.values(), key=lambda n: n.name)]

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def clock_offset(client: docker.APIClient, now: Callable[[], int], timeout: float, tries: int = CLOCK_TRIES) -> dict:
    """The engine's clock minus ours, from the tightest of ``tries`` GET /info round trips:
    {"offset_ns", "rtt_ns", "uncertainty_ns", "tries"}; {"error": ...} when it cannot be read."""
    best: Optional[tuple[int, int]] = None
    info: dict = {}
    for _ in range(tries):
        t0 = now()
        info = call_with_timeout(client.info, timeout, "info")
        t1 = now()
        remote = parse_ns(info.get("SystemTime"))
        if remote is None:
            return {"error": f"the engine's /info has no readable SystemTime ({info.get('SystemTime')!r})"}
        if best is None or t1 - t0 < best[1]:
            best = (remote - (t0 + t1) // 2, t1 - t0)
    assert best is not None
    offset, rtt = best
    facts = {"default_runtime": info.get("DefaultRuntime"), "isolation": info.get("Isolation")}
    # An estimate within its own uncertainty is not told apart from 0, and correcting by it would only add
    # its error (on one machine the true offset is 0, and /info's SystemTime sits early in a slow call).
    applied = offset if abs(offset) > rtt // 2 else 0
    return {
        "offset_ns": offset,
        "rtt_ns": rtt,
        "uncertainty_ns": rtt // 2,
        "applied_ns": applied,
        "tries": tries,
        **{k: v for k, v in facts.items() if v},
    }


def clock_offsets(directory: NodeDirectory, now: Callable[[], int]) -> dict[str, dict[str, Any]]:
    """Node id -> its clock offset. The leader stamps a task's new/pending/assigned states and each
    node its own later ones; a node whose engine cannot be reached gets its error instead."""
    out: dict[str, dict[str, Any]] = {}
    for node in list(directory.nodes.values()):
        client = directory.client(node.id)
        if client is None and node.leader:
            client = directory.manager
        if client is None:
            out[node.id] = {"name": node.name, "error": "no endpoint for this node's engine"}
            continue
        try:
            out[node.id] = {"name": node.name, **clock_offset(client, now, directory.timeout)}
        except Exception as exc:  # noqa: BLE001 - a node that does not answer has no known offset
            out[node.id] = {"name": node.name, "error": (str(exc).splitlines() or [type(exc).__name__])[0][:200]}
    return out
