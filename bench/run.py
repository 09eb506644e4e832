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
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

from bench import engine_control, hostinfo, preflight, resultset
from bench.config import Config
from bench.cycle import DockerExecutor
from bench.errors import Terminated, UserError
from bench.events import EventCollector
from bench.paths import host_results_dir, safe_name
from bench.progress import NullProgress, ProgressView, RichProgress
from bench.schedule import Outcome, Scheduler, end_record
from bench.spec import RUN_LABEL
from bench.sweep import sweep

EXIT_CODES = {"complete": 0, "failed": 1}
END_CLEANUP_S = 60.0


def check_results_dir(results_dir: Path) -> None:
    """A clear error before any container starts when results cannot be written."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".isobench-probe-", delete=True) as fh:
            fh.write(b"x" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise UserError(f"results directory {results_dir} is not writable ({exc.strerror or exc}): "
                        "free space or fix its permissions, or set run.results_dir / --results to another directory.") from None


def result_path(results_dir: Path, host: str, engine_versions: list[str], when: dt.datetime) -> Path:
    engines = "+".join(sorted({safe_name(v) for v in engine_versions if v})) or "unknown"
    name = f"{when.strftime('%Y%m%dT%H%M%SZ')}_{safe_name(host)}_docker-{engines}.jsonl"
    return host_results_dir(results_dir, host) / name


def build_header(config: Config, run_id: str, seed: int, checks: list[preflight.ModeCheck], swept: int,
                 harness: dict[str, Any], cold: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return {
        "type": "header", "schema": resultset.SCHEMA_NAME, "version": resultset.SCHEMA_VERSION,
        "run_id": run_id, "created": dt.datetime.now(dt.timezone.utc).isoformat(), "created_ns": time.time_ns(),
        "seed": seed, "config": config.to_record(), "host": hostinfo.host_facts(),
        "python": hostinfo.python_facts(), "packages": hostinfo.package_versions(),
        "modes": {c.name: c.record for c in checks if c.usable},
        "skipped": {c.name: c.record for c in checks if not c.usable},
        "swept_at_start": swept, "harness": harness, "label": RUN_LABEL,
        # The cold scenario, per usable mode: how its engine is stopped and started, or why it cannot be.
        "cold": cold or {},
    }


class _SignalGuard:
    """SIGTERM raises Terminated in the main thread, as SIGINT raises KeyboardInterrupt."""

    def __enter__(self) -> "_SignalGuard":
        self._old = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: Any) -> None:
            raise Terminated(signum)

        signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGTERM, self._old)


def _reconnector(rt: preflight.ModeRuntime) -> bool:
    try:
        rt.client.ping()
        return True
    except Exception:
        return False


def run(config: Config, *, results_dir: Optional[Path] = None, show_progress: bool = True,
        say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> tuple[int, Optional[Path]]:
    """Runs the benchmark. Returns (exit code, result file)."""
    results_dir = Path(results_dir or config.run.results_dir)
    check_results_dir(results_dir)
    run_id = uuid.uuid4().hex[:12]
    seed = config.run.seed if config.run.seed is not None else random.SystemRandom().randrange(2**31)

    runtimes: list[preflight.ModeRuntime] = []
    with _SignalGuard():
        try:
            checks = preflight.check_modes(config.modes, run_id)
            for c in checks:
                say(f"  {c.name}: " + ("ok" if c.usable else f"skipped: {c.reason}"))
            runtimes = [c.runtime for c in checks if c.usable and c.runtime is not None]
            if not runtimes:
                raise UserError(preflight.none_usable_message(checks))
            return _run_usable(config, run_id, seed, checks, runtimes, results_dir, show_progress, say)
        finally:
            # Preflight's trial containers carry the run label too.
            _sweep_all(runtimes, run_id)


def _sweep_all(runtimes: list[preflight.ModeRuntime], run_id: Optional[str]) -> tuple[int, list[str]]:
    removed, stuck, seen = 0, [], set()
    for rt in runtimes:
        if rt.endpoint.base_url in seen:
            continue
        seen.add(rt.endpoint.base_url)
        try:
            n, left = sweep(rt.client, run_id, timeout=rt.mode.timeouts.remove)
            removed += n
            stuck += left
        except Exception:
            pass
    return removed, stuck


def engine_controls(config: Config, runtimes: list[preflight.ModeRuntime],
                    say: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """For the cold scenario: (mode -> engine control, mode -> what the header records).
    A cold-only run where no mode has a control is refused before anything runs."""
    if config.run.scenario == "warm":
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
        raise UserError("no mode can run the cold scenario: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()) + ".")
    return controls, records


def _run_usable(config: Config, run_id: str, seed: int, checks: list[preflight.ModeCheck],
                runtimes: list[preflight.ModeRuntime], results_dir: Path, show_progress: bool,
                say: Callable[[str], None]) -> tuple[int, Optional[Path]]:
    controls, cold = engine_controls(config, runtimes, say)
    swept, _ = _sweep_all(runtimes, None)
    if swept:
        say(f"  swept {swept} container(s) left by an earlier run")
    host = hostinfo.host_facts()["hostname"]
    engines = [str((rt.record.get("engine") or {}).get("version") or "") for rt in runtimes]
    path = result_path(results_dir, host, engines, dt.datetime.now(dt.timezone.utc))
    harness = {"executor": "docker", "timing": "perf_counter_ns around docker.APIClient calls"}
    writer = resultset.ResultWriter.create(path, build_header(config, run_id, seed, checks, swept, harness, cold))
    say(f"  writing {path}")
    return _execute(config, run_id, seed, runtimes, writer, show_progress, say, controls=controls)


def _execute(config: Config, run_id: str, seed: int, runtimes: list[preflight.ModeRuntime],
             writer: resultset.ResultWriter, show_progress: bool, say: Callable[[str], None],
             first_round: int = 0, controls: Optional[dict[str, Any]] = None) -> tuple[int, Optional[Path]]:
    """Rounds, then the end record and the final sweep, whatever happened."""
    path = writer.path
    collectors: dict[str, EventCollector] = {}
    by_url: dict[str, EventCollector] = {}
    for rt in runtimes:
        url = rt.endpoint.base_url
        if url not in by_url:
            by_url[url] = EventCollector(rt.new_client, f"{RUN_LABEL}={run_id}").start()
        collectors[rt.mode.name] = by_url[url]
    executor = DockerExecutor(run_id, collectors)
    progress: ProgressView = RichProgress() if show_progress else NullProgress()
    scheduler = Scheduler(config.run, runtimes, executor, writer, seed, progress, reconnect=_reconnector,
                          first_round=first_round, controls=controls)
    outcome = None
    try:
        outcome = scheduler.run()
    finally:
        if outcome is None:  # an error escaped the scheduler: still close the set honestly
            outcome = Outcome("failed", "internal error: " + repr(sys.exc_info()[1]), 0, scheduler.tally)
        leaked = executor.retry_pending(END_CLEANUP_S)
        swept_end, stuck = _sweep_all(runtimes, run_id)
        leaked = sorted(set(c[:12] for c in leaked) | set(stuck))
        writer.close(end_record(outcome, swept_end, leaked))
        for c in by_url.values():
            c.close()
    say(f"  {outcome.status}: {outcome.reason}; {outcome.tally.cycles} measured cycles -> {path}")
    if leaked:
        say(f"  warning: {len(leaked)} container(s) could not be removed (a hung runtime holds them): {', '.join(leaked)}")
    if outcome.interrupted is not None:
        code = 143 if isinstance(outcome.interrupted, Terminated) else 130
        return code, path
    return EXIT_CODES.get(outcome.status, 1), path


def resume(path: Path, *, show_progress: bool = True,
           say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> tuple[int, Optional[Path]]:
    """Continues an interrupted or killed result set: same header and run id, rounds
    appended after a `resume` record that notes the gap. Refuses when the modes or
    engines no longer match what the header recorded."""
    path = Path(path)
    rs = resultset.read_resultset(path)
    for w in rs.warnings:
        say(f"  {w}")
    if rs.end is not None and rs.end.get("status") == "complete":
        raise UserError(f"{path} is already complete: start a new run instead of resuming it.")
    config = Config.from_record(rs.header.get("config") or {})
    run_id, seed = rs.run_id, int(rs.header.get("seed") or 0)
    check_results_dir(path.parent)
    runtimes: list[preflight.ModeRuntime] = []
    with _SignalGuard():
        try:
            checks = preflight.check_modes(config.modes, run_id)
            runtimes = [c.runtime for c in checks if c.usable and c.runtime is not None]
            recorded = rs.header.get("modes", {})
            now = {c.name: c.record for c in checks if c.usable}
            if set(now) != set(recorded):
                raise UserError(f"cannot resume {path}: usable modes were {', '.join(sorted(recorded))} and are now "
                                f"{', '.join(sorted(now)) or 'none'}: fix the engine, or start a new run.")
            for name, rec in now.items():
                before = (recorded[name].get("engine") or {}).get("version")
                after = (rec.get("engine") or {}).get("version")
                if before != after:
                    raise UserError(f"cannot resume {path}: mode {name!r}'s engine changed ({before} -> {after}): "
                                    "a set must hold one engine per mode; start a new run.")
            controls, _ = engine_controls(config, runtimes, say)
            swept, _ = _sweep_all(runtimes, None)
            done = {s["round"] for s in rs.samples if not s["warmup"] and s.get("scenario") != "cold"}
            cold_done = {s["round"] for s in rs.samples if s.get("scenario") == "cold"}
            last_round = max((s["round"] for s in rs.samples), default=-1)
            remaining = max(0, config.run.rounds - len(done)) if config.run.scenario != "cold" else 0
            cold_remaining = max(0, config.run.cold_rounds - len(cold_done))
            writer = resultset.ResultWriter.reopen(path)
            resume_seed = seed + 7919 * (len(rs.resumes) + 1)
            writer.append([{"type": "resume", "resumed_ns": time.time_ns(),
                            "gap_from_ns": max((s["wall_ns"] for s in rs.samples), default=None),
                            "previous_end": rs.end.get("status") if rs.end else None,
                            "rounds_done": len(done), "rounds_remaining": remaining, "seed": resume_seed,
                            "cold_rounds_done": len(cold_done), "cold_rounds_remaining": cold_remaining,
                            "swept_at_resume": swept, "warnings": rs.warnings}])
            say(f"  resuming {path}: {len(done)} measured rounds done, {remaining} to go"
                + (f"; swept {swept} leftover container(s)" if swept else ""))
            # Warm rounds first, as in the original run; once they are done only cold ones remain.
            scenario = config.run.scenario if remaining or config.run.scenario == "cold" else "cold"
            if scenario == "cold" and not cold_remaining:
                scenario = "warm"
            run = replace(config.run, rounds=max(1, remaining), min_rounds=min(config.run.min_rounds, max(1, remaining)),
                          scenario=scenario, cold_rounds=cold_remaining)
            return _execute(replace(config, run=run), run_id, resume_seed, runtimes, writer, show_progress, say,
                            first_round=last_round + 1, controls=controls)
        finally:
            _sweep_all(runtimes, run_id)
