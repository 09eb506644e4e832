"""The swarm's private network: a hub namespace holding a bridge, and one namespace per node
joined to it by a veth pair.

Why a hub namespace rather than a bridge in the host's root namespace: the host gets no new
link, address or route at all, the host's iptables (Docker's FORWARD policy is DROP, and
br_netfilter hands bridged frames to it) never sees node traffic, and deleting the hub deletes
the bridge and every hub-side veth with it. Nodes get one address each in layout.UNDERLAY and
no default route, and the bridge has no address: a packet for anything outside the subnet has
nowhere to go.
"""

from __future__ import annotations

from pathlib import Path

from bench.core.errors import UserError
from bench.engine.swarm import layout
from bench.engine.swarm.cmd import CommandFailed, run
from bench.engine.swarm.layout import BRIDGE, HUB_NETNS, NodeSpec

NETNS_DIR = Path("/run/netns")
VXLAN_PROBE = "isb-vxprobe"


def ours() -> list[str]:
    """The harness's namespaces that exist now (by name: they all start with layout.PREFIX)."""
    out = run(["ip", "netns", "list"], timeout=10).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return sorted(n for n in names if n.startswith(layout.PREFIX + "-"))


def _kernel(argv: list[str], what: str, config: str) -> None:
    """Runs a command whose failure means the kernel lacks something: one sentence saying what."""
    try:
        run(argv)
    except CommandFailed as exc:
        raise UserError(
            f"the kernel could not {what} ({exc.detail}): the swarm needs {config}, "
            "so it cannot come up on this machine."
        ) from None


def create_hub() -> None:
    _kernel(["ip", "netns", "add", HUB_NETNS], "create a network namespace", "network namespaces (CONFIG_NET_NS)")
    run(["ip", "-n", HUB_NETNS, "link", "set", "lo", "up"])
    _kernel(
        ["ip", "-n", HUB_NETNS, "link", "add", BRIDGE, "type", "bridge"],
        "create a bridge",
        "Linux bridges (CONFIG_BRIDGE)",
    )
    run(["ip", "-n", HUB_NETNS, "link", "set", BRIDGE, "up"])


def add_node(spec: NodeSpec) -> None:
    """The node's namespace, its eth0 (the veth's node end) with its address, lo up, no default route."""
    ns = spec.netns
    run(["ip", "netns", "add", ns])
    _kernel(
        ["ip", "-n", HUB_NETNS, "link", "add", spec.veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
        "create a veth pair",
        "veth devices (CONFIG_VETH)",
    )
    run(["ip", "-n", HUB_NETNS, "link", "set", spec.veth, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "addr", "add", f"{spec.ip}/{layout.SUBNET_PREFIXLEN}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def routes(spec: NodeSpec) -> list[str]:
    """The node namespace's routing table (the test and `up` check it holds no default route)."""
    return [r for r in run(["ip", "-n", spec.netns, "route", "show"], timeout=10).stdout.splitlines() if r.strip()]


def probe_vxlan() -> tuple[bool, str]:
    """Whether the kernel makes VXLAN links (what swarm overlay networks are made of), tried in the hub."""
    try:
        run(["ip", "-n", HUB_NETNS, "link", "add", VXLAN_PROBE, "type", "vxlan", "id", "4242", "dstport", "4789"])
    except CommandFailed as exc:
        return False, f"ip link add type vxlan failed: {exc.detail}"
    run(["ip", "-n", HUB_NETNS, "link", "del", VXLAN_PROBE], check=False)
    return True, "ip link add type vxlan succeeded in the hub namespace"


def pids(ns: str) -> list[int]:
    """Processes whose network namespace is ``ns`` (node dockerd, its containerd and shims)."""
    proc = run(["ip", "netns", "pids", ns], timeout=10, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def delete(ns: str) -> None:
    """Removes the name (and its bind mount under /run/netns); a namespace still held by a process
    lives on unnamed, which is why teardown kills those processes first."""
    if (NETNS_DIR / ns).exists():
        run(["ip", "netns", "del", ns], timeout=20, check=False)


def host_links() -> list[str]:
    """Links of the host's root namespace that look like ours (there should never be any)."""
    out = run(["ip", "-o", "link", "show"], timeout=10).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    mine = {BRIDGE, VXLAN_PROBE} | {s.veth for s in layout.NODES}
    return [n for n in names if n in mine]
