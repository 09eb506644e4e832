"""Names, addresses and paths of the one-machine swarm, in one place, so that `up`, `down` and
the leftover sweep agree on what belongs to the harness (and on nothing else).

Everything the harness creates is named from PREFIX: the network namespaces, the cgroup
parents, the containerd namespaces. Everything it writes lives under STATE_DIR. Every
address lives in 10.231.0.0/16: the nodes' underlay in 10.231.0.0/24, swarm overlays in
10.231.64.0/18, node-local bridges (docker_gwbridge) in 10.231.128.0/18, so nothing collides
with the host's docker0 (172.17.0.0/16) and every address is inside a namespace we own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.core.paths import REPO_ROOT

STATE_DIR = REPO_ROOT / "build" / "swarm"
STATE_FILE = STATE_DIR / "state.json"
# The node daemons' logs live beside the state dir, not in it: `down` removes the state dir, and
# the logs of the last `up` stay readable after it (and after an `up` that failed).
LOG_DIR = REPO_ROOT / "build" / "swarm-logs"
PREFIX = "isobench-swarm"
HUB_NETNS = f"{PREFIX}-hub"
# The bridge lives inside HUB_NETNS only: the host's root namespace gets no link at all, so
# the host's iptables (FORWARD policy DROP under br_netfilter) never sees node traffic.
BRIDGE = "isb-br0"
SUBNET_PREFIXLEN = 24
UNDERLAY = "10.231.0.0/24"
OVERLAY_POOL = "10.231.64.0/18"
OVERLAY_SUBNET_SIZE = 24
LOCAL_POOL = "10.231.128.0/18"
SWARM_PORT = 2377
IMAGE = "isobench/busybox:latest"
RUNTIME_LABEL = "isobench.runtime"
NODE_LABEL = "isobench.node"
API_VERSION = "1.41"  # dockerd 20.10; pinned so no call spends a round trip negotiating
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


@dataclass(frozen=True)
class NodeSpec:
    """One node as the harness plans it: what it is called, where its files go."""

    name: str
    role: str  # "manager" or "worker"
    runtime: str  # the node dockerd's default runtime: "runc" or "runsc"
    ip: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def hostname(self) -> str:
        # Each node gets its own UTS namespace, so swarm's node list tells them apart.
        return f"isb-{self.name}"

    @property
    def veth(self) -> str:
        # The hub end of the node's veth pair (IFNAMSIZ: at most 15 characters).
        return f"v-{self.name}"[:15]

    @property
    def dir(self) -> Path:
        return STATE_DIR / self.name

    @property
    def socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.dir / "dockerd.pid"

    @property
    def config(self) -> Path:
        return self.dir / "daemon.json"

    @property
    def script(self) -> Path:
        return self.dir / "start.sh"

    @property
    def log(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    @property
    def data_root(self) -> Path:
        return self.dir / "data"

    @property
    def exec_root(self) -> Path:
        return self.dir / "exec"

    @property
    def cgroup_parent(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def containerd_namespace(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return {RUNTIME_LABEL: self.runtime, NODE_LABEL: self.name}


# Swarm cannot choose a runtime per service, so the runtime is a property of the node: two runc
# nodes (the manager also takes tasks) and one runsc node, told apart by RUNTIME_LABEL.
NODES: tuple[NodeSpec, ...] = (
    NodeSpec("manager", "manager", "runc", "10.231.0.10"),
    NodeSpec("worker-runc", "worker", "runc", "10.231.0.11"),
    NodeSpec("worker-runsc", "worker", "runsc", "10.231.0.12"),
)
MANAGER = NODES[0]


def node(name: str) -> NodeSpec:
    for spec in NODES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def longest_socket_path() -> int:
    """The longest unix socket path a node will bind (containerd's ttrpc socket under the exec root)."""
    return max(len(str(s.exec_root / "containerd" / "containerd.sock.ttrpc")) for s in NODES)
