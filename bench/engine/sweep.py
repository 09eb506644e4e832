"""Finds and removes containers by the run label: the safety net under every `finally`.

Removal is bounded as a whole, not per container: each container is removed on
its own daemon thread and the caller waits for all of them until one deadline.
A remove that a hung runtime holds is reported as stuck and abandoned; it cannot
keep the harness from exiting (daemon threads do not hold the process).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Collection, Optional

import docker

from bench.core.labels import RUN_LABEL
from bench.core.watchdog import call_with_timeout

IN_PROGRESS_POLL_S = 0.1


def labelled(client: docker.APIClient, run_id: Optional[str] = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    found: list[dict[str, Any]] = call_with_timeout(
        lambda: client.containers(all=True, filters={"label": selector}), timeout, "list"
    )
    return found


def _in_progress(exc: docker.errors.APIError) -> bool:
    text = str(exc.explanation or exc)
    # dockerd: 409 "removal ... already in progress". Podman: 500 "container state improper" when its own
    # cleanup of a container that just exited races the remove; asked again, it goes.
    return (exc.status_code == 409 and "already in progress" in text) or "container state improper" in text


def remove_containers(client: docker.APIClient, cids: Collection[str], deadline_s: float) -> tuple[int, list[str]]:
    """Force-removes ``cids`` concurrently, waiting at most ``deadline_s`` in all.
    Returns (removed count, short ids still stuck)."""
    outcome: dict[str, bool] = {}
    end = time.monotonic() + deadline_s

    def remove(cid: str) -> None:
        while True:
            try:
                client.remove_container(cid, force=True)
                outcome[cid] = True
            except docker.errors.NotFound:
                outcome[cid] = True
            except docker.errors.APIError as exc:
                # An earlier, abandoned remove of the same container is still running (it was waiting
                # for a hung runtime): it is not stuck, it is going. Ask again until it is gone.
                if _in_progress(exc) and time.monotonic() + IN_PROGRESS_POLL_S < end:
                    time.sleep(IN_PROGRESS_POLL_S)
                    continue
                outcome[cid] = False
            except Exception:
                outcome[cid] = False
            return

    threads = [threading.Thread(target=remove, args=(cid,), name="isobench-remove", daemon=True) for cid in cids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    removed = sum(1 for ok in outcome.values() if ok)
    stuck = sorted(cid[:12] for cid in cids if not outcome.get(cid))
    return removed, stuck


def sweep(
    client: docker.APIClient, run_id: Optional[str] = None, timeout: float = 30.0, keep_runs: Collection[str] = ()
) -> tuple[int, list[str]]:
    """Force-removes containers labelled with ``run_id`` (any isobench run when None), except
    those of the runs in ``keep_runs`` (runs that still hold a lease on this engine).

    Returns (removed count, ids that could not be removed within ``timeout``)."""
    keep = set(keep_runs)
    found = labelled(client, run_id, timeout)
    cids = [c["Id"] for c in found if (c.get("Labels") or {}).get(RUN_LABEL) not in keep]
    if not cids:
        return 0, []
    return remove_containers(client, cids, timeout)
