"""One measured cycle on a real engine: create -> start -> ready -> exec -> stop -> remove.

Each phase is timed with ``time.perf_counter_ns()`` around the low-level
``docker.APIClient`` call alone (the high-level models add hidden requests), by one
helper (``_PhaseTimer``) that every phase goes through. `start` and `ready` are
contiguous: ready runs from the moment the start call returns to the moment the
container's first line arrives on an attach stream opened before start.

The cycle runs on a watched worker thread (see bench.core.watchdog): a phase that
overruns its timeout becomes a `timeout` sample, the phases after it `not_run`
samples, and the container is force-removed. Nothing is dropped.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NoReturn, Optional

from bench.core import outcomes
from bench.core.errors import Terminated
from bench.core.outcomes import CallTimeout
from bench.core.phases import CYCLE_SHAPES, WARM
from bench.core.watchdog import Abandoned, PhaseClock, run_watched
from bench.engine import classify
from bench.engine.control.restart import EngineControl
from bench.engine.drivers import driver_for
from bench.engine.events import EventCollector
from bench.engine.preflight import ModeRuntime
from bench.engine.spec import create_kwargs
from bench.measure import oom, restart
from bench.measure.attach import close_socket, raw_socket, read_first_line
from bench.measure.calls import Calls, calls_for
from bench.measure.cleanup import StuckContainers
from bench.measure.cost import CostProbe
from bench.measure.executor import CycleResult, EnginePhases, fill_missing
from bench.measure.probes import ProbeState, probe_detail, wait_exec, wait_log
from bench.results.records import Place, Sample

# docker events action -> the phase whose API call causes it
EVENT_OF_PHASE = {"create": "create", "start": "start", "stop": "die", "remove": "destroy"}


class _Stop(Exception):
    """The cycle already recorded its failure; skip to cleanup."""


class _Recorder:
    """Samples as the worker produces them. Once the watcher abandons the worker
    (timeout, Ctrl-C), the recorder is sealed and a late worker cannot add to it."""

    def __init__(self, clock: PhaseClock, base: Place) -> None:
        self.clock = clock
        self.base = base
        self.samples: dict[str, Sample] = {}
        self.cid: Optional[str] = None
        self.removed = False
        self.phase_wall: dict[str, int] = {}
        # for the cost probe (bench.measure.cost), read untimed: ready's end, the container's CPU
        self.cost: dict[str, Optional[int]] = {}
        # start's duration while ready runs (a tuple store, all that may sit between start and ready);
        # recorded with ready, or by the watcher when ready never ended (settle_pending)
        self.pending: Optional[tuple[str, int]] = None
        # the workload's readiness probe, as far as it got (None: the mode's first line, no workload)
        self.probe: Optional[ProbeState] = None

    def add(
        self,
        phase: str,
        duration_ns: Optional[int],
        ok: bool,
        error: Optional[str] = None,
        message: Optional[str] = None,
        detail: Optional[dict[str, Any]] = None,
    ) -> None:
        with self.clock.lock:
            if self.clock.abandoned:
                raise Abandoned(phase)
            self._put(phase, duration_ns, ok, error, message, detail)

    def _put(
        self,
        phase: str,
        duration_ns: Optional[int],
        ok: bool,
        error: Optional[str] = None,
        message: Optional[str] = None,
        detail: Optional[dict[str, Any]] = None,
    ) -> None:
        self.samples[phase] = Sample(
            **self.base,
            phase=phase,
            duration_ns=duration_ns,
            ok=ok,
            error=error,
            message=message,
            wall_ns=self.phase_wall.get(phase, time.time_ns()),
            cid=self.cid[:12] if self.cid else None,
            detail=detail,
        )

    def settle_pending(self) -> None:
        """On the watcher's side once the worker is done or abandoned: a phase that finished while the
        next contiguous one was running keeps its sample (a ready that timed out is not a start that did)."""
        with self.clock.lock:
            pending, self.pending = self.pending, None
            if pending is not None and pending[0] not in self.samples:
                self._put(pending[0], pending[1], True)  # sealed against the worker, not against its watcher


Check = Callable[[Any], Optional[tuple[str, str]]]
Classifier = Callable[[BaseException], tuple[str, str]]
Detail = Callable[[Any, int], Optional[dict[str, Any]]]


class _PhaseTimer:
    """Times one phase: enters it on the watchdog's clock, takes the wall clock, then
    ``perf_counter_ns`` around the call alone, and records the sample. Checks and details run
    after the second clock read, untimed. A call that raises is recorded as that phase's failure
    (category and the engine's words, with the time until it failed) and ends the cycle.
    ``start_ready`` times the one contiguous pair (see there)."""

    def __init__(self, rec: _Recorder, clock: PhaseClock, classifier: Classifier = classify.classify) -> None:
        # ``classifier``: the mode's engine kind's (bench.engine.drivers), so Podman's answers get their categories
        self.rec, self.clock, self.classify = rec, clock, classifier

    def __call__(
        self,
        phase: str,
        timeout: float,
        call: Callable[[], Any],
        check: Optional[Check] = None,
        detail: Optional[Detail] = None,
        go_on: bool = False,
        decode: Optional[Callable[[Any], Any]] = None,
    ) -> Any:
        """``go_on``: a failed check still lets the cycle continue (a failed exec's container is still
        stopped and removed); ``decode``: turns the answer into what checks and callers read, after the
        clock stops."""
        self.clock.enter(phase, timeout)
        self.rec.phase_wall[phase] = time.time_ns()
        t0 = time.perf_counter_ns()
        try:
            value = call()
        except (Abandoned, KeyboardInterrupt, Terminated):
            raise
        except Exception as exc:
            self._failed(phase, time.perf_counter_ns() - t0, exc)
        elapsed = time.perf_counter_ns() - t0
        if decode is not None:
            value = self._decoded(phase, elapsed, decode, value)
        failure, extra = self._judge(phase, elapsed, value, check, detail)
        error, message = failure if failure is not None else (None, None)
        self.rec.add(phase, elapsed, failure is None, error, message, detail=extra)
        if failure is not None and not go_on:
            raise _Stop()
        return value

    def start_ready(self, t: Any, start: Callable[[], Any], ready: Callable[[], Any]) -> int:
        """start, then ready from the moment start returned (the container's first line, on a stream
        attached before start): between the two calls only a tuple store and entering ready's phase on
        the watchdog's clock; both samples are recorded after ready. Returns ready's end
        (``perf_counter_ns``)."""
        self.clock.enter("start", t.start)
        self.rec.phase_wall["start"] = wall = time.time_ns()
        t0 = time.perf_counter_ns()
        try:
            start()
        except (Abandoned, KeyboardInterrupt, Terminated):
            raise
        except Exception as exc:
            self._failed("start", time.perf_counter_ns() - t0, exc)
        t1 = time.perf_counter_ns()
        self.rec.pending = ("start", t1 - t0)
        self.clock.enter("ready", t.ready)
        try:
            ready()
        except (Abandoned, KeyboardInterrupt, Terminated):
            raise
        except Exception as exc:
            failed_ns = time.perf_counter_ns() - t1
            self._record_start(wall)
            self._failed("ready", failed_ns, exc)
        t2 = time.perf_counter_ns()
        self._record_start(wall)
        self.rec.add("ready", t2 - t1, True, detail=probe_detail(self.rec.probe))
        return t2

    def _record_start(self, wall: int) -> None:
        pending, self.rec.pending = self.rec.pending, None
        if pending is not None:
            self.rec.phase_wall["ready"] = wall + pending[1]
            self.rec.add("start", pending[1], True)

    def _failed(self, phase: str, failed_ns: int, exc: Exception) -> NoReturn:
        self.rec.add(phase, failed_ns, False, *self.classify(exc))
        raise _Stop() from None

    def _decoded(self, phase: str, elapsed: int, decode: Callable[[Any], Any], value: Any) -> Any:
        try:
            return decode(value)
        except Exception as exc:  # an answer that is not what the engine's API promises
            self._failed(phase, elapsed, exc)

    def _judge(
        self, phase: str, elapsed: int, value: Any, check: Optional[Check], detail: Optional[Detail]
    ) -> tuple[Optional[tuple[str, str]], Optional[dict[str, Any]]]:
        """The untimed check and detail of an answered call. They may ask the engine again (exec's exit
        code, the stopped container's state): if it fails them, the phase is that failure, since
        its outcome is unknown, and the cycle ends."""
        try:
            return (check(value) if check else None), (detail(value, elapsed) if detail else None)
        except (Abandoned, KeyboardInterrupt, Terminated, _Stop):
            raise
        except Exception as exc:
            self._failed(phase, elapsed, exc)

    def untimed(self, phase: str, what: str, timeout: float, call: Callable[[], Any]) -> Any:
        """Set-up between timed calls (attaching, inspecting); a failure is charged to ``phase``."""
        self.clock.enter(what, timeout)
        try:
            return call()
        except (Abandoned, KeyboardInterrupt, Terminated):
            raise
        except Exception as exc:
            self.rec.add(phase, None, False, *self.classify(exc))
            raise _Stop() from None


class DockerExecutor:
    """Runs cycles through the Docker Engine API (the real executor; see bench.measure.executor)."""

    def __init__(
        self, run_id: str, events: Optional[dict[str, EventCollector]] = None, probe: Optional[CostProbe] = None
    ) -> None:
        self.run_id = run_id
        self.events = events or {}
        self.probe = probe  # CPU per cycle and the startup waterfall (issue 23); None: not measured
        self.stuck = StuckContainers()
        self._open_calls: dict[str, Calls] = {}
        self.timing_path = ""

    @property
    def pending_cleanup(self) -> dict[str, ModeRuntime]:
        return self.stuck.pending

    # -- the worker side ------------------------------------------------------------

    def _calls(self, rt: ModeRuntime) -> Calls:
        """This mode's prepared-call path, kept open across cycles. Taken out while a cycle uses it:
        a cycle the watcher abandons never gives it back (its connection may be mid-request)."""
        calls = self._open_calls.pop(rt.mode.name, None)
        if calls is not None:
            return calls
        return calls_for(driver_for(rt.mode).api, rt.endpoint, rt.client)

    def _cycle(self, rt: ModeRuntime, rec: _Recorder, clock: PhaseClock) -> None:
        api, mode, t = rt.client, rt.mode, rt.mode.timeouts
        timed = _PhaseTimer(rec, clock, driver_for(mode).classify)
        calls = self._calls(rt)
        self.timing_path = calls.path
        sock = None
        try:
            create = timed.untimed(
                "create", "prepare", t.create, lambda: calls.create(create_kwargs(api, mode, rt.image, self.run_id))
            )
            cid = timed("create", t.create, create, decode=calls.decode, detail=lambda c, _: _created(rec, c))["Id"]

            # Attach before start so the first line cannot be missed.
            def attach() -> Any:
                return api.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})

            if driver_for(mode).attach_inits:
                # The attach itself runs the OCI runtime's create (Podman's compat API initializes the
                # container there), work dockerd does inside start: so it is timed as part of start.
                start_call = timed.untimed("start", "prepare", t.start, lambda: calls.start(cid))
                readers: list[Callable[[], Any]] = []

                def start() -> Any:
                    nonlocal sock
                    sock = attach()
                    readers.append(_ready_call(rec, api, cid, raw_socket(sock), clock, mode))
                    return start_call()

                def ready() -> Any:
                    return readers[0]()
            else:  # untimed set-up: dockerd's attach only opens the stream
                sock = timed.untimed("start", "attach", t.start, attach)
                start = timed.untimed("start", "prepare", t.start, lambda: calls.start(cid))
                ready = _ready_call(rec, api, cid, raw_socket(sock), clock, mode)
            rec.cost["ready_end_ns"] = timed.start_ready(t, start, ready)
            close_socket(sock)
            sock = None
            if mode.cycle == "run":
                self._finish_run_shape(timed, calls, api, cid, mode)
            else:
                self._finish_full_shape(timed, calls, api, cid, mode)
            rec.removed = True
        except (Abandoned, _Stop):
            pass
        finally:
            if sock is not None:
                close_socket(sock)
            if clock.abandoned:
                calls.close()
                if rec.cid and not rec.removed:  # a late call returned after the watcher gave up
                    try:
                        api.remove_container(rec.cid, force=True)
                    except Exception:
                        pass
            else:
                self._open_calls[mode.name] = calls

    def _finish_full_shape(self, timed: _PhaseTimer, calls: Calls, api: Any, cid: str, mode: Any) -> None:
        """exec, stop, remove: the container serves a command, then stops on SIGTERM."""
        t = mode.timeouts
        exec_ = timed.untimed("exec", "prepare", t.exec, lambda: calls.exec(cid, mode.exec_command))
        timed("exec", t.exec, exec_, check=lambda exec_id: _exec_failure(api, exec_id, mode.exec_command), go_on=True)
        if self.probe is not None:  # untimed, before stop: the container's end deletes its cgroup
            timed.rec.cost["container_ns"] = self.probe.container_ns(mode.name, cid)
        stop = timed.untimed("stop", "prepare", t.stop, lambda: calls.stop(cid, mode.stop_grace_s))
        timed("stop", mode.stop_grace_s + t.stop, stop,
              detail=lambda _, ns: _stop_detail(timed, api, cid, mode.stop_grace_s, t.stop, ns))  # fmt: skip
        remove = timed.untimed("remove", "prepare", t.remove, lambda: calls.remove(cid))
        timed("remove", t.remove, remove)

    def _finish_run_shape(self, timed: _PhaseTimer, calls: Calls, api: Any, cid: str, mode: Any) -> None:
        """wait, remove: what `docker run --rm IMAGE CMD` does after the first line."""
        t = mode.timeouts
        wait = timed.untimed("wait", "prepare", t.stop, lambda: calls.wait(cid))
        timed("wait", mode.stop_grace_s + t.stop, wait, decode=calls.decode,
              check=lambda answer: _exit_failure(answer, mode.run_command))  # fmt: skip
        remove = timed.untimed("remove", "prepare", t.remove, lambda: calls.remove(cid))
        timed("remove", t.remove, remove)

    # -- the watcher side ----------------------------------------------------------

    def run_cycle(self, rt: ModeRuntime, round_no: int, pos: int, warmup: bool, scenario: str = WARM) -> CycleResult:
        base: Place = {"round": round_no, "pos": pos, "mode": rt.mode.name, "warmup": warmup, "scenario": scenario}
        box: dict[str, _Recorder] = {}
        stop_signal: Optional[BaseException] = None
        timeout: Optional[CallTimeout] = None

        def work(clock: PhaseClock) -> None:
            box["rec"] = _Recorder(clock, base)
            self._cycle(rt, box["rec"], clock)

        mark = self.probe.begin(rt, start=True) if self.probe is not None else None
        try:
            run_watched(work)
        except CallTimeout as exc:
            timeout = exc
        except (KeyboardInterrupt, Terminated) as exc:
            stop_signal = exc
            if self.probe is not None:  # no cost records for it: the listener stops following its start
                self.probe.idle()
        # The worker may not have created its recorder if interrupted at once.
        rec = box.get("rec")
        if rec is not None:
            rec.settle_pending()
        cid = rec.cid if rec else None
        samples = fill_missing(
            dict(rec.samples) if rec else {},
            base,
            CYCLE_SHAPES[rt.mode.cycle],
            timeout,
            stop_signal is not None,
            cid[:12] if cid else None,
            rec.phase_wall if rec else None,
        )
        if rec is not None and rec.probe is not None:
            _name_probe(samples, rec.probe)
        result = CycleResult(samples=samples, cid=cid, interrupted=stop_signal)
        if cid and not (rec and rec.removed) and stop_signal is None:  # a failed cycle: was it the OOM killer?
            words = oom.oom_words(rt.client, cid, rt.mode.timeouts.ping)
            if words:
                oom.relabel(result.samples, words)
        if cid and not (rec and rec.removed):
            result.samples.append(self.stuck.cleanup(rt, cid, base))
            if not result.samples[-1].ok:
                result.leaked = cid
        self._engine_view(rt, result)
        if self.probe is not None and mark is not None and stop_signal is None:
            cost = rec.cost if rec else {}
            result.costs = self.probe.finish(
                rt, result.samples, mark, cost.get("ready_end_ns"), cost.get("container_ns")
            )
        return result

    def restart_engine(self, rt: ModeRuntime, control: EngineControl, base: Place) -> EnginePhases:
        return restart.restart_engine(rt, control, base)

    def _engine_view(self, rt: ModeRuntime, result: CycleResult) -> None:
        collector = self.events.get(rt.mode.name)
        if collector is None or not result.cid:
            return
        seen = collector.take(result.cid, wait_s=0.0 if result.leaked else 0.5)
        for i, s in enumerate(result.samples):
            action = EVENT_OF_PHASE.get(s.phase)
            if action and action in seen:
                result.samples[i] = s.but(engine={"event": action, "time_nano": seen[action]})

    def retry_pending(self, deadline_s: float) -> list[str]:
        return self.stuck.retry(deadline_s)


def _ready_call(rec: _Recorder, api: Any, cid: str, stream: Any, clock: PhaseClock, mode: Any) -> Callable[[], Any]:
    """What ends `ready`: the mode's first line, or its workload's probe (bench.measure.probes)."""
    if mode.workload is None:
        return lambda: read_first_line(stream, mode.ready_marker)
    state = rec.probe = ProbeState(mode.workload.probe)
    if not state.probe.polled:
        return lambda: wait_log(stream, state)
    return lambda: wait_exec(api, cid, state, clock)


def _name_probe(samples: list[Sample], state: ProbeState) -> None:
    """A ready that timed out or failed names the probe, its polls and its last answer."""
    for i, s in enumerate(samples):
        if s.phase == "ready" and not s.ok:
            detail = {**(s.detail or {}), **(probe_detail(state) or {})}
            said = s.message or ""
            summary = state.summary()
            samples[i] = s.but(
                detail=detail, message=said if summary in said else f"{said}: {summary}" if said else summary
            )


def _created(rec: _Recorder, created: dict[str, Any]) -> Optional[dict[str, Any]]:
    """After the create call (untimed): the sample carries the new container's id, and the engine's warnings."""
    rec.cid = created["Id"]
    return {"warnings": created["Warnings"]} if created.get("Warnings") else None


def _exit_failure(answer: Any, command: tuple[str, ...]) -> Optional[tuple[str, str]]:
    code = (answer or {}).get("StatusCode")
    return None if code == 0 else (outcomes.EXIT_CODE, f"{list(command)} exited with {code}")


def _exec_failure(api: Any, exec_id: str, command: tuple[str, ...]) -> Optional[tuple[str, str]]:
    code = api.exec_inspect(exec_id).get("ExitCode")  # untimed check
    return None if code == 0 else (outcomes.EXIT_CODE, f"exec {list(command)} exited with {code}")


def _stop_detail(timed: _PhaseTimer, api: Any, cid: str, grace_s: float, timeout: float, ns: int) -> dict[str, Any]:
    """The engine's view of the cycle, inspected untimed after the stop."""
    state = timed.untimed("stop", "inspect", timeout, lambda: api.inspect_container(cid))
    st = state.get("State") or {}
    return {
        "grace_s": grace_s,
        "exit_code": st.get("ExitCode"),
        # The command ignored SIGTERM and was killed after the grace period:
        # this stop time measures the grace period, not the runtime.
        "used_grace": ns >= grace_s * 1e9 > 0,
        "engine_view": {
            "created": state.get("Created"),
            "started_at": st.get("StartedAt"),
            "finished_at": st.get("FinishedAt"),
            "isolation": (state.get("HostConfig") or {}).get("Isolation"),
        },
    }
