"""Swarm operations through the nodes' engine APIs: init on the manager, join with the worker
token, node labels, the test image on every node. Every call goes through a client whose
timeout bounds it.

Swarm listens, advertises and carries its data path on the node's namespace address only
(layout.SWARM_PORT on 10.231.0.x), so raft, gossip (7946) and VXLAN (4789) stay on the hub bridge.
"""

from __future__ import annotations

import time
from typing import Any

from bench.core.errors import UserError
from bench.engine.swarm import layout
from bench.engine.swarm.api import client
from bench.engine.swarm.layout import MANAGER, NodeSpec

NODES_READY_S = 60.0


def addr(spec: NodeSpec) -> str:
    return f"{spec.ip}:{layout.SWARM_PORT}"


def init() -> str:
    """Makes MANAGER a one-node swarm with its overlay pool in layout.OVERLAY_POOL; returns the swarm id."""
    with client(MANAGER, timeout=60) as c:
        c.init_swarm(
            advertise_addr=addr(MANAGER),
            listen_addr=addr(MANAGER),
            data_path_addr=MANAGER.ip,
            default_addr_pool=[layout.OVERLAY_POOL],
            subnet_size=layout.OVERLAY_SUBNET_SIZE,
        )
        return c.inspect_swarm()["ID"]


def remove_ingress(timeout: float = 20.0) -> bool:
    """Removes the ingress network swarm init creates: its routing mesh is IPVS, which this kernel may
    lack, and nothing here publishes ports. Done before any worker joins, so no node ever builds an
    ingress sandbox. Returns whether there was one."""
    with client(MANAGER, timeout=30) as c:
        nets = [n for n in c.networks() if n.get("Ingress") or n.get("Name") == "ingress"]
        for n in nets:
            c.remove_network(n["Id"])
        deadline = time.monotonic() + timeout
        while any(n.get("Ingress") or n.get("Name") == "ingress" for n in c.networks()):
            if time.monotonic() > deadline:
                raise UserError(
                    f"the manager did not remove its ingress network within {timeout:.0f} s: see {MANAGER.log}."
                )
            time.sleep(0.1)
    return bool(nets)


def join(spec: NodeSpec) -> None:
    with client(MANAGER, timeout=30) as c:
        token = c.inspect_swarm()["JoinTokens"]["Worker" if spec.role == "worker" else "Manager"]
    with client(spec, timeout=60) as c:
        c.join_swarm(
            remote_addrs=[addr(MANAGER)],
            join_token=token,
            listen_addr=addr(spec),
            advertise_addr=addr(spec),
            data_path_addr=spec.ip,
        )


def node_id(spec: NodeSpec) -> str:
    with client(spec, timeout=30) as c:
        return c.info()["Swarm"]["NodeID"]


def wait_ready(ids: dict[str, str], timeout: float = NODES_READY_S) -> list[dict[str, Any]]:
    """Waits until the manager lists every node in ``ids`` (name -> node id) as ready; returns the list."""
    deadline = time.monotonic() + timeout
    with client(MANAGER, timeout=30) as c:
        while True:
            listed = {n["ID"]: n for n in c.nodes()}
            missing = [
                name for name, nid in ids.items() if (listed.get(nid) or {}).get("Status", {}).get("State") != "ready"
            ]
            if not missing:
                return list(listed.values())
            if time.monotonic() > deadline:
                raise UserError(
                    f"node {', '.join(missing)} did not become ready in the swarm within "
                    f"{timeout:.0f} s: see {layout.node(missing[0]).log}."
                )
            time.sleep(0.2)


def label(nid: str, labels: dict[str, str]) -> dict[str, str]:
    """Sets the node's swarm labels (what placement constraints and preferences match); returns them."""
    with client(MANAGER, timeout=30) as c:
        node = c.inspect_node(nid)
        spec = dict(node["Spec"])
        spec["Labels"] = {**(spec.get("Labels") or {}), **labels}
        c.update_node(nid, node["Version"]["Index"], spec)
        return dict(c.inspect_node(nid)["Spec"].get("Labels") or {})


def import_image(spec: NodeSpec, rootfs: bytes) -> bytes:
    """`docker import`s the test image's rootfs into one node (there is no registry) and returns the
    image as `docker save` writes it, for `load_image` on the others."""
    repo, _, tag = layout.IMAGE.rpartition(":")
    with client(spec, timeout=120) as c:
        c.import_image_from_data(rootfs, repository=repo, tag=tag, changes=['CMD ["/bin/sh"]'])
        return b"".join(c.get_image(layout.IMAGE))


def load_image(spec: NodeSpec, saved: bytes) -> None:
    """`docker load`s a saved image: unlike a second import, it keeps the image id, so every node
    holds the very same image (an import stamps its time into the config, hence into the id)."""
    with client(spec, timeout=120) as c:
        for _ in c.load_image(saved):
            pass


def image(spec: NodeSpec) -> dict[str, Any]:
    with client(spec, timeout=30) as c:
        return c.inspect_image(layout.IMAGE)


def engine(spec: NodeSpec) -> dict[str, Any]:
    """The node engine's /info, for the state and `status`."""
    with client(spec, timeout=30) as c:
        return c.info()


def leave(spec: NodeSpec, timeout: float = 20.0) -> None:
    """Leaves the swarm with force. Leaving force-removes the node's task containers (no stop grace
    period, so `down` does not wait 10 s per container) and stops its agent, so nothing restarts them."""
    with client(spec, timeout=timeout) as c:
        c.leave_swarm(force=True)
