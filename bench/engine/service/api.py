"""Service calls on a swarm manager, each bounded by the watchdog (bench.core.watchdog), so a manager
that stops answering, on any transport, costs at most the call's timeout.

Scaling sends the service's own spec back with the new replica count: one request (docker-py's
``fetch_current_spec`` would add an inspect inside the timed call).
"""

from __future__ import annotations

from typing import Any, Collection, Optional

import docker

from bench.core.labels import RUN_LABEL
from bench.core.watchdog import call_with_timeout

# Task states after running (bench.core.phases.TASK_STATES has those up to it): a task in one has ended.
ENDED = ("complete", "shutdown", "failed", "rejected", "remove", "orphaned")


def create(client: docker.APIClient, kwargs: dict[str, Any], timeout: float) -> str:
    """POST /services/create; returns the service id."""
    created: dict[str, Any] = call_with_timeout(lambda: client.create_service(**kwargs), timeout, "service create")
    return str(created["ID"])


def inspect(client: docker.APIClient, sid: str, timeout: float) -> Optional[dict[str, Any]]:
    """The service, or None once the manager no longer knows it."""

    def get() -> Optional[dict[str, Any]]:
        try:
            found: dict[str, Any] = client.inspect_service(sid)
            return found
        except docker.errors.NotFound:
            return None

    return call_with_timeout(get, timeout, "service inspect")


def scale_request(service: dict[str, Any], replicas: int) -> tuple[dict[str, Any], int]:
    """(spec, version) that set the service's replica count, from its inspect."""
    spec = dict(service["Spec"])
    spec["Mode"] = {"Replicated": {"Replicas": int(replicas)}}
    return spec, int(service["Version"]["Index"])


def update(client: docker.APIClient, sid: str, spec: dict[str, Any], version: int, timeout: float) -> None:
    """POST /services/{id}/update with a whole spec (see scale_request)."""

    def call() -> None:
        res = client._post_json(client._url("/services/{0}/update", sid), data=spec, params={"version": version})
        client._raise_for_status(res)

    call_with_timeout(call, timeout, "service update")


def remove(client: docker.APIClient, sid: str, timeout: float) -> bool:
    """DELETE /services/{id}; False when it was already gone."""

    def call() -> bool:
        try:
            client.remove_service(sid)
            return True
        except docker.errors.NotFound:
            return False

    return call_with_timeout(call, timeout, "service remove")


def tasks(client: docker.APIClient, sid: str, timeout: float) -> list[dict[str, Any]]:
    """GET /tasks for one service: each task's latest state only (swarm keeps no history of it)."""
    found: list[dict[str, Any]] = call_with_timeout(
        lambda: client.tasks(filters={"service": sid}), timeout, "task list"
    )
    return found


def nodes(client: docker.APIClient, timeout: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = call_with_timeout(client.nodes, timeout, "node list")
    return found


def labelled(client: docker.APIClient, run_id: Optional[str], timeout: float) -> list[dict[str, Any]]:
    """Services carrying the run label (``run_id``'s, or any isobench run's)."""
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    found: list[dict[str, Any]] = call_with_timeout(
        lambda: client.services(filters={"label": selector}), timeout, "service list"
    )
    return found


def sweep(
    client: docker.APIClient, run_id: Optional[str], timeout: float, keep_runs: Collection[str] = ()
) -> list[str]:
    """Removes the services of ``run_id`` (of every isobench run when None) except those of
    ``keep_runs`` (runs that hold a live lease on the manager). Returns the names removed; a
    service that cannot be removed is left for the next sweep, never an error here."""
    removed = []
    keep = set(keep_runs)
    for svc in labelled(client, run_id, timeout):
        owner = ((svc.get("Spec") or {}).get("Labels") or {}).get(RUN_LABEL)
        if owner in keep or "*" in keep:
            continue
        try:
            if remove(client, svc["ID"], timeout):
                removed.append(str((svc.get("Spec") or {}).get("Name") or svc["ID"]))
        except Exception:  # noqa: BLE001 - left for the next sweep
            continue
    return removed
