"""What the swarm needs from this machine: checked before anything is created (preflight), and
recorded in the cluster state (facts) so a result set measured on it can say what it ran on.

Swarm's service load balancing (VIP endpoint mode) and its ingress routing mesh (published ports)
are IPVS inside the node's and each container's namespaces. Without IPVS, tasks still start, but
the daemon logs "Native loadbalancing will not work" and a VIP answers nothing. The cluster
therefore removes the ingress network, services use `--endpoint-mode dnsrr` and publish no
ports. Overlay networks are VXLAN (udp/4789) between the node addresses; services that attach
to none need no VXLAN at all.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.engine.swarm import layout
from bench.engine.swarm.cmd import missing

TOOLS = ("ip", "dockerd", "containerd", "unshare", "mount", "sh")


def preflight() -> None:
    """Raises a one-sentence UserError for the first thing `up` cannot do without."""
    if os.geteuid() != 0:
        raise UserError("the swarm needs root (network namespaces, mounts, daemons): run 'isobench swarm up' as root.")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise missing(tool)
    if any(s.runtime == "runsc" for s in layout.NODES) and shutil.which("runsc") is None:
        raise missing("runsc")
    if not Path("/proc/self/ns/net").exists():
        raise UserError("this kernel has no network namespaces (CONFIG_NET_NS): the swarm cannot come up here.")
    if layout.longest_socket_path() > layout.UNIX_PATH_MAX:
        raise UserError(
            f"the checkout path is too long for the nodes' unix sockets ({layout.longest_socket_path()} "
            f"> {layout.UNIX_PATH_MAX} bytes): move the repository to a shorter path."
        )


def ipvs() -> tuple[bool, str]:
    # /proc/net/ip_vs appears once IPVS is built in or loaded; with no module support
    # (/proc/modules absent) it cannot be loaded on demand either, as dockerd tries to.
    if Path("/proc/net/ip_vs").exists():
        return True, "/proc/net/ip_vs exists"
    loadable = Path("/proc/modules").exists()
    how = "dockerd may try to load ip_vs" if loadable else "the kernel loads no modules (/proc/modules is absent)"
    return False, f"/proc/net/ip_vs is absent and {how}"


def facts(vxlan: tuple[bool, str]) -> dict[str, Any]:
    """The kernel facts the cluster depends on, for the state file and a result-set header."""
    has_ipvs, ipvs_why = ipvs()
    reason = (
        "no IPVS: VIP load balancing and the ingress routing mesh cannot work, so services use DNS round robin "
        "and publish no ports"
        if not has_ipvs
        else "IPVS is present, but DNS round robin keeps the per-container IPVS set-up out of startup times "
        "and matches hosts without it"
    )
    return {
        "kernel": platform.release(),
        "ipvs": has_ipvs,
        "ipvs_probe": ipvs_why,
        "vxlan": vxlan[0],
        "vxlan_probe": vxlan[1],
        "modules_loadable": Path("/proc/modules").exists(),
        "endpoint_mode": "dnsrr",
        "endpoint_mode_reason": reason,
        "published_ports": False,
        "ingress_network": "removed after swarm init (the routing mesh needs IPVS; nothing publishes ports)",
        "overlay": (
            "VXLAN udp/4789 between node addresses on the hub bridge"
            if vxlan[0]
            else "unavailable: the kernel makes no VXLAN links, so services must attach to no overlay network"
        ),
        "underlay": layout.UNDERLAY,
        "overlay_pool": layout.OVERLAY_POOL,
        "local_pool": layout.LOCAL_POOL,
        "default_route_in_namespaces": False,
        "dns": "127.0.0.1 only (nodes and containers): every lookup stays on a loopback",
        "registry": "none: the image is imported and loaded on every node; DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 "
        "so no node tries to pull or pin it",
    }
