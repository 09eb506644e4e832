"""`bench run`: preflight, sweep, header, rounds, end record, sweep again.

The order matters: the results directory is proven writable before any
container starts; leftovers are swept before the first cycle; the end record
is written whatever happened (complete, interrupted, failed) and the run's
containers are swept on the way out.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from bench.core import outcomes, signals
from bench.core.config import Config, RunSettings
from bench.core.errors import Terminated, UserError
from bench.core.labels import RUN_LABEL
from bench.core.paths import host_results_dir, safe_name
from bench.core.phases import CYCLE_SHAPES, SCALE, SCALE_SCENARIOS, SERVICE
from bench.engine import hostinfo, preflight
from bench.engine.control import restart as engine_control
from bench.engine.events import EventCollector
from bench.engine.lease import DEFAULT_TTL_S, EngineLease
from bench.engine.sweep import sweep
from bench.measure import lean, wire
from bench.measure.cost import CostProbe
from bench.measure.docker import DockerExecutor
from bench.measure.scale import ScaleRunner, engine_is_local
from bench.results import estimate, resultset
from bench.results.header import header_record
from bench.schedule.progress import progress_view, say_stderr
from bench.schedule.scale import ScaleScheduler, done_units, plan, scenarios_of
from bench.schedule.scheduler import Outcome, Scheduler, end_record

EXIT_CODES = {"complete": 0, "failed": 1}
# A run stopped early for a reason of its own (the end record's `stop`) has its own code; a full results
# folder is ResultsDiskFull's (4), raised as one sentence (bench.results.resultset).
STOP_EXIT_CODES = {outcomes.ENGINE_DISK_FULL: 5}
# End-of-run cleanup takes at most the longest remove timeout (of the modes with containers left)
# plus this, whatever is stuck; so the process exits within that bound after its last round.
END_SLACK_S = 5.0


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


def result_path(results_dir: Path, host: str, engine_versions: list[str], when: dt.datetime) -> Path:
    engines = "+".join(sorted({safe_name(v) for v in engine_versions if v})) or "unknown"
    name = f"{when.strftime('%Y%m%dT%H%M%SZ')}_{safe_name(host)}_docker-{engines}.jsonl"
    return host_results_dir(results_dir, host) / name


def build_header(
    config: Config,
    run_id: str,
    seed: int,
    checks: list[preflight.ModeCheck],
    swept: int,
    harness: dict[str, Any],
    cold: dict[str, Any],
    leases: "Leases",
) -> dict[str, Any]:
    return header_record(
        run_id=run_id,
        seed=seed,
        config=config.to_record(),
        host=hostinfo.host_facts(),
        python=hostinfo.python_facts(),
        packages=hostinfo.package_versions(),
        modes={c.name: c.record for c in checks if c.usable},
        skipped={c.name: c.record for c in checks if not c.usable},
        swept_at_start=swept,
        harness=harness,
        cold=cold,
        leases=leases.header(),
        concurrent=leases.concurrent,
        scale=scale_header(config, [c.runtime for c in checks if c.runtime is not None]),
    )


SCALE_RUNS = SCALE_SCENARIOS + (SCALE,)


def is_scale(config: Config) -> bool:
    return config.run.scenario in SCALE_RUNS


def check_scale(config: Config) -> None:
    """A scale run that could measure nothing is refused before anything starts: one sentence."""
    if not is_scale(config):
        return
    s, wanted = config.scale, scenarios_of(config.run.scenario, config.scale)
    if "burst" in wanted and not any(s.levels_for(m.name) for m in config.modes):
        raise UserError("no burst level to run: give --burst a list such as 1,2,4,8 (and check [scale] burst_levels).")
    if "density" in wanted and all(m.name in s.density_skip for m in config.modes):
        raise UserError("every mode is in [scale] density_skip: no density steps to run; choose another mode.")
    if s.density_step > s.density_max and "density" in wanted:
        raise UserError(
            f"--density-step {s.density_step} is more than --density-max {s.density_max}: no step would fit."
        )


def scale_extra_s(config: Config) -> float:
    """What a scale group adds to a cycle's length (a lease renews between groups only)."""
    return config.scale.barrier_s + config.scale.rate_duration_s + 60.0 if is_scale(config) else 0.0


def scale_header(config: Config, runtimes: list[preflight.ModeRuntime]) -> Optional[dict[str, Any]]:
    """What a scale run runs, and every bound it obeys beyond the config's own keys."""
    if not is_scale(config):
        return None
    s = config.scale
    return {
        "scenarios": list(scenarios_of(config.run.scenario, s)),
        "levels": {rt.mode.name: list(s.levels_for(rt.mode.name)) for rt in runtimes},
        "rates": list(s.rates_or_default()) if "rate" in scenarios_of(config.run.scenario, s) else [],
        "density_modes": [rt.mode.name for rt in runtimes if rt.mode.name not in s.density_skip],
        "groups_planned": sum(len(r) for r in plan(config.run.scenario, s, [rt.mode.name for rt in runtimes], 0, 0)),
        "bounds": {
            rt.mode.name: {
                "prepare_s": rt.mode.timeouts.ping + 5.0,
                "hold_s": rt.mode.timeouts.ping
                + 5.0
                + rt.mode.timeouts.create
                + rt.mode.timeouts.start
                + rt.mode.timeouts.ready
                + 5.0,
                "teardown_s": 3 * rt.mode.timeouts.remove,
                "arrival_lead_s": "1 + 0.02 per arrival",
            }
            for rt in runtimes
        },
        "timing": lean.TIMING,
        "engine_on_this_host": {rt.mode.name: engine_is_local(rt) for rt in runtimes},
    }


def _reconnector(rt: preflight.ModeRuntime) -> bool:
    """Whether the engine takes a new connection and answers. Never the run's own client: a pooled
    connection can outlive the engine's listener (a stopping dockerd still answers on open
    connections after its socket is gone), so it would call an engine that is going away "back"."""
    try:
        client = rt.new_client()
    except Exception:
        return False
    try:
        client.ping()
        return True
    except Exception:
        return False
    finally:
        client.close()


def _vm_for_run(config: Config, say: Callable[[str], None]) -> bool:
    """Joins the VM engine's users when a selected mode needs it, booting it if none is up; the run
    leaves on every exit path (see run()), and the last run to leave stops a VM a run booted. Returns
    whether the run joined. Where the VM cannot come up, the run goes on: preflight skips the mode."""
    if not any(m.endpoint == "vm" for m in config.modes):
        return False
    from bench.engine.control.vm import qemu as vm

    try:
        state, joined = vm.up_for_run(say=lambda m: say(f"  {m}"))
    except UserError as exc:
        say(f"  the VM engine cannot come up: {exc}")
        return False
    if joined:
        _load_vm_image(say)
    return joined


def _load_vm_image(say: Callable[[str], None]) -> None:
    """The VM keeps its storage in memory: a freshly booted one needs the test image again (untimed)."""
    from bench.engine.control.vm.qemu import vm_client
    from bench.engine.image import ensure_image

    try:
        ensure_image(vm_client(timeout=120))
    except Exception as exc:  # preflight then skips the mode with the engine's own words
        say(f"  the VM engine is up but the test image could not be loaded: {exc}")


def run(
    config: Config,
    *,
    results_dir: Optional[Path] = None,
    show_progress: bool = True,
    say: Callable[[str], None] = say_stderr,
    allow_concurrent: bool = False,
) -> tuple[int, Optional[Path]]:
    """Runs the benchmark. Returns (exit code, result file). Every exit path (an error, Ctrl-C,
    SIGTERM) removes the run's containers, releases its leases and stops a VM it booted."""
    results_dir = Path(results_dir or config.run.results_dir)
    check_results_dir(results_dir)
    check_scale(config)
    check_service(config)
    run_id = uuid.uuid4().hex[:12]
    seed = config.run.seed if config.run.seed is not None else random.SystemRandom().randrange(2**31)
    runtimes: list[preflight.ModeRuntime] = []
    leases = Leases(run_id, allow_concurrent)
    leases.extra_s = scale_extra_s(config) + service_extra_s(config)
    joined_vm = owns_swarm = False
    try:
        joined_vm = _vm_for_run(config, say)
        owns_swarm = _swarm_for_run(config, say)
        checks = preflight.check_modes(config.modes, run_id)
        for c in checks:
            say(f"  {c.name}: " + ("ok" if c.usable else f"skipped: {c.reason}"))
        runtimes = [c.runtime for c in checks if c.usable and c.runtime is not None]
        if not runtimes:
            raise UserError(preflight.none_usable_message(checks))
        leases.acquire(runtimes, say)
        return _run_usable(config, run_id, seed, checks, runtimes, results_dir, show_progress, say, leases)
    finally:
        _leave(runtimes, run_id, leases, joined_vm, say)
        if owns_swarm:
            _swarm_down(say)


def _leave(
    runtimes: list[preflight.ModeRuntime], run_id: str, leases: "Leases", joined_vm: bool, say: Callable[[str], None]
) -> None:
    """The last steps of every exit path, each guarded so that a second Ctrl-C during one still
    lets the others run: the VM first (its containers go with it, and it must never outlive the
    run), then this run's containers (preflight's trial containers carry its label too), then the leases."""
    steps: list[Callable[[], Any]] = []
    if joined_vm:
        from bench.engine.control.vm import qemu as vm

        steps.append(lambda: vm.leave(say=lambda m: say(f"  {m}")))
    if not leases.run_cleaned:
        steps.append(lambda: sweep_all(runtimes, run_id))
    steps.append(leases.release)
    for step in steps:
        try:
            step()
        except (KeyboardInterrupt, Terminated):
            signals.note_hurry()
            continue


def sweep_all(
    runtimes: list[preflight.ModeRuntime],
    run_id: Optional[str],
    keep_runs: Optional[dict[str, set[str]]] = None,
    timeout: Optional[float] = None,
) -> tuple[int, list[str]]:
    """Sweeps every distinct engine of ``runtimes``: ``run_id``'s containers, or (None) those of runs
    that hold no live lease there (``keep_runs``: engine url -> live run ids). Bounded per engine
    by the longest remove timeout of its modes."""
    removed, stuck, seen = 0, [], set()
    for rt in runtimes:
        url = rt.endpoint.base_url
        if url in seen:
            continue
        seen.add(url)
        limit = timeout or max(r.mode.timeouts.remove for r in runtimes if r.endpoint.base_url == url)
        try:
            n, left = sweep(
                rt.client, run_id, timeout=signals.remaining_budget(limit), keep_runs=(keep_runs or {}).get(url, set())
            )
            removed += n
            stuck += left
        except Exception:
            pass
    return removed, stuck


class Leases:
    """This run's lease on each engine it measures (see bench.engine.lease)."""

    def __init__(self, run_id: str, allow_concurrent: bool) -> None:
        self.run_id = run_id
        self.allow_concurrent = allow_concurrent
        self.by_url: dict[str, EngineLease] = {}
        # Set once the rounds' own bounded cleanup ran: the last sweep on the way out then has
        # nothing to do but wait again on what a hung runtime holds, so it is skipped.
        self.run_cleaned = False
        self.extra_s = 0.0  # a scale group's length beyond a cycle's (see lease_ttl)

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
    or scale group (``extra_s`` more)."""
    t = [r.mode.timeouts for r in runtimes if r.endpoint.base_url == url]
    longest = max(x.create + x.start + x.ready + x.exec + x.stop + x.remove + x.engine_stop + x.engine_up for x in t)
    return max(DEFAULT_TTL_S, 2 * (longest + extra_s))


def engine_controls(
    config: Config, runtimes: list[preflight.ModeRuntime], say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """For the cold scenario: (mode -> engine control, mode -> what the header records).
    A cold-only run where no mode has a control is refused before anything runs."""
    if config.run.scenario not in ("cold", "both"):
        return {}, {}
    controls, records, reasons = {}, {}, {}
    for rt in runtimes:
        control, reason = engine_control.control_for(rt.mode, rt.endpoint)
        if control is None:
            reasons[rt.mode.name] = reason
            records[rt.mode.name] = {"skip_reason": reason}
            say(f"  {rt.mode.name}: no cold rounds: {reason}")
        else:
            controls[rt.mode.name] = control
            records[rt.mode.name] = control.record()
    if not controls and config.run.scenario == "cold":
        raise UserError(
            "no mode can run the cold scenario: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()) + "."
        )
    return controls, records


def _run_usable(
    config: Config,
    run_id: str,
    seed: int,
    checks: list[preflight.ModeCheck],
    runtimes: list[preflight.ModeRuntime],
    results_dir: Path,
    show_progress: bool,
    say: Callable[[str], None],
    leases: Leases,
) -> tuple[int, Optional[Path]]:
    if config.run.scenario == SERVICE:  # swarm services (bench.schedule.service)
        return _run_services(config, run_id, seed, checks, runtimes, results_dir, say, leases)
    controls, cold = engine_controls(config, runtimes, say)
    swept, _ = sweep_all(runtimes, None, leases.live_runs())
    if swept:
        say(f"  swept {swept} container(s) left by runs that are gone")
    host = hostinfo.host_facts()["hostname"]
    engines = [str((rt.record.get("engine") or {}).get("version") or "") for rt in runtimes]
    path = result_path(results_dir, host, engines, dt.datetime.now(dt.timezone.utc))
    harness = {
        "executor": "docker",
        "timing": "perf_counter_ns around one request: the request built before the clock starts",
        # per mode: the path the timed requests took (bench.measure.wire, or docker-py where it cannot go)
        "timing_paths": {rt.mode.name: "raw HTTP/1.1 on a pre-opened keep-alive connection"
                         if wire.supported(rt.endpoint) else "docker-py APIClient" for rt in runtimes},
        "cycle_shapes": {rt.mode.name: rt.mode.cycle for rt in runtimes},
    }  # fmt: skip
    if is_scale(config):  # bursts, rate runs and density steps time through docker-py, one client each
        harness.update(timing=lean.TIMING, timing_paths={rt.mode.name: lean.path_for(rt) for rt in runtimes})
    with CostProbe.for_run(runtimes, say) as probe:  # CPU per cycle, the waterfall (issue 23); closed on every path
        harness["cost"] = probe.header()
        header = build_header(config, run_id, seed, checks, swept, harness, cold, leases)
        warn_if_small(config, runtimes, header, results_dir, say)
        writer = resultset.ResultWriter.create(path, header)
        say(f"  writing {path}")
        return _execute(
            config, run_id, seed, runtimes, writer, show_progress, say, controls=controls, leases=leases, probe=probe
        )


def warn_if_small(
    config: Config,
    runtimes: list[preflight.ModeRuntime],
    header: dict[str, Any],
    results_dir: Path,
    say: Callable[[str], None],
) -> Optional[estimate.SetSize]:
    """Preflight's size check: a warning (the run still starts) when the results folder has less than twice
    the set's estimated size free. Scale sets (groups of many containers) are not estimated."""
    if is_scale(config):
        return None
    r = config.run
    rounds = (r.warmup + r.rounds if r.scenario in ("warm", "both") else 0) + (
        r.cold_rounds if r.scenario in ("cold", "both") else 0
    )
    shapes = {rt.mode.name: CYCLE_SHAPES[rt.mode.cycle] for rt in runtimes}
    size = estimate.estimate(header, rounds, shapes)
    free = resultset.free_bytes(results_dir)
    if 0 <= free < estimate.HEADROOM * size.total:
        say(
            f"  warning: the results folder {results_dir} has {free // 1024} KiB free, less than twice the set's "
            f"estimated {size.total // 1024} KiB ({size.describe()}): it may fill before the run ends (the run "
            "then stops, keeps every complete record and can be resumed elsewhere)"
        )
    return size


def _end_cleanup(
    executor: DockerExecutor, runtimes: list[preflight.ModeRuntime], run_id: str, say: Callable[[str], None]
) -> tuple[int, list[str]]:
    """Removes what the cycles could not, then sweeps the run's label. Bounded as a whole, whatever a
    hung runtime holds: the longest remove timeout of the modes with something to remove, plus
    END_SLACK_S for the sweep. Returns (swept, short ids left)."""
    pending_modes = {rt.mode.name for rt in executor.pending_cleanup.values()}
    budget = max((rt.mode.timeouts.remove for rt in runtimes if rt.mode.name in pending_modes), default=0.0)
    leaked: list[str] = sorted(c[:12] for c in executor.pending_cleanup)
    swept = 0
    try:
        leaked = executor.retry_pending(signals.remaining_budget(budget))
        left = {c["Id"][:12] for rt in runtimes for c in _labelled_quietly(rt, run_id)} - set(leaked)
        if left:
            swept, stuck = sweep_all(runtimes, run_id, timeout=END_SLACK_S)
            leaked += stuck
    except (KeyboardInterrupt, Terminated):
        signals.note_hurry()
        say("  cleanup cut short by a second stop signal")
    return swept, sorted(set(leaked))


def _labelled_quietly(rt: preflight.ModeRuntime, run_id: str) -> list[dict[str, Any]]:
    from bench.engine.sweep import labelled

    try:
        return labelled(rt.client, run_id, timeout=rt.mode.timeouts.ping)
    except Exception:
        return []


def _execute(
    config: Config,
    run_id: str,
    seed: int,
    runtimes: list[preflight.ModeRuntime],
    writer: resultset.ResultWriter,
    show_progress: bool,
    say: Callable[[str], None],
    first_round: int = 0,
    controls: Optional[dict[str, Any]] = None,
    leases: Optional[Leases] = None,
    scale_done: Optional[tuple[set[Any], int]] = None,
    probe: Optional[CostProbe] = None,
) -> tuple[int, Optional[Path]]:
    """Rounds, then the end record and the final cleanup, whatever happened. ``scale_done``: for a
    resumed scale set, the groups it holds and the next group id."""
    path = writer.path
    collectors: dict[str, EventCollector] = {}
    by_url: dict[str, EventCollector] = {}
    for rt in runtimes:
        url = rt.endpoint.base_url
        if url not in by_url:
            by_url[url] = EventCollector(rt.new_client, f"{RUN_LABEL}={run_id}").start()
        collectors[rt.mode.name] = by_url[url]
    executor = DockerExecutor(run_id, collectors, probe)
    progress = progress_view(show_progress)
    renew = leases.renew if leases else None
    scheduler: Scheduler
    if is_scale(config):
        done, first_burst = scale_done or (set(), 0)
        runner = ScaleRunner(executor, config.scale)
        scheduler = ScaleScheduler(
            config.run, config.scale, runtimes, runner, writer, seed, progress, _reconnector, renew, first_burst, done
        )
    else:
        scheduler = Scheduler(
            config.run, runtimes, executor, writer, seed, progress, reconnect=_reconnector,
            first_round=first_round, controls=controls, between_cycles=renew,
        )  # fmt: skip
    outcome = None
    try:
        outcome = scheduler.run()
    finally:
        if outcome is None:  # an error escaped the scheduler: still close the set honestly
            outcome = _escaped_outcome(scheduler)
        swept, leaked = _end_cleanup(executor, runtimes, run_id, say)
        if leases is not None:
            leases.run_cleaned = True
        for c in by_url.values():
            c.close()
        writer.close(end_record(outcome, swept, leaked, leases.end() if leases else None))
    if writer.full is not None:  # the end record did not fit: the set is cut off, and the user is told so
        raise writer.full
    _say_end(outcome, path, leaked, say)
    if outcome.interrupted is not None:
        code = 143 if isinstance(outcome.interrupted, Terminated) else 130
        return code, path
    return exit_code(outcome), path


def exit_code(outcome: Outcome) -> int:
    return STOP_EXIT_CODES.get(outcome.stop or "", EXIT_CODES.get(outcome.status, 1))


def _escaped_outcome(scheduler: Scheduler) -> Outcome:
    """The outcome when an exception escaped the scheduler. A stop signal, or an output that went
    away (a closed pipe: `make bench | tee log` after Ctrl-C), is an interruption, not an internal error."""
    exc = sys.exc_info()[1]
    if isinstance(exc, resultset.ResultsDiskFull):  # the cycle in flight did not fit: stop, clean up, say so
        reason = f"the results folder {exc.path.parent} filled up ({exc.free_bytes} bytes free)"
        return Outcome(
            "failed", reason, getattr(scheduler, "_measured", 0), scheduler.tally, stop=outcomes.RESULTS_DISK_FULL
        )
    if isinstance(exc, (KeyboardInterrupt, Terminated)):
        reason = "SIGINT (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        return Outcome("interrupted", reason, 0, scheduler.tally, exc)
    if isinstance(exc, (BrokenPipeError, SystemExit)):
        return Outcome("interrupted", f"output closed ({exc!r})", 0, scheduler.tally, KeyboardInterrupt())
    return Outcome("failed", "internal error: " + repr(exc), 0, scheduler.tally)


def _say_end(outcome: Outcome, path: Path, leaked: list[str], say: Callable[[str], None]) -> None:
    if outcome.stop:  # an early stop of its own (engine_disk_full) is one sentence that says what to do
        say(f"isobench: {outcome.reason}.")
    else:
        say(f"  {outcome.status}: {outcome.reason}; {outcome.tally.cycles} measured cycles -> {path}")
    if leaked:
        say(
            f"  warning: {len(leaked)} container(s) could not be removed (a hung runtime holds them; the "
            f"calls that remove them were abandoned, and the next run sweeps them): {', '.join(leaked)}"
        )


# -- the service scenario (issue #13): swarm services on a manager ---------------------------


def check_service(config: Config) -> None:
    """A service run of modes that are not swarm modes is refused before anything starts: one sentence."""
    plain = [m.name for m in config.modes if not m.swarm]
    if config.run.scenario == SERVICE and plain:
        raise UserError(
            f"--scenario service runs swarm services only, and mode {', '.join(plain)} is not a swarm mode: choose "
            "--mode swarm-runc --mode swarm-runsc (the local swarm), or give a mode swarm = true and placement."
        )


def service_extra_s(config: Config) -> float:
    """What one service adds to a cycle's length (a lease renews between services only)."""
    s = config.service
    return s.ready_s + s.scale_down_s + s.remove_s + 30.0 if config.run.scenario == SERVICE else 0.0


def _swarm_for_run(config: Config, say: Callable[[str], None]) -> bool:
    """Brings the local swarm up when a selected mode runs on it (endpoint "swarm") and none is
    healthy; the run then owns it and brings it down on every exit path (see run()). A healthy swarm
    someone brought up is used and left up. Where it cannot come up, preflight skips its modes."""
    if not any(m.endpoint == "swarm" for m in config.modes):
        return False
    from bench.engine import swarm

    if swarm.health(swarm.load_state()) is None:
        return False
    try:
        swarm.up(say=lambda m: say(f"  {m}"))
    except UserError as exc:
        say(f"  the local swarm cannot come up: {exc}")
        return False
    return True


def _swarm_down(say: Callable[[str], None]) -> None:
    """The swarm this run brought up goes, whatever happened; a second Ctrl-C leaves it for
    `isobench swarm down` and says so."""
    from bench.engine import swarm

    try:
        swarm.down(say=lambda m: say(f"  {m}"))
    except (KeyboardInterrupt, Terminated):
        signals.note_hurry()
        say("  the local swarm was not brought down (second stop signal): run 'isobench swarm down'")
    except UserError as exc:
        say(f"  {exc}")


def _run_services(
    config: Config,
    run_id: str,
    seed: int,
    checks: list[preflight.ModeCheck],
    runtimes: list[preflight.ModeRuntime],
    results_dir: Path,
    say: Callable[[str], None],
    leases: Leases,
) -> tuple[int, Optional[Path]]:
    """Service checks, sweeps of runs that are gone, the header, then the rounds; the run's services
    and task containers are swept whatever happened (bench.schedule.service.finish)."""
    from bench.engine.service import api as service_api
    from bench.schedule import service as svc

    setup = svc.prepare(config, runtimes, run_id, say)
    try:
        if not setup.contexts:
            raise UserError("no mode can run services: " + " ".join(setup.skipped.values()))
        live = leases.live_runs()
        for ctx in setup.contexts:  # services first: a dead run's tasks would come back after their containers went
            rt = ctx.target.runtime
            gone = service_api.sweep(rt.client, None, rt.mode.timeouts.remove, live.get(rt.endpoint.base_url, {"*"}))
            if gone:
                say(f"  swept service(s) left by runs that are gone: {', '.join(gone)}")
        swept, _ = sweep_all(runtimes, None, live)
        host = hostinfo.host_facts()["hostname"]
        engines = [str((rt.record.get("engine") or {}).get("version") or "") for rt in runtimes]
        path = result_path(results_dir, host, engines, dt.datetime.now(dt.timezone.utc))
        harness = {"executor": "swarm services", "timing": svc.TIMING}
        header = build_header(config, run_id, seed, checks, swept, harness, {}, leases)
        header["service"] = setup.header(config)
        writer = resultset.ResultWriter.create(path, header)
        say(f"  writing {path}")
        return _service_rounds(setup, config, seed, writer, runtimes, run_id, say, leases)
    finally:
        svc.finish(setup, run_id, END_SLACK_S)


def _service_rounds(
    setup: Any,
    config: Config,
    seed: int,
    writer: resultset.ResultWriter,
    runtimes: list[preflight.ModeRuntime],
    run_id: str,
    say: Callable[[str], None],
    leases: Leases,
) -> tuple[int, Optional[Path]]:
    from bench.schedule import service as svc

    scheduler = svc.ServiceScheduler(setup, config, writer, seed, say, between=leases.renew)
    outcome = None
    try:
        outcome = scheduler.run()
    finally:
        if outcome is None:
            outcome = _escaped_outcome(scheduler)  # type: ignore[arg-type]
        removed, stuck = svc.finish(setup, run_id, END_SLACK_S)
        swept, leaked = sweep_all(runtimes, run_id, timeout=END_SLACK_S)
        leases.run_cleaned = True
        writer.close(end_record(outcome, swept, sorted(set(leaked + stuck + scheduler.leaked)), leases.end()))
    if writer.full is not None:
        raise writer.full
    _say_end(outcome, writer.path, leaked + stuck, say)
    if scheduler.leaked:
        say(
            f"  warning: service(s) {', '.join(scheduler.leaked)} could not be removed (the manager did not answer): "
            "the next run's sweep, or 'isobench sweep' against the manager, removes them"
        )
    if outcome.interrupted is not None:
        return (143 if isinstance(outcome.interrupted, Terminated) else 130), writer.path
    return exit_code(outcome), writer.path


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run still has to do (a pure function of the set so far: see plan_resume)."""

    rounds_done: int
    rounds_remaining: int
    cold_done: int
    cold_remaining: int
    first_round: int
    seed: int
    settings: RunSettings


def plan_resume(samples: list[dict[str, Any]], settings: RunSettings, seed: int, resumes_so_far: int) -> ResumePlan:
    """Rounds left to run, where numbering goes on, and the new seed (a fresh order for the rounds
    after the gap, reproducible from the header's seed). Warm rounds first, as in the original run;
    once they are done only cold ones remain."""
    done = {s["round"] for s in samples if not s["warmup"] and s["scenario"] != "cold"}
    cold_done = {s["round"] for s in samples if s["scenario"] == "cold"}
    remaining = max(0, settings.rounds - len(done)) if settings.scenario != "cold" else 0
    cold_remaining = max(0, settings.cold_rounds - len(cold_done))
    scenario = settings.scenario if remaining or settings.scenario == "cold" else "cold"
    if scenario == "cold" and not cold_remaining:
        scenario = "warm"
    resumed = replace(
        settings,
        rounds=max(1, remaining),
        min_rounds=min(settings.min_rounds, max(1, remaining)),
        scenario=scenario,
        cold_rounds=cold_remaining,
    )
    return ResumePlan(
        rounds_done=len(done),
        rounds_remaining=remaining,
        cold_done=len(cold_done),
        cold_remaining=cold_remaining,
        first_round=max((s["round"] for s in samples), default=-1) + 1,
        seed=seed + 7919 * (resumes_so_far + 1),
        settings=resumed,
    )


def _check_resumable(path: Path, rs: resultset.ResultSet, checks: list[preflight.ModeCheck]) -> None:
    recorded = rs.header.get("modes", {})
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


def resume_record(rs: resultset.ResultSet, plan: ResumePlan, swept: int, leases: Leases) -> dict[str, Any]:
    """The `resume` line: when the gap began, how the earlier part ended, what is left to do."""
    return {
        "type": "resume", "resumed_ns": time.time_ns(),
        "gap_from_ns": max((s["wall_ns"] for s in rs.samples), default=None),
        "previous_end": rs.end.get("status") if rs.end else None,
        "rounds_done": plan.rounds_done, "rounds_remaining": plan.rounds_remaining, "seed": plan.seed,
        "cold_rounds_done": plan.cold_done, "cold_rounds_remaining": plan.cold_remaining,
        "swept_at_resume": swept, "warnings": rs.warnings, "leases": leases.header(), "concurrent": leases.concurrent,
    }  # fmt: skip


def resume(
    path: Path, *, show_progress: bool = True, say: Callable[[str], None] = say_stderr, allow_concurrent: bool = False
) -> tuple[int, Optional[Path]]:
    """Continues an interrupted or killed result set: same header and run id (and so the same
    lease, retaken), rounds appended after a `resume` record that notes the gap. Refuses when
    the modes or engines no longer match what the header recorded."""
    path = Path(path)
    rs = resultset.read_resultset(path)
    for w in rs.warnings:
        say(f"  {w}")
    if rs.end is not None and rs.end.get("status") == "complete":
        raise UserError(f"{path} is already complete: start a new run instead of resuming it.")
    config = Config.from_record(rs.header.get("config") or {})
    if config.run.scenario == SERVICE:
        raise UserError(f"{path} is a service set: its services cannot be resumed; start a new run.")
    run_id, seed = rs.run_id, int(rs.header.get("seed") or 0)
    check_results_dir(path.parent)
    runtimes: list[preflight.ModeRuntime] = []
    leases = Leases(run_id, allow_concurrent)
    joined_vm = False
    try:
        joined_vm = _vm_for_run(config, say)
        checks = preflight.check_modes(config.modes, run_id)
        runtimes = [c.runtime for c in checks if c.usable and c.runtime is not None]
        _check_resumable(path, rs, checks)
        leases.acquire(runtimes, say)
        controls, _ = engine_controls(config, runtimes, say)
        # The set's own leftovers are the killed process's: its run id is live again (this resume holds
        # the lease under it), so they are named for removal here rather than kept.
        live = {url: runs - {run_id} for url, runs in leases.live_runs().items()}
        swept, _ = sweep_all(runtimes, None, live)
        plan, scale_done = (
            plan_scale_resume(rs, config, seed)
            if is_scale(config)
            else (plan_resume(rs.samples, config.run, seed, len(rs.resumes)), None)
        )
        writer = resultset.ResultWriter.reopen(path)
        writer.append([resume_record(rs, plan, swept, leases)])
        say(
            f"  resuming {path}: {plan.rounds_done} {'groups' if scale_done else 'measured rounds'} done, "
            f"{plan.rounds_remaining} to go" + (f"; swept {swept} leftover container(s)" if swept else "")
        )
        return _execute(
            replace(config, run=plan.settings),
            run_id,
            plan.seed,
            runtimes,
            writer,
            show_progress,
            say,
            first_round=plan.first_round,
            controls=controls,
            leases=leases,
            scale_done=scale_done,
        )
    finally:
        _leave(runtimes, run_id, leases, joined_vm, say)


def plan_scale_resume(rs: resultset.ResultSet, config: Config, seed: int) -> tuple[ResumePlan, tuple[set[Any], int]]:
    """A scale set goes on with the same seed, so the same plan: the groups it holds whole are
    skipped (an interrupted one runs again), and group ids go on after the last one written."""
    done = done_units(rs.samples)
    modes = [m.name for m in config.modes]
    total = sum(len(r) for r in plan(config.run.scenario, config.scale, modes, config.run.warmup, seed))
    first_burst = max((s["burst"] for s in rs.samples if s.get("burst") is not None), default=-1) + 1
    resumed = ResumePlan(
        rounds_done=len(done),
        rounds_remaining=max(0, total - len(done)),
        cold_done=0,
        cold_remaining=0,
        first_round=0,
        seed=seed,
        settings=config.run,
    )
    return resumed, (done, first_burst)
