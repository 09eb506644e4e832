"""Before a service mode runs: its engine is a swarm manager, the API carries the isolation field,
some ready node matches its placement, and every such node that can be reached holds the image.
A mode that fails one is skipped with one sentence, as any mode is (bench.engine.preflight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import docker

from bench.core.config import EndpointSettings, Mode
from bench.core.watchdog import call_with_timeout
from bench.engine import endpoints
from bench.engine.endpoints import Endpoint
from bench.engine.preflight import ModeRuntime, Skip
from bench.engine.service import spec
from bench.engine.service.nodes import Node, NodeDirectory, clock_offsets

_CONSTRAINT = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.+?)\s*$")


def node_endpoints(mode: Mode) -> tuple[dict[str, Endpoint], dict[str, str]]:
    """(node id or hostname -> the node's own engine, node id or hostname -> a name) for a mode."""
    if mode.endpoint == "swarm":
        from bench.engine.swarm import load_state

        st = load_state()
        if st is None:
            return {}, {}
        eps = {n.node_id: Endpoint(n.endpoint, "unix", via="swarm") for n in st.nodes if n.node_id}
        return eps, {n.node_id: n.name for n in st.nodes if n.node_id}
    eps = {}
    for host, url in sorted(mode.node_endpoints.items()):
        settings = EndpointSettings(
            endpoint=url,
            tls_cert_dir=mode.tls_cert_dir,
            tls_verify=mode.tls_verify,
            tls_max_version=mode.tls_max_version,
            allow_plain_tcp=mode.allow_plain_tcp,
            name=f"{mode.name} node {host}",
        )
        eps[host] = endpoints.resolve(settings)
    return eps, {}


def _attribute(node: Node, key: str) -> Optional[str]:
    if key.startswith("node.labels."):
        return node.labels.get(key[len("node.labels.") :])
    simple = {"node.platform.os": node.os, "node.role": node.role, "node.hostname": node.hostname, "node.id": node.id}
    return simple.get(key, "?unknown")


def matches(node: Node, constraints: tuple[str, ...]) -> Optional[bool]:
    """Whether a node satisfies placement constraints as swarm reads them; None where a constraint
    names something this check does not know (swarm then decides alone)."""
    for c in constraints:
        m = _CONSTRAINT.match(c)
        if not m:
            return None
        actual = _attribute(node, m.group(1))
        if actual == "?unknown":
            return None
        equal = actual is not None and actual.lower() == m.group(3).strip("'\"").lower()
        if equal != (m.group(2) == "=="):
            return False
    return True


@dataclass
class ServiceTarget:
    """A service mode that passed: its node directory and what the header records."""

    runtime: ModeRuntime
    directory: NodeDirectory
    record: dict[str, Any] = field(default_factory=dict)


def _manager_facts(rt: ModeRuntime) -> dict[str, Any]:
    mode = rt.mode
    info = call_with_timeout(rt.client.info, mode.timeouts.ping, "info")
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise Skip(
            "not_a_manager",
            f"mode {mode.name!r}: the engine at {rt.endpoint.base_url} is not a swarm manager (its swarm state is "
            f"{swarm.get('LocalNodeState') or 'unknown'}): point endpoint at a manager"
            + (", or bring the local swarm up with 'isobench swarm up'." if mode.endpoint == "swarm" else "."),
        )
    if docker.utils.version_lt(rt.client.api_version, spec.ISOLATION_API):
        raise Skip(
            "api_too_old",
            f"mode {mode.name!r}: the manager speaks API {rt.client.api_version}, older than "
            f"{spec.ISOLATION_API}, which services need to carry their isolation: upgrade its engine.",
        )
    return {
        "swarm_id": (swarm.get("Cluster") or {}).get("ID"),
        "node_id": swarm.get("NodeID"),
        "nodes": swarm.get("Nodes"),
    }


def _image_on(directory: NodeDirectory, node: Node, image: str) -> Optional[str]:
    """The image id on a node's own engine; None where the node cannot be asked."""
    client = directory.client(node.id)
    if client is None:
        return None
    try:
        found = call_with_timeout(lambda: client.inspect_image(image), directory.timeout, "inspect image")
    except docker.errors.ImageNotFound:
        return ""
    return str(found.get("Id") or "")


def check_service_mode(rt: ModeRuntime, now: Callable[[], int]) -> ServiceTarget:
    """Raises Skip with one sentence when the mode cannot run services; else its target."""
    mode = rt.mode
    facts = _manager_facts(rt)
    eps, names = node_endpoints(mode)
    directory = NodeDirectory(rt.client, eps, names, max(mode.timeouts.ping, 10.0))
    nodes = directory.refresh()
    fits = {nid: matches(n, mode.placement) for nid, n in nodes.items()}
    ready = [
        n for nid, n in nodes.items() if fits[nid] is not False and n.state == "ready" and n.availability == "active"
    ]
    if not ready:
        raise Skip(
            "no_suitable_node",
            f"mode {mode.name!r}: no ready, active swarm node matches placement {list(mode.placement)} "
            f"(nodes: {', '.join(f'{n.name} {n.state}' for n in nodes.values()) or 'none'}): fix the placement or "
            "the node labels.",
        )
    images = {n.name: _image_on(directory, n, rt.image) for n in ready}
    missing = [name for name, img in images.items() if img == ""]
    if missing:
        raise Skip(
            "image_missing",
            f"mode {mode.name!r}: image {rt.image!r} is not on node {', '.join(missing)}, and tasks do not pull it "
            "here: load it there (the local swarm's 'isobench swarm up' does).",
        )
    record = {
        **spec.record(mode, rt.image),
        "manager": {"endpoint": rt.endpoint.base_url, **facts},
        "nodes": directory.record(),
        "placement_nodes": sorted(n.name for n in ready),
        "image_ids": images,
        "clock_offsets": clock_offsets(directory, now),
    }
    return ServiceTarget(rt, directory, record)
