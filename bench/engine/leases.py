"""This run's lease on each engine it measures (the lease itself: bench.engine.lease), and how long
a lease must last between renewals."""

from __future__ import annotations

from typing import Any, Callable

from bench.engine import preflight
from bench.engine.lease import DEFAULT_TTL_S, EngineLease


class Leases:
    """This run's lease on each engine it measures (see bench.engine.lease)."""

    def __init__(self, run_id: str, allow_concurrent: bool) -> None:
        self.run_id = run_id
        self.allow_concurrent = allow_concurrent
        self.by_url: dict[str, EngineLease] = {}
        # Set once the rounds' own bounded cleanup ran: the last sweep on the way out then has
        # nothing to do but wait again on what a hung runtime holds, so it is skipped.
        self.run_cleaned = False
        self.extra_s = 0.0  # a unit's length beyond a cycle's (a scale group, a service: see lease_ttl)

    def acquire(self, runtimes: list[preflight.ModeRuntime], say: Callable[[str], None]) -> None:
        for rt in runtimes:
            url = rt.endpoint.base_url
            if url in self.by_url:
                continue
            lease = EngineLease(
                rt.client,
                rt.image,
                self.run_id,
                url,
                ttl_s=lease_ttl(runtimes, url, self.extra_s),
                timeout=rt.mode.timeouts.ping + rt.mode.timeouts.create,
            )
            lease.acquire(self.allow_concurrent)  # a LeaseConflict ends the run before anything is written
            self.by_url[url] = lease
            if lease.guest_of is not None:
                say(
                    f"  warning: running beside {lease.guest_of.describe()} on {url} (--allow-concurrent): "
                    "both result sets are marked concurrent"
                )

    def live_runs(self) -> dict[str, set[str]]:
        """Engine url -> run ids with a live lease there (their containers are not swept)."""
        out: dict[str, set[str]] = {}
        for url, lease in self.by_url.items():
            try:
                out[url] = lease.live_runs()
            except Exception:  # cannot tell: keep everything labelled rather than risk a live run's containers
                out[url] = {"*"}
        return out

    def renew(self) -> None:
        for lease in self.by_url.values():
            lease.renew_if_due()

    def release(self) -> None:
        for lease in self.by_url.values():
            lease.release()

    def header(self) -> dict[str, Any]:
        return {url: lease.header_record() for url, lease in self.by_url.items()}

    @property
    def concurrent(self) -> bool:
        return any(lease.guest_of is not None for lease in self.by_url.values())

    def end(self) -> dict[str, Any]:
        """For the end record: asks each engine once more which runs joined (a short guest may have
        come and gone since the last renewal)."""
        for lease in self.by_url.values():
            if lease.mine is not None and not lease.mine.guest:
                lease.note_guests()
        return {url: lease.end_record() for url, lease in self.by_url.items()}


def lease_ttl(runtimes: list[preflight.ModeRuntime], url: str, extra_s: float = 0.0) -> float:
    """Long enough to outlast the longest cycle on this engine (renewal happens between cycles only),
    or unit of a scenario that is longer than a cycle (``extra_s`` more: a scale group, a service)."""
    t = [r.mode.timeouts for r in runtimes if r.endpoint.base_url == url]
    longest = max(x.create + x.start + x.ready + x.exec + x.stop + x.remove + x.engine_stop + x.engine_up for x in t)
    return max(DEFAULT_TTL_S, 2 * (longest + extra_s))
