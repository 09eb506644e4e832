"""service: Swarm services of N replicas on a manager, measured the way Kubernetes' ClusterLoader2
measures pod startup (bench.schedule.service: rounds of one replica count, a service per mode;
bench.measure.service: one service timed). Its modes are swarm modes; its services cannot be resumed.
Analysis: analysis/scenarios/service.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from bench.core.config import Config
from bench.core.errors import UserError
from bench.core.phases import SERVICE, SERVICE_PHASES, TASK_METRICS
from bench.measure.leftovers import END_SLACK_S, sweep_all
from bench.results.records import Header
from bench.results.resultset import ResultSet
from bench.scenarios.base import (
    BaseScenario,
    Cleanup,
    HeaderFacts,
    ResumePlan,
    RunContext,
    Start,
    cannot_resume,
)

if TYPE_CHECKING:
    from bench.schedule.service import ServiceScheduler, ServiceSetup


class Service(BaseScenario):
    name = SERVICE
    takes_workloads = False  # a task's readiness is its first line (bench.measure.service)
    sample_kinds = TASK_METRICS + SERVICE_PHASES

    def check(self, config: Config) -> None:
        """A service run of modes that are not swarm modes is refused before anything starts: one sentence."""
        plain = [m.name for m in config.modes if not m.swarm]
        if plain:
            raise UserError(
                f"--scenario service runs swarm services only, and mode {', '.join(plain)} is not a swarm mode: "
                "choose --mode swarm-runc --mode swarm-runsc (the local swarm), or give a mode swarm = true and "
                "placement."
            )

    def extra_s(self, config: Config) -> float:
        """What one service adds to a cycle's length (a lease renews between services only)."""
        s = config.service
        return s.ready_s + s.scale_down_s + s.remove_s + 30.0

    def open(self, ctx: RunContext) -> "ServiceSession":
        """Each mode's service checks and the nodes' event streams (bench.schedule.service.prepare)."""
        from bench.schedule import service as svc

        session = ServiceSession(ctx, svc.prepare(ctx.config, ctx.runtimes, ctx.run_id, ctx.say))
        if not session.setup.contexts:
            session.close()
            raise UserError("no mode can run services: " + " ".join(session.setup.skipped.values()))
        return session

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan:
        return cannot_resume(rs, SERVICE)


@dataclass
class ServiceSession:
    ctx: RunContext
    setup: "ServiceSetup"
    scheduler: Optional["ServiceScheduler"] = None

    def sweep(self, live: dict[str, set[str]]) -> int:
        """Services first: a dead run's tasks would come back after their containers went."""
        from bench.engine.service import api as service_api

        for c in self.setup.contexts:
            rt = c.target.runtime
            gone = service_api.sweep(rt.client, None, rt.mode.timeouts.remove, live.get(rt.endpoint.base_url, {"*"}))
            if gone:
                self.ctx.say(f"  swept service(s) left by runs that are gone: {', '.join(gone)}")
        swept, _ = sweep_all(self.ctx.runtimes, None, live)
        return swept

    def facts(self) -> HeaderFacts:
        from bench.schedule import service as svc

        harness = {"executor": "swarm services", "timing": svc.TIMING}
        return HeaderFacts(harness=harness, service=self.setup.header(self.ctx.config))

    def check_size(self, header: Header, results_dir: Path) -> None:
        return None  # a service's samples depend on its tasks' fates: not estimated

    def units(self, start: Start) -> "ServiceScheduler":
        from bench.schedule import service as svc

        self.scheduler = svc.ServiceScheduler(
            self.setup, self.ctx.config, start.writer, start.seed, self.ctx.say, between=start.renew
        )
        return self.scheduler

    def finish(self, units: Any) -> Cleanup:
        """The run's services and task containers go, then its label is swept."""
        from bench.schedule import service as svc

        removed, stuck = svc.finish(self.setup, self.ctx.run_id, END_SLACK_S)
        swept, leaked = sweep_all(self.ctx.runtimes, self.ctx.run_id, timeout=END_SLACK_S)
        lost = self.scheduler.leaked if self.scheduler else []
        warnings: tuple[str, ...] = ()
        if lost:
            warnings = (
                f"  warning: service(s) {', '.join(lost)} could not be removed (the manager did not answer): "
                "the next run's sweep, or 'isobench sweep' against the manager, removes them",
            )
        return Cleanup(swept, sorted(set(leaked + stuck + lost)), leaked + stuck, warnings)

    def close(self) -> None:
        """Whatever happened: svc.finish does its work once."""
        from bench.schedule import service as svc

        svc.finish(self.setup, self.ctx.run_id, END_SLACK_S)


SCENARIO = Service()
