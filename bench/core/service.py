"""The service scenario's settings (the `[service]` table of bench.toml, and --replicas): Swarm
service startup per mode and replica count (issue #13).

A round runs, for one replica count N, one service per mode in a seeded shuffled order; the Ns
take turns in a seeded shuffled order too, so drift hits every mode and N alike. `[run]`'s
`rounds`, `warmup`, `budget_s` and `seed` count and bound these rounds. Every poll interval,
timeout and the SLO live here, so the result-set header records them all (``config.service``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from bench.core.errors import UserError

STARTS = ("create", "scale")


@dataclass(frozen=True)
class ServiceSettings:
    # Replica counts; each round runs one of them (the default: 1, 4 and 8).
    replicas: tuple[int, ...] = (1, 4, 8)
    # How a service's tasks are started: "create" (POST /services/create with N replicas) or
    # "scale" (created with 0, untimed, then scaled from 0 to N).
    start: str = "create"
    # GET /tasks on the manager every this many seconds while a service starts, scales or goes:
    # swarm keeps only each task's latest state, so this is the resolution of the states' first-seen times.
    poll_s: float = 0.075
    # Kubernetes' pod startup SLO (ClusterLoader2): p99 of service_startup at most this.
    slo_s: float = 5.0
    # Seconds from create (or scale-up) until every task is ready, from scale-down until no task
    # runs, and from DELETE until nothing of the service is left; past them the service's missing
    # tasks become failed samples. Long enough for swarm to notice a node that died (~10-15 s) and
    # to reschedule its tasks.
    ready_s: float = 60.0
    scale_down_s: float = 60.0
    remove_s: float = 60.0

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, rec: Optional[dict[str, Any]]) -> "ServiceSettings":
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in dict(rec or {}).items() if k in known}
        if "replicas" in clean:
            clean["replicas"] = tuple(clean["replicas"])
        return cls(**clean)


_KEYS = tuple(f.name for f in fields(ServiceSettings))


def _replicas(value: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise UserError(f"{where} must be a non-empty list of whole numbers of at least 1, not {value!r}.")
    return tuple(sorted(set(value)))


def read_service(table: Any) -> ServiceSettings:
    """The `[service]` table, read with bench.core.config's typed getters (``table`` is its Table)."""
    d = ServiceSettings()
    where = f"{table.source}: {table.where}"
    replicas = table.take("replicas")
    s = ServiceSettings(
        replicas=d.replicas if replicas is None else _replicas(replicas, f"{where}.replicas"),
        start=table.text("start", d.start, choices=STARTS),
        poll_s=table.real("poll_s", d.poll_s),
        slo_s=table.real("slo_s", d.slo_s),
        ready_s=table.real("ready_s", d.ready_s),
        scale_down_s=table.real("scale_down_s", d.scale_down_s),
        remove_s=table.real("remove_s", d.remove_s),
    )
    table.done(_KEYS)
    if not 0.01 <= s.poll_s <= 1.0:
        raise UserError(f"{where}.poll_s is {s.poll_s:g}: use 0.01 to 1 seconds (0.05-0.1 resolves task states).")
    return s


def parse_replicas(text: str) -> tuple[int, ...]:
    """--replicas 1,4,8."""
    values = []
    for part in text.split(","):
        try:
            v = int(part)
        except ValueError:
            raise UserError(f"--replicas {text!r}: list whole numbers separated by commas, such as 1,4,8.") from None
        if v < 1:
            raise UserError(f"--replicas {text!r}: every replica count must be at least 1.")
        values.append(v)
    return tuple(sorted(set(values)))


def rounds_order(replicas: tuple[int, ...], count: int, rng: Any) -> list[int]:
    """The replica count of each of ``count`` rounds: the counts in a fresh shuffled order per pass."""
    out: list[int] = []
    while len(out) < count:
        block = list(replicas)
        rng.shuffle(block)
        out += block
    return out[:count]


def budget_left(budget_s: Optional[float], elapsed: float, per_round: float) -> bool:
    """Whether another round fits the budget (None: no budget)."""
    return budget_s is None or not math.isfinite(budget_s) or elapsed + per_round <= budget_s
