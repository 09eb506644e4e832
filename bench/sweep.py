"""Finds and removes containers by the run label: the safety net under every `finally`."""

from __future__ import annotations

from typing import Optional

import docker

from bench.spec import RUN_LABEL
from bench.watchdog import call_with_timeout


def labelled(client: docker.APIClient, run_id: Optional[str] = None, timeout: float = 30.0) -> list[dict]:
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    return call_with_timeout(lambda: client.containers(all=True, filters={"label": selector}), timeout, "list")


def sweep(client: docker.APIClient, run_id: Optional[str] = None, timeout: float = 30.0) -> tuple[int, list[str]]:
    """Force-removes containers labelled with ``run_id`` (any isobench run when None).

    Returns (removed count, ids that could not be removed).
    """
    removed, stuck = 0, []
    for c in labelled(client, run_id, timeout):
        cid = c["Id"]
        try:
            call_with_timeout(lambda cid=cid: client.remove_container(cid, force=True), timeout, "sweep")
            removed += 1
        except docker.errors.NotFound:
            removed += 1
        except Exception:
            stuck.append(cid[:12])
    return removed, stuck
