"""`isobench swarm status`: each node as the manager and the node's own engine see it."""

from __future__ import annotations

from typing import Any, Callable, Optional

from bench.engine.swarm import layout, state, teardown
from bench.engine.swarm.api import client
from bench.engine.swarm.cluster import health
from bench.engine.swarm.layout import MANAGER
from bench.engine.swarm.state import ClusterState

COLUMNS = ("NODE", "ROLE", "STATE", "AVAILABILITY", "RUNTIME", "ENGINE", "ADDRESS", "LABELS")


def _manager_view() -> dict[str, dict[str, Any]]:
    """node id -> the manager's record of it ({} when the manager does not answer)."""
    try:
        with client(MANAGER, timeout=10) as c:
            return {n["ID"]: n for n in c.nodes()}
    except Exception:  # noqa: BLE001 - shown as "unknown"
        return {}


def _engine_view(name: str) -> dict[str, Any]:
    try:
        with client(layout.node(name), timeout=10) as c:
            return c.info()
    except Exception:  # noqa: BLE001 - shown as "no answer"
        return {}


def rows(st: ClusterState) -> list[tuple[str, ...]]:
    listed = _manager_view()
    out: list[tuple[str, ...]] = []
    for n in st.nodes:
        rec, info = listed.get(n.node_id or "", {}), _engine_view(n.name)
        role = (rec.get("Spec") or {}).get("Role") or n.role
        if (rec.get("ManagerStatus") or {}).get("Leader"):
            role += " (leader)"
        labels = (rec.get("Spec") or {}).get("Labels") or n.labels
        out.append(
            (
                n.name,
                role,
                (rec.get("Status") or {}).get("State", "unknown" if info else "no answer"),
                (rec.get("Spec") or {}).get("Availability", "unknown"),
                info.get("DefaultRuntime") or n.runtime,
                info.get("ServerVersion") or n.engine_version or "?",
                n.ip,
                ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-",
            )
        )
    return out


def _table(lines: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]


def status(say: Callable[[str], Any] = print) -> int:
    """Prints the cluster; 0 when it is up and healthy, 1 otherwise (the first line says why)."""
    st: Optional[ClusterState] = state.load()
    if st is None:
        left = teardown.leftovers()
        say("swarm: not up" + (f", but {', '.join(left)} remain: run 'isobench swarm down'" if left else ""))
        return 1
    problem = health(st)
    say(
        f"swarm: {'up' if problem is None else 'not healthy: ' + problem} (phase {st.phase}, since {st.started}, "
        f"swarm {st.swarm_id or '-'}), manager {st.manager_endpoint}"
    )
    for line in _table([COLUMNS, *rows(st)]):
        say(line)
    f = st.facts
    if f:
        say(
            f"kernel {f.get('kernel')}: IPVS {'yes' if f.get('ipvs') else 'no'}, VXLAN "
            f"{'yes' if f.get('vxlan') else 'no'}; endpoint mode {f.get('endpoint_mode')} "
            f"({f.get('endpoint_mode_reason')})"
        )
    return 0 if problem is None else 1
