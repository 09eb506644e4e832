"""The service scenario's rounds (issue #13): for each round one replica count N, and one service
of N tasks per mode in a seeded shuffled order; the Ns take turns in a seeded shuffled order too
(bench.core.service.rounds_order). Warm-up rounds first (kept, flagged); then measured rounds
until `rounds`, or until the next would overrun `budget_s`.

Before the rounds: each mode's service checks (bench.engine.service.preflight), the nodes' clock
offsets, and one container-event stream per node for the whole run. After them (whatever
happened): this run's services are swept from every manager and its task containers from every
node that answers, and the streams closed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from bench.core.config import Config
from bench.core.errors import Terminated, UserError
from bench.core.phases import SERVICE
from bench.core.service import budget_left, rounds_order
from bench.engine.preflight import ModeRuntime, Skip
from bench.engine.service import api
from bench.engine.service.events import NodeEvents
from bench.engine.service.preflight import ServiceTarget, check_service_mode
from bench.engine.service.times import HarnessClock
from bench.engine.sweep import sweep
from bench.measure.executor import CycleResult
from bench.measure.service.lifecycle import ServiceContext, ServiceResult, run_service
from bench.measure.service.watch import EventRouter
from bench.results.resultset import ResultWriter
from bench.schedule.scheduler import Outcome, Tally

Say = Callable[[str], None]
TIMING = (
    "per task: the manager's GET /tasks polled every poll_s (each state's first-seen time and the task's own "
    "Status.Timestamp, corrected by the stamping node's clock offset) and its first line read on its node; "
    "see bench.measure.service.trace"
)


@dataclass
class ServiceSetup:
    """Every mode that can run services, and what the run shares between them."""

    contexts: list[ServiceContext]
    skipped: dict[str, str]  # mode -> why it cannot run services
    clock: HarnessClock
    router: EventRouter
    streams: list[NodeEvents] = field(default_factory=list)
    finished: bool = False

    def header(self, config: Config) -> dict[str, Any]:
        """The header's `service` record: settings, the clock, per mode its swarm, nodes and offsets, and
        for the local swarm its kernel facts and shape (bench.engine.swarm.header)."""
        local = None
        if any(c.target.runtime.mode.endpoint == "swarm" for c in self.contexts):
            from bench.engine.swarm import header as swarm_header

            local = swarm_header()
        return {
            "settings": config.service.to_record(),
            "local_swarm": local,
            "clock": self.clock.record(),
            "modes": {c.target.runtime.mode.name: c.target.record for c in self.contexts},
            "skipped": dict(self.skipped),
            "event_streams": sorted(s.name for s in self.streams),
        }


def _offsets(target: ServiceTarget) -> tuple[dict[str, int], Optional[str]]:
    offsets = {nid: rec["applied_ns"] for nid, rec in target.record["clock_offsets"].items() if "applied_ns" in rec}
    leader = next((n["id"] for n in target.record["nodes"] if n.get("leader")), None)
    return offsets, leader


def prepare(config: Config, runtimes: Sequence[ModeRuntime], run_id: str, say: Say) -> ServiceSetup:
    """Checks each mode for services; starts one event stream per reachable node. A mode that is not
    a swarm mode is refused (one sentence); one that fails its checks is skipped and says why."""
    plain = [rt.mode.name for rt in runtimes if not rt.mode.swarm]
    if plain:
        raise UserError(
            f"mode {', '.join(plain)} is not a swarm mode: --scenario service runs swarm services only; choose "
            "swarm-runc and swarm-runsc (the local swarm), or a mode with swarm = true and placement."
        )
    clock, router = HarnessClock(), EventRouter()
    setup = ServiceSetup([], {}, clock, router)
    for rt in runtimes:
        try:
            target = check_service_mode(rt, clock.now)
        except Skip as skip:
            setup.skipped[rt.mode.name] = skip.reason
            say(f"  {rt.mode.name}: skipped: {skip.reason}")
            continue
        offsets, leader = _offsets(target)
        setup.contexts.append(ServiceContext(target, config.service, run_id, clock.now, offsets, leader, router))
        say(f"  {rt.mode.name}: services on {', '.join(target.record['placement_nodes'])}; {_offset_text(target)}")
    _start_streams(setup, run_id)
    return setup


def _offset_text(target: ServiceTarget) -> str:
    parts = []
    for rec in target.record["clock_offsets"].values():
        if "offset_ns" in rec:
            applied = "" if rec["applied_ns"] else " (applied as 0)"
            parts.append(f"{rec['name']} {rec['offset_ns'] / 1e6:+.2f}±{rec['uncertainty_ns'] / 1e6:.2f}{applied}")
        else:
            parts.append(f"{rec['name']} ?")
    return "clock offsets (ms): " + ", ".join(parts)


def _start_streams(setup: ServiceSetup, run_id: str) -> None:
    seen: set[str] = set()
    for ctx in setup.contexts:
        directory = ctx.target.directory
        for node in list(directory.nodes.values()):
            if node.id in seen or node.endpoint is None:
                continue
            seen.add(node.id)
            factory = (lambda d, nid: lambda: d.new_client(nid, timeout=3600))(directory, node.id)
            setup.streams.append(NodeEvents(node.name, factory, run_id, setup.router.handler(node.id)).start())


def finish(setup: ServiceSetup, run_id: str, timeout: float) -> tuple[list[str], list[str]]:
    """This run's services off every manager, its task containers off every node that answers, the
    streams closed. Returns (services removed, containers left)."""
    if setup.finished:
        return [], []
    setup.finished = True
    removed: list[str] = []
    stuck: list[str] = []
    managers: dict[str, Any] = {}
    for ctx in setup.contexts:
        managers.setdefault(ctx.target.runtime.endpoint.base_url, ctx)
    for ctx in managers.values():
        try:
            removed += api.sweep(ctx.target.runtime.client, run_id, timeout)
        except Exception:  # noqa: BLE001 - a manager that does not answer: the next run's sweep
            pass
    for ctx in setup.contexts:
        directory = ctx.target.directory
        for node in list(directory.nodes.values()):
            client = None if directory.down(node.id) else directory.client(node.id)
            if client is None or node.leader:
                continue  # the leader's own engine is swept with the run's other engines
            try:
                stuck += sweep(client, run_id, timeout=timeout)[1]
            except Exception:  # noqa: BLE001
                pass
        directory.close()
    for stream in setup.streams:
        stream.close()
    return removed, stuck


class ServiceScheduler:
    def __init__(
        self,
        setup: ServiceSetup,
        config: Config,
        writer: ResultWriter,
        seed: int,
        say: Say,
        between: Optional[Callable[[], None]] = None,
    ) -> None:
        self.setup = setup
        self.run_settings = config.run
        self.settings = config.service
        self.writer = writer
        self.rng = random.Random(seed)
        self.say = say
        self.between = between
        self.tally = Tally()
        self.leaked: list[str] = []
        self.seq = 0
        self.measured = 0

    def plan(self) -> list[tuple[int, int, bool]]:
        """(round, replicas, warm-up) for every round the run may run."""
        s = self.run_settings
        order = rounds_order(self.settings.replicas, s.warmup + s.rounds, self.rng)
        return [(i, n, i < s.warmup) for i, n in enumerate(order)]

    def _one(self, ctx: ServiceContext, round_no: int, pos: int, warmup: bool, replicas: int) -> ServiceResult:
        result = run_service(ctx, self.seq, round_no, pos, warmup, replicas, self.writer.append)
        self.seq += 1
        if result.samples:
            self.tally.add(CycleResult(samples=result.samples), warmup)
        if result.leaked:
            self.leaked.append(result.leaked)
        self.say(_line(ctx.target.runtime.mode.name, round_no, warmup, result))
        return result

    def _round(self, round_no: int, replicas: int, warmup: bool) -> None:
        order = list(self.setup.contexts)
        self.rng.shuffle(order)
        for pos, ctx in enumerate(order):
            result = self._one(ctx, round_no, pos, warmup, replicas)
            if result.interrupted is not None:
                raise result.interrupted
            if _manager_lost(result) and not self._manager_back(ctx):
                raise _Failed(
                    f"the manager of mode {ctx.target.runtime.mode.name!r} stayed unavailable for "
                    f"{self.run_settings.reconnect_s:g} s of reconnect attempts"
                )
            if self.between is not None:
                self.between()

    def _manager_back(self, ctx: ServiceContext) -> bool:
        """After a service the manager did not answer for: whether it answers again within reconnect_s."""
        deadline = time.monotonic() + self.run_settings.reconnect_s
        while True:
            try:
                ctx.target.runtime.client.ping()
                return True
            except Exception:  # noqa: BLE001 - tried again until the deadline
                if time.monotonic() > deadline:
                    return False
                time.sleep(1.0)

    def run(self) -> Outcome:
        started = time.monotonic()
        rounds = 0
        reason = f"{self.run_settings.rounds} rounds done"
        try:
            for round_no, replicas, warmup in self.plan():
                elapsed = time.monotonic() - started
                budget = self.run_settings.budget_s
                if not warmup and rounds and not budget_left(budget, elapsed, elapsed / rounds):
                    reason = f"time budget of {budget:g} s reached after {self.measured} rounds"
                    break
                self._round(round_no, replicas, warmup)
                rounds += 1
                self.measured += 0 if warmup else 1
            return Outcome("complete", reason, self.measured, self.tally)
        except _Failed as exc:
            return Outcome("failed", str(exc), self.measured, self.tally)
        except KeyboardInterrupt as exc:
            return Outcome("interrupted", "SIGINT (Ctrl-C)", self.measured, self.tally, exc)
        except Terminated as exc:
            return Outcome("interrupted", f"signal {exc.signum}", self.measured, self.tally, exc)


class _Failed(Exception):
    """The run cannot go on (its manager is gone); the message says why."""


def _manager_lost(result: ServiceResult) -> bool:
    return any(s.phase == "makespan" and s.error == "engine_unavailable" for s in result.samples)


def _line(mode: str, round_no: int, warmup: bool, result: ServiceResult) -> str:
    """One progress line per service."""
    span = next((s for s in result.samples if s.phase == "makespan"), None)
    what = f"{result.ready}/{result.replicas} ready"
    if span is not None and span.ok:
        what += f", makespan {(span.duration_ns or 0) / 1e6:.0f} ms"
    elif span is not None:
        what += f", {span.error}: {str(span.message)[:120]}"
    tag = " (warm-up)" if warmup else ""
    return f"  round {round_no}{tag} {SERVICE} {mode} N={result.replicas}: {what}"
