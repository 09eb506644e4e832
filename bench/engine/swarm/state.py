"""The cluster's state file, build/swarm/state.json: what `up` made, for `status`, `down` and
whoever measures services on the swarm (endpoints, node ids, labels, runtimes, namespaces).

It is written before the first namespace exists (phase "starting") and again as each step
lands, so a `down` after a crash or kill -9 mid-`up` knows what to look for; `up` rewrites it
with phase "up" once the cluster is whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from bench.engine.swarm import layout
from bench.engine.swarm.layout import NodeSpec

FORMAT = 1


@dataclass
class NodeState:
    name: str
    role: str
    runtime: str  # the node dockerd's default runtime
    hostname: str
    netns: str
    ip: str
    endpoint: str  # unix://... the node's own engine socket
    socket: str
    pid: Optional[int] = None  # the node's dockerd
    mount_ns: Optional[str] = None  # its private mount namespace, e.g. "mnt:[4026532301]"
    node_id: Optional[str] = None  # swarm node id
    labels: dict[str, str] = field(default_factory=dict)  # swarm node labels (Spec.Labels)
    engine_version: Optional[str] = None
    storage_driver: Optional[str] = None
    cgroup_parent: str = ""
    containerd_namespace: str = ""
    data_root: str = ""
    exec_root: str = ""
    log: str = ""
    ready_s: Optional[float] = None  # start to first /_ping answered

    @classmethod
    def planned(cls, spec: NodeSpec) -> "NodeState":
        return cls(
            name=spec.name,
            role=spec.role,
            runtime=spec.runtime,
            hostname=spec.hostname,
            netns=spec.netns,
            ip=spec.ip,
            endpoint=spec.endpoint,
            socket=str(spec.socket),
            cgroup_parent=spec.cgroup_parent,
            containerd_namespace=spec.containerd_namespace,
            data_root=str(spec.data_root),
            exec_root=str(spec.exec_root),
            log=str(spec.log),
        )


@dataclass
class ClusterState:
    phase: str  # "starting" while `up` runs, "up" once the cluster is whole
    started: str  # ISO time `up` began
    owner_pid: int  # the process that ran `up`
    nodes: list[NodeState]
    facts: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT
    state_dir: str = str(layout.STATE_DIR)
    hub_netns: str = layout.HUB_NETNS
    bridge: str = layout.BRIDGE
    manager_endpoint: str = layout.MANAGER.endpoint
    swarm_id: Optional[str] = None
    image: dict[str, Any] = field(default_factory=dict)  # ref, layer, per-node image id
    timings: dict[str, float] = field(default_factory=dict)  # seconds: daemons, swarm, image, total

    def node(self, name: str) -> NodeState:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def header(self) -> dict[str, Any]:
        """What a result set measured on this swarm records about it (kernel facts and the cluster's shape)."""
        return {
            "facts": dict(self.facts),
            "swarm_id": self.swarm_id,
            "image": dict(self.image),
            "nodes": [
                {
                    "name": n.name,
                    "role": n.role,
                    "runtime": n.runtime,
                    "labels": dict(n.labels),
                    "node_id": n.node_id,
                    "engine_version": n.engine_version,
                    "ip": n.ip,
                }
                for n in self.nodes
            ],
        }


def save(state: ClusterState) -> None:
    """Atomically: a reader (or a `down` after a kill) sees the old file or the new one, never half."""
    layout.STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = layout.STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, layout.STATE_FILE)


def load() -> Optional[ClusterState]:
    """The state file as written, or None when there is none or it cannot be read."""
    try:
        raw = json.loads(layout.STATE_FILE.read_text())
        names = {f.name for f in fields(NodeState)}
        nodes = [NodeState(**{k: v for k, v in n.items() if k in names}) for n in raw.pop("nodes")]
        top = {f.name for f in fields(ClusterState)}
        return ClusterState(nodes=nodes, **{k: v for k, v in raw.items() if k in top})
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
