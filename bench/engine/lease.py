"""One run at a time per engine: a lease taken atomically on the engine itself.

Two runs on one engine distort each other's timings, and a run's start-up sweep
would remove the other's live containers. So a run leases every engine it
measures. The lease lives on the engine, so it also holds between clients on
different hosts sharing one remote engine.

Atomicity comes from the engine's container names: creating a second container
with a taken name fails with 409 Conflict. The lease is a created (never
started) container named ``isobench-lease.<generation>``, its labels saying who
holds it (run id, host, pid, start time) and until when. Labels cannot change,
so renewing creates the next generation and removes the old one; whoever
creates generation g+1 first wins, which makes renewal and takeover of an
expired lease race-free too.

A lease is live while it has not expired. On the holder's own machine (same
kernel boot id) liveness is exact instead: the holder's process still exists
with the same start time, so a SIGKILLed run's lease is free at once. With
``--allow-concurrent``, a run does not take the lease but registers as a guest
(``isobench-lease-guest.<run id>``) so the holder learns of it and both result
sets say they were concurrent.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import docker

from bench.core.errors import UserError
from bench.core.labels import LEASE_LABEL
from bench.core.watchdog import call_with_timeout

NAME_PREFIX = "isobench-lease."
GUEST_PREFIX = "isobench-lease-guest."
DEFAULT_TTL_S = 120.0


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not mistaken for it;
    empty for a zombie: it has exited (only its parent has not collected its status yet) and holds nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return "" if fields[0] == "Z" else fields[19]


@dataclass(frozen=True)
class Holder:
    """Who holds (or visits, for a guest) a lease, as its labels say."""

    run_id: str
    host: str
    pid: int
    pid_start: str
    boot_id: str
    started: str
    expires_ns: int
    generation: int
    guest: bool
    container: str = ""

    @staticmethod
    def me(run_id: str, ttl_s: float, generation: int, guest: bool) -> "Holder":
        return Holder(
            run_id=run_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_start=_pid_start(os.getpid()),
            boot_id=_boot_id(),
            started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            expires_ns=time.time_ns() + int(ttl_s * 1e9),
            generation=generation,
            guest=guest,
        )

    def labels(self) -> dict[str, str]:
        return {
            LEASE_LABEL: self.run_id,
            f"{LEASE_LABEL}.host": self.host,
            f"{LEASE_LABEL}.pid": str(self.pid),
            f"{LEASE_LABEL}.pid_start": self.pid_start,
            f"{LEASE_LABEL}.boot_id": self.boot_id,
            f"{LEASE_LABEL}.started": self.started,
            f"{LEASE_LABEL}.expires_ns": str(self.expires_ns),
            f"{LEASE_LABEL}.generation": str(self.generation),
            f"{LEASE_LABEL}.guest": "1" if self.guest else "0",
        }

    @staticmethod
    def from_container(c: dict[str, Any]) -> Optional["Holder"]:
        lab = c.get("Labels") or {}
        try:
            return Holder(
                run_id=lab[LEASE_LABEL],
                host=lab.get(f"{LEASE_LABEL}.host", "?"),
                pid=int(lab.get(f"{LEASE_LABEL}.pid", "0")),
                pid_start=lab.get(f"{LEASE_LABEL}.pid_start", ""),
                boot_id=lab.get(f"{LEASE_LABEL}.boot_id", ""),
                started=lab.get(f"{LEASE_LABEL}.started", "?"),
                expires_ns=int(lab.get(f"{LEASE_LABEL}.expires_ns", "0")),
                generation=int(lab.get(f"{LEASE_LABEL}.generation", "0")),
                guest=lab.get(f"{LEASE_LABEL}.guest") == "1",
                container=str(c.get("Id", "")),
            )
        except (KeyError, ValueError):
            return None  # not one of ours, or damaged: treated as absent

    def is_live(self, now_ns: Optional[int] = None) -> bool:
        if self.boot_id and self.boot_id == _boot_id():
            # Same machine, same boot: the process itself says whether the run is alive.
            return bool(self.pid_start) and _pid_start(self.pid) == self.pid_start
        return (now_ns or time.time_ns()) < self.expires_ns

    def describe(self) -> str:
        return f"run {self.run_id} on {self.host}, pid {self.pid}, started {self.started}"

    def record(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "host": self.host, "pid": self.pid, "started": self.started}


def holders(client: docker.APIClient, timeout: float = 30.0) -> list[Holder]:
    """Every lease and guest sentinel on the engine."""
    found = call_with_timeout(
        lambda: client.containers(all=True, filters={"label": LEASE_LABEL}), timeout, "lease list"
    )
    return [h for h in (Holder.from_container(c) for c in found) if h is not None]


def live_runs(client: docker.APIClient, timeout: float = 30.0) -> set[str]:
    """Run ids that hold or visit a live lease on this engine: their containers are not to be swept."""
    now = time.time_ns()
    return {h.run_id for h in holders(client, timeout) if h.is_live(now)}


class LeaseConflict(UserError):
    def __init__(self, where: str, holder: Holder) -> None:
        super().__init__(
            f"the engine at {where} is leased by another isobench run ({holder.describe()}): wait for it "
            "to end, or pass --allow-concurrent to run beside it (both result sets are then marked "
            "concurrent)."
        )
        self.holder = holder


class EngineLease:
    """The lease of one engine for one run (see the module doc)."""

    def __init__(
        self,
        client: docker.APIClient,
        image: str,
        run_id: str,
        where: str,
        ttl_s: float = DEFAULT_TTL_S,
        timeout: float = 30.0,
    ) -> None:
        self.client, self.image, self.run_id, self.where = client, image, run_id, where
        self.ttl_s, self.timeout = ttl_s, timeout
        self.mine: Optional[Holder] = None  # the generation this run holds
        self.guest_of: Optional[Holder] = None  # with --allow-concurrent: the holder this run runs beside
        self.guests_seen: dict[str, dict[str, Any]] = {}
        self.lost_to: Optional[Holder] = None
        self._renewed_at = 0.0

    # -- reading ---------------------------------------------------------------------

    def holders(self) -> list[Holder]:
        return holders(self.client, self.timeout)

    def live_runs(self) -> set[str]:
        return live_runs(self.client, self.timeout)

    # -- taking, renewing, releasing ---------------------------------------------------

    def _create(self, name: str, holder: Holder) -> Holder:
        created = call_with_timeout(
            lambda: self.client.create_container(
                self.image, command=["isobench-lease"], name=name, labels=holder.labels(), network_disabled=True
            ),
            self.timeout,
            "lease create",
        )
        return Holder(**{**holder.__dict__, "container": created["Id"]})

    def _remove(self, holder: Holder) -> None:
        # Retried briefly: Windows engines can fail to detach a container's disk for a moment. A stale
        # generation left behind anyway is ignored by readers and removed by the next taker.
        for attempt in range(3):
            try:
                call_with_timeout(
                    lambda: self.client.remove_container(holder.container, force=True), self.timeout, "lease remove"
                )
                return
            except docker.errors.NotFound:
                return
            except Exception:
                time.sleep(0.2 * 2**attempt)

    def acquire(self, allow_concurrent: bool = False) -> None:
        """Takes the lease, or (``allow_concurrent``) registers as a guest of the live holder.
        Raises LeaseConflict when another live run holds it."""
        for _ in range(3):  # a lost race (409) means someone else just moved: look again
            holders = self.holders()
            current = max((h for h in holders if not h.guest), key=lambda h: h.generation, default=None)
            if current is not None and current.is_live() and current.run_id != self.run_id:
                if not allow_concurrent:
                    raise LeaseConflict(self.where, current)
                self.guest_of = current
                self.mine = self._create(GUEST_PREFIX + self.run_id, Holder.me(self.run_id, self.ttl_s, 0, True))
                return
            generation = current.generation + 1 if current else 1
            try:
                self.mine = self._create(
                    f"{NAME_PREFIX}{generation}", Holder.me(self.run_id, self.ttl_s, generation, False)
                )
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    continue
                raise
            self._renewed_at = time.monotonic()
            for h in holders:  # older generations and dead guests: nobody needs them any more
                if not h.guest or not h.is_live():
                    self._remove(h)
            return
        raise UserError(
            f"could not take the lease of the engine at {self.where}: other runs kept taking it; try again."
        )

    def renew_if_due(self) -> None:
        """Called between cycles (never during a timed phase): renews once a third of the TTL has passed,
        and notes guests that joined meanwhile."""
        if self.mine is None or self.mine.guest or self.lost_to is not None:
            return
        if time.monotonic() - self._renewed_at < self.ttl_s / 3:
            return
        self.note_guests()
        old = self.mine
        try:
            self.mine = self._create(
                f"{NAME_PREFIX}{old.generation + 1}", Holder.me(self.run_id, self.ttl_s, old.generation + 1, False)
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                return  # the engine is busy or away: try again after the next cycle
            self.lost_to = next((h for h in self.holders() if h.generation == old.generation + 1), old)
            return
        except Exception:
            return
        self._renewed_at = time.monotonic()
        self._remove(old)

    def note_guests(self) -> None:
        """A guest leaves its sentinel behind when it ends while the holder runs (so a short guest
        between two renewals is not missed): noted here, then removed once its run is gone."""
        try:
            for h in self.holders():
                if h.guest and h.run_id != self.run_id:
                    self.guests_seen.setdefault(h.run_id, h.record())
                    if not h.is_live():
                        self._remove(h)
        except Exception:
            pass

    def release(self) -> None:
        """At the run's end (every exit path). The holder notes its guests and removes its lease; a
        guest removes its sentinel only when no live holder is left to note it."""
        if self.mine is None:
            return
        if self.mine.guest:
            holder_live = any(not h.guest and h.is_live() for h in self._holders_or_none())
            if not holder_live:
                self._remove(self.mine)
        else:
            self.note_guests()
            if self.lost_to is None:
                self._remove(self.mine)
        self.mine = None

    def _holders_or_none(self) -> list[Holder]:
        try:
            return self.holders()
        except Exception:
            return []

    def header_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"ttl_s": self.ttl_s, "held": self.mine is not None and not self.mine.guest}
        if self.guest_of is not None:
            rec["concurrent_with"] = self.guest_of.record()
        return rec

    def end_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"concurrent_with": sorted(self.guests_seen.values(), key=lambda g: g["run_id"])}
        if self.lost_to is not None:
            rec["lost_to"] = self.lost_to.record()
        return rec
