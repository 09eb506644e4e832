"""The service a mode creates: one definition for preflight, every measured service and the sweep.

Placement picks the nodes (a runtime label on Linux, where the runtime belongs to the node; the OS
and build on Windows, where isolation is per service); isolation is always sent explicitly in
``TaskTemplate.ContainerSpec.Isolation`` (API 1.35+), so the request says what was measured. No
network, no published port (DNS round robin: swarm's VIP and ingress need IPVS, and Windows Server
2016 has no routing mesh). Every service and every task container carries the run's label.
"""

from __future__ import annotations

from typing import Any

import docker

from bench.core.config import Mode
from bench.core.labels import MODE_LABEL, RUN_LABEL

NAME_PREFIX = "isobench-svc"
# Swarm replaces a task that fails (not one that is stopped on purpose), at once, at most this
# many times per slot: a task lost with its node is rescheduled, a runtime that always fails
# cannot loop for the whole timeout.
RESTART_CONDITION = "on-failure"
RESTART_MAX_ATTEMPTS = 2
# The smallest Engine API that carries ContainerSpec.Isolation.
ISOLATION_API = "1.35"


def service_name(run_id: str, seq: int) -> str:
    """A DNS-safe name, unique per run (swarm names are at most 63 characters)."""
    return f"{NAME_PREFIX}-{run_id}-{seq}"


def labels(run_id: str, mode: Mode) -> dict[str, str]:
    return {RUN_LABEL: run_id, MODE_LABEL: mode.name}


def restart_policy() -> dict[str, Any]:
    return {"condition": RESTART_CONDITION, "delay": 0, "max_attempts": RESTART_MAX_ATTEMPTS}


def create_kwargs(mode: Mode, image: str, run_id: str, seq: int, replicas: int) -> dict[str, Any]:
    """Arguments for ``APIClient.create_service``: ``replicas`` tasks of the mode's container."""
    container = docker.types.ContainerSpec(
        image,
        command=list(mode.command),
        labels=labels(run_id, mode),
        isolation=mode.isolation,
        stop_grace_period=int(mode.stop_grace_s * 1_000_000_000),
        read_only=mode.read_only or None,
    )
    template = docker.types.TaskTemplate(
        container,
        placement=docker.types.Placement(constraints=list(mode.placement)) if mode.placement else None,
        restart_policy=docker.types.RestartPolicy(**restart_policy()),
    )
    return {
        "task_template": template,
        "name": service_name(run_id, seq),
        "labels": labels(run_id, mode),
        "mode": docker.types.ServiceMode("replicated", replicas),
        "endpoint_spec": docker.types.EndpointSpec(mode="dnsrr"),
    }


def record(mode: Mode, image: str) -> dict[str, Any]:
    """What the header keeps of a mode's service shape."""
    return {
        "image": image,
        "isolation": mode.isolation,
        "placement": list(mode.placement),
        "restart_policy": restart_policy(),
        "endpoint_mode": "dnsrr",
        "stop_grace_s": mode.stop_grace_s,
        "read_only": mode.read_only,
    }
