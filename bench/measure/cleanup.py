"""Containers a cycle could not remove: force-removed with retries at once, and what is still
stuck retried together at the run's end within one deadline (a hung runtime must not hold the exit)."""

from __future__ import annotations

import time
from typing import Any

import docker

from bench.core import outcomes
from bench.core.phases import CLEANUP
from bench.core.watchdog import call_with_timeout
from bench.engine import classify
from bench.engine.preflight import ModeRuntime
from bench.engine.sweep import remove_containers
from bench.results.records import Place, Sample

CLEANUP_RETRIES = 3


class StuckContainers:
    """The cleanup of failed cycles' containers, and the ones still held at the end."""

    def __init__(self) -> None:
        self.pending: dict[str, ModeRuntime] = {}

    def cleanup(self, rt: ModeRuntime, cid: str, base: Place) -> Sample:
        """Force-removes a container the cycle left behind, retrying with backoff (Windows engines can
        fail to detach a VHD for a while). Returns the `cleanup` sample; a failure keeps the container
        pending for the end of the run."""
        wall, t0 = time.time_ns(), time.perf_counter_ns()
        last: tuple[str, str] = ("", "")
        for attempt in range(CLEANUP_RETRIES):
            try:
                call_with_timeout(
                    lambda: rt.client.remove_container(cid, force=True), rt.mode.timeouts.remove, "cleanup"
                )
                return self._done(base, cid, wall, t0, {"attempts": attempt + 1})
            except docker.errors.NotFound:
                return self._done(base, cid, wall, t0, {"attempts": attempt + 1, "already_gone": True})
            except Exception as exc:
                last = classify.classify(exc)
                if last[0] in (outcomes.TIMEOUT, outcomes.ENGINE_UNAVAILABLE):
                    break  # a hung runtime holds the container: retried at the run's end
                time.sleep(0.5 * 2**attempt)
        self.pending[cid] = rt
        return Sample(
            **base,
            phase=CLEANUP,
            duration_ns=time.perf_counter_ns() - t0,
            ok=False,
            error=outcomes.CLEANUP_FAILED,
            message=f"{last[0]}: {last[1]}",
            wall_ns=wall,
            cid=cid[:12],
        )

    @staticmethod
    def _done(base: Place, cid: str, wall: int, t0: int, detail: dict[str, Any]) -> Sample:
        return Sample(
            **base,
            phase=CLEANUP,
            duration_ns=time.perf_counter_ns() - t0,
            ok=True,
            wall_ns=wall,
            cid=cid[:12],
            detail=detail,
        )

    def retry(self, deadline_s: float) -> list[str]:
        """Removes every pending container at once, within ``deadline_s`` in all. Returns the short
        ids still left."""
        by_client: dict[int, tuple[Any, list[str]]] = {}
        for cid, rt in self.pending.items():
            by_client.setdefault(id(rt.client), (rt.client, []))[1].append(cid)
        stuck: list[str] = []
        end = time.monotonic() + deadline_s
        for client, cids in by_client.values():
            _, left = remove_containers(client, cids, max(0.0, end - time.monotonic()))
            stuck += left
        self.pending = {cid: rt for cid, rt in self.pending.items() if cid[:12] in stuck}
        return sorted(stuck)
