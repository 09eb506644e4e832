"""A real multi-node Docker Swarm on one machine (issue #13, bring-up): `isobench swarm up|down|status`.

Three node dockerds, each in its own network namespace (a veth to a bridge in a hub namespace
the harness owns), with their own data/exec roots, pid files, sockets, containerd and cgroup
parent; one manager and two workers, one of which runs runsc by default and is labelled so.
See docs/swarm.md. The public surface:

* ``main(action, say=print) -> int`` for the CLI (``up``, ``down``, ``status``);
* ``up``, ``down``, ``status``; ``load_state()`` (the cluster as recorded, or None) and
  ``header()`` (kernel facts and the cluster's shape for a result-set header, or None).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from bench.core.errors import UserError
from bench.engine.swarm.cluster import down, health, up
from bench.engine.swarm.state import ClusterState, NodeState
from bench.engine.swarm.state import load as load_state
from bench.engine.swarm.status import status

ACTIONS = ("up", "down", "status")


def header() -> Optional[dict[str, Any]]:
    """What a result set measured on the swarm records about it, or None when no cluster is up."""
    st = load_state()
    return st.header() if st is not None and st.phase == "up" else None


def main(action: str, say: Callable[[str], Any] = print) -> int:
    """`isobench swarm ACTION`. Errors are bench.errors.UserError (one sentence); Ctrl-C propagates
    after `up` has removed what it made."""
    if action == "up":
        up(say)
        return 0
    if action == "down":
        down(say)
        return 0
    if action == "status":
        return status(say)
    raise UserError(f"unknown swarm action '{action}': use one of {', '.join(ACTIONS)}.")


__all__ = ["ACTIONS", "ClusterState", "NodeState", "down", "header", "health", "load_state", "main", "status", "up"]
