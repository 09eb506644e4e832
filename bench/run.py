"""`bench run`: the driver of every scenario. Preflight, leases, header, the scenario's units, end
record, leave.

The order matters: the results directory is proven writable before any container starts; leftovers
are swept before the first unit; the end record is written whatever happened (complete, interrupted,
failed) and the run's containers are swept on the way out. What differs between scenarios is
theirs: bench.scenarios (one module per scenario, found by name in its registry)."""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

from bench import scenarios
from bench.core import signals
from bench.core.config import Config
from bench.core.errors import Terminated, UserError
from bench.core.labels import RUN_LABEL
from bench.core.paths import host_results_dir, safe_name
from bench.engine import drivers, hostinfo, hosts, preflight
from bench.engine.events import EventCollector
from bench.engine.leases import Leases
from bench.measure.cost import CostProbe
from bench.measure.docker import DockerExecutor
from bench.measure.leftovers import sweep_all
from bench.results import resultset
from bench.results.header import HeaderFacts, RunFacts, header_record
from bench.results.records import Header
from bench.scenarios.base import Cleanup, Executing, RunContext, Session, Start, refuse_workloads
from bench.schedule.ending import escaped_outcome, exit_code, say_end
from bench.schedule.progress import progress_view, say_stderr
from bench.schedule.scheduler import end_record

Say = Callable[[str], None]


def check_results_dir(results_dir: Path) -> None:
    """A clear error before any container starts when results cannot be written."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".isobench-probe-", delete=True) as fh:
            fh.write(b"x" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise UserError(
            f"results directory {results_dir} is not writable ({exc.strerror or exc}): "
            "free space or fix its permissions, or set run.results_dir / --results to another directory."
        ) from None


def result_path(results_dir: Path, host: str, engines: list[tuple[str, str]], when: dt.datetime) -> Path:
    """<time>_<host>_<kind>-<version>[+<kind>-<version>...].jsonl: every engine kind the modes ran on."""
    named = "+".join(sorted({f"{kind}-{safe_name(version or 'unknown')}" for kind, version in engines}))
    name = f"{when.strftime('%Y%m%dT%H%M%SZ')}_{safe_name(host)}_{named or 'docker-unknown'}.jsonl"
    return host_results_dir(results_dir, host) / name


def open_executor(runtimes: list[preflight.ModeRuntime], run_id: str, probe: Optional[CostProbe] = None) -> Executing:
    """The run's timed calls, one event stream per engine and the CPU probe (issue 23: none on a resumed
    part): the one place an executor is built."""
    collectors: dict[str, EventCollector] = {}
    by_url: dict[str, EventCollector] = {}
    for rt in runtimes:
        url = rt.endpoint.base_url
        if url not in by_url:
            by_url[url] = drivers.driver_for(rt.mode).events(rt.new_client, f"{RUN_LABEL}={run_id}")
        collectors[rt.mode.name] = by_url[url]
    return Executing(DockerExecutor(run_id, collectors, probe), tuple(by_url.values()))


def build_header(ctx: RunContext, seed: int, swept: int, facts: HeaderFacts, leases: Leases) -> Header:
    run = RunFacts(
        run_id=ctx.run_id,
        seed=seed,
        config=ctx.config.to_record(),
        host=hostinfo.host_facts(),
        modes={c.name: c.record for c in ctx.checks if c.usable},
        python=hostinfo.python_facts(),
        packages=hostinfo.package_versions(),
        skipped={c.name: c.record for c in ctx.checks if not c.usable},
        swept_at_start=swept,
        leases=leases.header(),
        concurrent=leases.concurrent,
    )
    return header_record(run, facts)


def run(
    config: Config,
    *,
    results_dir: Optional[Path] = None,
    show_progress: bool = True,
    say: Say = say_stderr,
    allow_concurrent: bool = False,
) -> tuple[int, Optional[Path]]:
    """Runs the benchmark. Returns (exit code, result file). Every exit path (an error, Ctrl-C,
    SIGTERM) removes the run's containers, releases its leases and stops a VM it booted."""
    results_dir = Path(results_dir or config.run.results_dir)
    check_results_dir(results_dir)
    scenario = scenarios.get(config.run.scenario)
    refuse_workloads(scenario, config)
    scenario.check(config)
    run_id = uuid.uuid4().hex[:12]
    seed = config.run.seed if config.run.seed is not None else random.SystemRandom().randrange(2**31)
    runtimes: list[preflight.ModeRuntime] = []
    leases = Leases(run_id, allow_concurrent)
    leases.extra_s = scenario.extra_s(config)
    needs = scenario.needs(config)
    joined_vm = owns_swarm = False
    try:
        joined_vm = needs.vm and hosts.join_vm(say)
        owns_swarm = needs.swarm and hosts.swarm_up(say)
        checks = preflight.check_modes(config.modes, run_id)
        for c in checks:
            say(f"  {c.name}: " + ("ok" if c.usable else f"skipped: {c.reason}"))
        runtimes = [c.runtime for c in checks if c.usable and c.runtime is not None]
        if not runtimes:
            raise UserError(preflight.none_usable_message(checks))
        leases.acquire(runtimes, say)
        with CostProbe.for_run(runtimes, say) as probe:  # CPU per cycle, the waterfall; closed on every path
            ctx = RunContext(
                config, run_id, tuple(checks), runtimes, say, lambda: open_executor(runtimes, run_id, probe)
            )
            session = scenario.open(ctx)
            try:
                return _write_new(session, ctx, seed, results_dir, show_progress, leases, probe)
            finally:
                session.close()
    finally:
        _leave(runtimes, run_id, leases, joined_vm, say)
        if owns_swarm:
            hosts.swarm_down(say)


def _write_new(
    session: Session,
    ctx: RunContext,
    seed: int,
    results_dir: Path,
    show_progress: bool,
    leases: Leases,
    probe: CostProbe,
) -> tuple[int, Optional[Path]]:
    """Sweeps what gone runs left, writes the header, then runs the units."""
    swept = session.sweep(leases.live_runs())
    host = hostinfo.host_facts()["hostname"]
    engines = [(rt.mode.engine, str((rt.record.get("engine") or {}).get("version") or "")) for rt in ctx.runtimes]
    path = result_path(results_dir, host, engines, dt.datetime.now(dt.timezone.utc))
    facts = session.facts()
    facts = replace(facts, harness={**facts.harness, "cost": probe.header()})  # how CPU was read, or why not
    header = build_header(ctx, seed, swept, facts, leases)
    session.check_size(header, results_dir)
    writer = resultset.ResultWriter.create(path, header)
    ctx.say(f"  writing {path}")
    return _execute(session, ctx, Start(writer, seed, progress_view(show_progress), leases.renew), leases)


def _execute(session: Session, ctx: RunContext, start: Start, leases: Leases) -> tuple[int, Optional[Path]]:
    """The units, then the end record and the final cleanup, whatever happened."""
    writer = start.writer
    units = session.units(start)
    outcome = None
    cleanup = Cleanup(0, [], [])
    try:
        outcome = units.run()
    finally:
        if outcome is None:  # an error escaped the scheduler: still close the set honestly
            outcome = escaped_outcome(units)
        cleanup = session.finish(units)
        leases.run_cleaned = True
        writer.close(end_record(outcome, cleanup.swept, cleanup.leaked, leases.end(), cleanup.registry_left))
    if writer.full is not None:  # the end record did not fit: the set is cut off, and the user is told so
        raise writer.full
    say_end(outcome, writer.path, cleanup.said, ctx.say)
    for warning in cleanup.warnings:
        ctx.say(warning)
    return exit_code(outcome), writer.path


def _leave(runtimes: list[preflight.ModeRuntime], run_id: str, leases: Leases, joined_vm: bool, say: Say) -> None:
    """The last steps of every exit path, each guarded so that a second Ctrl-C during one still
    lets the others run: the VM first (its containers go with it, and it must never outlive the
    run), then this run's containers (preflight's trial containers carry its label too), then the leases."""
    steps: list[Callable[[], Any]] = []
    if joined_vm:
        steps.append(lambda: hosts.leave_vm(say))
    if not leases.run_cleaned:
        steps.append(lambda: sweep_all(runtimes, run_id))
    steps.append(leases.release)
    for step in steps:
        try:
            step()
        except (KeyboardInterrupt, Terminated):
            signals.note_hurry()
            continue


def _check_resumable(path: Path, rs: resultset.ResultSet, checks: list[preflight.ModeCheck]) -> None:
    recorded = rs.header.modes
    now = {c.name: c.record for c in checks if c.usable}
    if set(now) != set(recorded):
        raise UserError(
            f"cannot resume {path}: usable modes were {', '.join(sorted(recorded))} and are now "
            f"{', '.join(sorted(now)) or 'none'}: fix the engine, or start a new run."
        )
    for name, rec in now.items():
        before = (recorded[name].get("engine") or {}).get("version")
        after = (rec.get("engine") or {}).get("version")
        if before != after:
            raise UserError(
                f"cannot resume {path}: mode {name!r}'s engine changed ({before} -> {after}): "
                "a set must hold one engine per mode; start a new run."
            )


def resume(
    path: Path, *, show_progress: bool = True, say: Say = say_stderr, allow_concurrent: bool = False
) -> tuple[int, Optional[Path]]:
    """Continues an interrupted or killed result set: same header and run id (and so the same
    lease, retaken), units appended after a `resume` record that notes the gap. Refuses when
    the modes or engines no longer match what the header recorded, or the scenario cannot resume."""
    path = Path(path)
    rs = resultset.read_resultset(path)
    for w in rs.warnings:
        say(f"  {w}")
    if rs.end is not None and rs.end.status == "complete":
        raise UserError(f"{path} is already complete: start a new run instead of resuming it.")
    config = scenarios.config_from_record(rs.header.config)
    run_id, seed = rs.run_id, rs.header.seed
    scenario = scenarios.get(config.run.scenario)
    plan = scenario.plan_resume(rs, config, seed)  # a pure function of the set: refusals come first
    check_results_dir(path.parent)
    runtimes: list[preflight.ModeRuntime] = []
    leases = Leases(run_id, allow_concurrent)
    joined_vm = False
    try:
        joined_vm = scenario.needs(config).vm and hosts.join_vm(say)  # as before: a resume brings up no swarm
        checks = preflight.check_modes(config.modes, run_id)
        runtimes = [c.runtime for c in checks if c.usable and c.runtime is not None]
        _check_resumable(path, rs, checks)
        leases.acquire(runtimes, say)
        ctx = RunContext(config, run_id, tuple(checks), runtimes, say, lambda: open_executor(runtimes, run_id))
        session = scenario.open(ctx)
        try:
            # The set's own leftovers are the killed process's: its run id is live again (this resume holds
            # the lease under it), so they are named for removal here rather than kept.
            live = {url: runs - {run_id} for url, runs in leases.live_runs().items()}
            swept, _ = sweep_all(runtimes, None, live)
            writer = resultset.ResultWriter.reopen(path)
            writer.append([plan.record(rs, swept, leases.header(), leases.concurrent)])
            say(
                f"  resuming {path}: {plan.rounds_done} {plan.unit_word} done, {plan.rounds_remaining} to go"
                + (f"; swept {swept} leftover container(s)" if swept else "")
            )
            start = Start(writer, plan.seed, progress_view(show_progress), leases.renew, plan)
            return _execute(session, ctx, start, leases)
        finally:
            session.close()
    finally:
        _leave(runtimes, run_id, leases, joined_vm, say)
