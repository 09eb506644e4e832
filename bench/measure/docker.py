"""One measured cycle on a real engine: create -> start -> ready -> exec -> stop -> remove.

Each phase is timed with ``time.perf_counter_ns()`` around the low-level
``docker.APIClient`` call alone (the high-level models add hidden requests).
`start` and `ready` are contiguous: ready runs from the moment the start call
returns to the moment the container's first line arrives on an attach stream
opened before start.

The cycle runs on a watched worker thread (see bench.core.watchdog): a phase that
overruns its timeout becomes a `timeout` sample, the phases after it
`not_run` samples, and the container is force-removed. Nothing is dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import docker

from bench.engine import classify as failures
from bench.core.errors import Terminated
from bench.engine.events import EventCollector
from bench.engine.classify import BadOutput, CallTimeout
from bench.core.phases import CLEANUP, PHASES, WARM
from bench.engine.preflight import ModeRuntime
from bench.results.resultset import sample_record
from bench.engine.spec import create_kwargs
from bench.engine.sweep import remove_containers
from bench.core.watchdog import Abandoned, PhaseClock, call_with_timeout, run_watched

READY_LIMIT_BYTES = 64 * 1024
CLEANUP_RETRIES = 3


@dataclass
class CycleResult:
    samples: list[dict[str, Any]]
    cid: Optional[str] = None
    leaked: Optional[str] = None  # a container the cycle could not remove
    interrupted: Optional[BaseException] = None
    engine_down: bool = False  # a cold cycle stopped the engine and could not start it again

    @property
    def engine_unavailable(self) -> bool:
        """A phase failed because the engine did not answer: the scheduler waits for it."""
        return any(s["error"] == failures.ENGINE_UNAVAILABLE for s in self.samples if s["phase"] != CLEANUP)


class _Recorder:
    """Samples as the worker produces them. Once the watcher abandons the worker
    (timeout, Ctrl-C), the recorder is sealed and a late worker cannot add to it."""

    def __init__(self, clock: PhaseClock, base: dict[str, Any]) -> None:
        self.clock = clock
        self.base = base
        self.samples: dict[str, dict[str, Any]] = {}
        self.cid: Optional[str] = None
        self.removed = False
        self.phase_wall: dict[str, int] = {}

    def add(self, phase: str, duration_ns: Optional[int], ok: bool, error: Optional[str] = None,
            message: Optional[str] = None, detail: Optional[dict[str, Any]] = None) -> None:
        with self.clock.lock:
            if self.clock.abandoned:
                raise Abandoned(phase)
            self.samples[phase] = sample_record(
                **self.base, phase=phase, duration_ns=duration_ns, ok=ok, error=error, message=message,
                wall_ns=self.phase_wall.get(phase, time.time_ns()), cid=self.cid[:12] if self.cid else None,
                detail=detail)


def _recv(sock: Any, n: int = 4096) -> bytes:
    # No select/poll first (docker-py's frames_iter polls the file descriptor, which
    # blocks forever over TLS when the rest of a frame already sits decrypted in the
    # SSL buffer); a blocking read is safe here because the watchdog bounds the phase.
    return sock.recv(n) if hasattr(sock, "recv") else sock.read(n)


def _read_first_line(sock: Any, marker: str) -> str:
    """Reads the multiplexed attach stream (8-byte frame headers) until the first
    newline of output; checks it is the ready marker."""
    raw, out = b"", b""
    while b"\n" not in out:
        chunk = _recv(sock)
        if not chunk:
            raise BadOutput(f"the container's output ended before its ready line (got {out[:200]!r})")
        raw += chunk
        while len(raw) >= 8 and len(raw) >= 8 + int.from_bytes(raw[4:8], "big"):
            size = int.from_bytes(raw[4:8], "big")
            out += raw[8:8 + size]
            raw = raw[8 + size:]
        if len(out) > READY_LIMIT_BYTES:
            raise BadOutput(f"no newline in the first {READY_LIMIT_BYTES} bytes of output")
    line = out.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    if line.strip() != marker:
        raise BadOutput(f"first line was {line[:200]!r}, expected {marker!r}")
    return line


def _close_socket(sock: Any) -> None:
    for obj in (sock, getattr(sock, "_response", None)):
        try:
            if obj is not None:
                obj.close()
        except Exception:
            pass


class DockerExecutor:
    """Runs cycles through the Docker Engine API (the real executor; see bench.measure.executor)."""

    def __init__(self, run_id: str, events: Optional[dict[str, EventCollector]] = None) -> None:
        self.run_id = run_id
        self.events = events or {}
        self.pending_cleanup: dict[str, ModeRuntime] = {}

    # -- the worker side ------------------------------------------------------------

    def _cycle(self, rt: ModeRuntime, rec: _Recorder, clock: PhaseClock) -> None:
        api, mode, t = rt.client, rt.mode, rt.mode.timeouts
        kwargs = create_kwargs(api, mode, rt.image, self.run_id)
        phase = "create"
        sock = None
        try:
            clock.enter("create", t.create)
            rec.phase_wall["create"] = time.time_ns()
            t0 = time.perf_counter_ns()
            created = api.create_container(**kwargs)
            t1 = time.perf_counter_ns()
            rec.cid = created["Id"]
            rec.add("create", t1 - t0, True, detail={"warnings": created.get("Warnings")} if created.get("Warnings") else None)

            # Attach before start so the first line cannot be missed; untimed set-up.
            phase = "start"
            clock.enter("attach", t.start)
            sock = api.attach_socket(rec.cid, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})

            clock.enter("start", t.start)
            rec.phase_wall["start"] = time.time_ns()
            t2 = time.perf_counter_ns()
            api.start(rec.cid)
            t3 = time.perf_counter_ns()
            rec.add("start", t3 - t2, True)

            phase = "ready"
            clock.enter("ready", t.ready)
            rec.phase_wall["ready"] = time.time_ns()
            try:
                _read_first_line(sock, mode.ready_marker)
            except BadOutput as exc:
                rec.add("ready", time.perf_counter_ns() - t3, False, failures.BAD_OUTPUT, str(exc))
                raise _Stop() from None
            t4 = time.perf_counter_ns()
            rec.add("ready", t4 - t3, True)
            _close_socket(sock)
            sock = None

            phase = "exec"
            clock.enter("exec", t.exec)
            rec.phase_wall["exec"] = time.time_ns()
            t5 = time.perf_counter_ns()
            exec_id = api.exec_create(rec.cid, list(mode.exec_command), stdout=True, stderr=True)["Id"]
            api.exec_start(exec_id)  # returns when the exec's output ends, i.e. it exited
            t6 = time.perf_counter_ns()
            code = api.exec_inspect(exec_id).get("ExitCode")  # untimed check
            if code != 0:
                rec.add("exec", t6 - t5, False, failures.EXIT_CODE, f"exec {list(mode.exec_command)} exited with {code}")
            else:
                rec.add("exec", t6 - t5, True)

            phase = "stop"
            clock.enter("stop", mode.stop_grace_s + t.stop)
            rec.phase_wall["stop"] = time.time_ns()
            t7 = time.perf_counter_ns()
            api.stop(rec.cid, timeout=mode.stop_grace_s)
            t8 = time.perf_counter_ns()
            clock.enter("inspect", t.stop)
            state = api.inspect_container(rec.cid)  # untimed: the engine's view of the cycle
            st = state.get("State") or {}
            used_grace = (t8 - t7) >= mode.stop_grace_s * 1e9 > 0
            rec.add("stop", t8 - t7, True, detail={
                "grace_s": mode.stop_grace_s, "exit_code": st.get("ExitCode"),
                # The command ignored SIGTERM and was killed after the grace period:
                # this stop time measures the grace period, not the runtime.
                "used_grace": used_grace,
                "engine_view": {"created": state.get("Created"), "started_at": st.get("StartedAt"),
                                "finished_at": st.get("FinishedAt"),
                                "isolation": (state.get("HostConfig") or {}).get("Isolation")}})

            phase = "remove"
            clock.enter("remove", t.remove)
            rec.phase_wall["remove"] = time.time_ns()
            t9 = time.perf_counter_ns()
            api.remove_container(rec.cid)
            t10 = time.perf_counter_ns()
            rec.removed = True
            rec.add("remove", t10 - t9, True)
        except (Abandoned, _Stop):
            pass
        except Exception as exc:
            category, message = failures.classify(exc)
            try:
                rec.add(phase, None, False, category, message)
            except Abandoned:
                pass
        finally:
            if sock is not None:
                _close_socket(sock)
            if clock.abandoned and rec.cid and not rec.removed:
                # A late call returned after the watcher gave up: tidy our own container.
                try:
                    api.remove_container(rec.cid, force=True)
                except Exception:
                    pass

    # -- the watcher side ----------------------------------------------------------

    def run_cycle(self, rt: ModeRuntime, round_no: int, pos: int, warmup: bool, scenario: str = WARM) -> CycleResult:
        base = {"round": round_no, "pos": pos, "mode": rt.mode.name, "warmup": warmup, "scenario": scenario}
        box: dict[str, Any] = {}
        stop_signal: Optional[BaseException] = None
        timeout: Optional[CallTimeout] = None

        def work(clock: PhaseClock) -> None:
            rec = _Recorder(clock, base)
            box["rec"] = rec
            self._cycle(rt, rec, clock)

        clock_box: dict[str, PhaseClock] = {}
        try:
            clock_box["clock"] = run_watched(work)
        except CallTimeout as exc:
            timeout = exc
        except (KeyboardInterrupt, Terminated) as exc:
            stop_signal = exc
        # The worker may not have created its recorder if interrupted at once.
        rec: Optional[_Recorder] = box.get("rec")
        samples = dict(rec.samples) if rec else {}
        cid = rec.cid if rec else None
        removed = rec.removed if rec else False
        self._fill(samples, base, timeout, stop_signal, rec, rt)
        result = CycleResult(samples=[samples[p] for p in PHASES], cid=cid, interrupted=stop_signal)
        if cid and not removed:
            result.samples.append(self._cleanup(rt, cid, base))
            if not result.samples[-1]["ok"]:
                result.leaked = cid
                self.pending_cleanup[cid] = rt
        self._engine_view(rt, result)
        return result

    def run_cold_cycle(self, rt: ModeRuntime, control: Any, round_no: int, pos: int) -> CycleResult:
        """The engine stopped and started, then one cycle (see bench.measure.cold)."""
        from bench.measure.cold import run_cold_cycle

        return run_cold_cycle(self, rt, control, round_no, pos)

    def _fill(self, samples: dict[str, dict[str, Any]], base: dict[str, Any], timeout: Optional[CallTimeout],
              stop_signal: Optional[BaseException], rec: Optional["_Recorder"], rt: ModeRuntime) -> None:
        """Every phase gets a sample: the one that overran is `timeout`, one cut by a
        signal is `interrupted`, the rest `not_run` with the reason."""
        cid = rec.cid[:12] if rec and rec.cid else None
        first_missing = next((p for p in PHASES if p not in samples), None)
        failed_at = next((p for p in PHASES if p in samples and not samples[p]["ok"]), None)
        for p in PHASES:
            if p in samples:
                continue
            wall = rec.phase_wall.get(p, time.time_ns()) if rec else time.time_ns()
            if p == first_missing and timeout is not None:
                samples[p] = sample_record(**base, phase=p, duration_ns=int(timeout.seconds * 1e9), ok=False,
                                           error=failures.TIMEOUT, message=f"{timeout} (at {timeout.what})",
                                           wall_ns=wall, cid=cid)
            elif p == first_missing and stop_signal is not None:
                samples[p] = sample_record(**base, phase=p, duration_ns=None, ok=False, error=failures.INTERRUPTED,
                                           message=f"run interrupted during {p}", wall_ns=wall, cid=cid)
            else:
                cause = failed_at or first_missing or "an earlier phase"
                samples[p] = sample_record(**base, phase=p, duration_ns=None, ok=False, error=failures.NOT_RUN,
                                           message=f"not run: {cause} failed", wall_ns=wall, cid=cid)

    def _cleanup(self, rt: ModeRuntime, cid: str, base: dict[str, Any]) -> dict[str, Any]:
        """Force-removes a container the cycle left behind, retrying with backoff (Windows
        engines can fail to detach a VHD for a while). Recorded as a `cleanup` sample."""
        wall = time.time_ns()
        t0 = time.perf_counter_ns()
        last: tuple[str, str] = ("", "")
        for attempt in range(CLEANUP_RETRIES):
            try:
                call_with_timeout(lambda: rt.client.remove_container(cid, force=True), rt.mode.timeouts.remove,
                                  "cleanup")
                return sample_record(**base, phase=CLEANUP, duration_ns=time.perf_counter_ns() - t0, ok=True,
                                     wall_ns=wall, cid=cid[:12], detail={"attempts": attempt + 1})
            except docker.errors.NotFound:
                return sample_record(**base, phase=CLEANUP, duration_ns=time.perf_counter_ns() - t0, ok=True,
                                     wall_ns=wall, cid=cid[:12], detail={"attempts": attempt + 1, "already_gone": True})
            except Exception as exc:
                last = failures.classify(exc)
                if last[0] in (failures.TIMEOUT, failures.ENGINE_UNAVAILABLE):
                    break  # a hung runtime holds the container: retried at the run's end
                time.sleep(0.5 * 2 ** attempt)
        return sample_record(**base, phase=CLEANUP, duration_ns=time.perf_counter_ns() - t0, ok=False,
                             error=failures.CLEANUP_FAILED, message=f"{last[0]}: {last[1]}", wall_ns=wall,
                             cid=cid[:12])

    def _engine_view(self, rt: ModeRuntime, result: CycleResult) -> None:
        collector = self.events.get(rt.mode.name)
        if collector is None or not result.cid:
            return
        wait = 0.5 if result.cid and not result.leaked else 0.0
        seen = collector.take(result.cid, wait_s=wait)
        by_phase = {"create": "create", "start": "start", "stop": "die", "remove": "destroy"}
        for s in result.samples:
            action = by_phase.get(s["phase"])
            if action and action in seen:
                s["engine"] = {"event": action, "time_nano": seen[action]}

    def retry_pending(self, deadline_s: float) -> list[str]:
        """At the run's end: removes what cycles could not, all at once and within one deadline
        (a hung runtime must not hold the exit). Returns the short ids still left."""
        by_client: dict[int, tuple[Any, list[str]]] = {}
        for cid, rt in self.pending_cleanup.items():
            by_client.setdefault(id(rt.client), (rt.client, []))[1].append(cid)
        stuck: list[str] = []
        end = time.monotonic() + deadline_s
        for client, cids in by_client.values():
            _, left = remove_containers(client, cids, max(0.0, end - time.monotonic()))
            stuck += left
        self.pending_cleanup = {cid: rt for cid, rt in self.pending_cleanup.items() if cid[:12] in stuck}
        return sorted(stuck)


class _Stop(Exception):
    """The cycle already recorded its failure; skip to cleanup."""

