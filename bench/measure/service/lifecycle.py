"""One service's life, timed: create (or scale from 0) -> every task ready -> scale to 0 -> remove.

Samples are written as each part ends (``write`` fsyncs them): the tasks' four ClusterLoader2
metrics and the service's `makespan` once its tasks are ready (or the wait ended), `scale_down`,
then `service_remove`. A task that is rejected, fails, loses its node or is not ready by the
deadline becomes failed samples with swarm's own words, categorised (bench.engine.service.taskerr);
a slot swarm never even made a task for is failed the same way. Ctrl-C or SIGTERM records what was
in flight as `interrupted`, and the service is removed in ``finally`` whatever happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from bench.core import outcomes, signals
from bench.core.errors import Terminated
from bench.core.phases import SERVICE
from bench.core.service import ServiceSettings
from bench.engine import classify
from bench.engine.service import api, spec
from bench.engine.service.preflight import ServiceTarget
from bench.engine.service.taskerr import classify_task
from bench.measure.service.readers import engine_line_time
from bench.measure.service.trace import Outcome, TaskTrace, at, detail, marks, task_samples
from bench.measure.service.watch import EventRouter, ServiceWatch
from bench.results.records import REPLICAS, Place, Sample

Write = Callable[[list[Sample]], None]
SERVICE_LABEL = "com.docker.swarm.service.id"


@dataclass
class ServiceContext:
    """What every service of one mode shares for the whole run."""

    target: ServiceTarget
    settings: ServiceSettings
    run_id: str
    now: Callable[[], int]
    offsets: dict[str, int]  # node id -> its clock minus the harness's (ns)
    leader: Optional[str]  # the node id that stamps new/pending/assigned
    router: EventRouter

    @property
    def call_timeout(self) -> float:
        return max(self.target.runtime.mode.timeouts.ping, 10.0)


@dataclass
class ServiceResult:
    samples: list[Sample] = field(default_factory=list)
    interrupted: Optional[BaseException] = None
    leaked: Optional[str] = None  # a service that could not be removed
    ready: int = 0
    replicas: int = 0


class _Run:
    def __init__(self, ctx: ServiceContext, seq: int, base: Place, write: Write) -> None:
        self.ctx, self.seq, self.base = ctx, seq, base
        self.replicas = int(base.get("level") or 0)
        self.client = ctx.target.runtime.client
        self.mode = ctx.target.runtime.mode
        self.name = spec.service_name(ctx.run_id, seq)
        self.sid: Optional[str] = None
        self.watch: Optional[ServiceWatch] = None
        self.create_ns = ctx.now()
        self.create_call_ns: Optional[int] = None
        self.common: dict[str, Any] = {
            "service_name": self.name,
            "replicas": self.replicas,
            "start": ctx.settings.start,
        }
        self.result = ServiceResult(replicas=self.replicas)
        self.done: set[str] = set()  # parts whose samples are written: "startup", "scale_down", "service_remove"
        self._write = write

    def write(self, part: str, samples: list[Sample]) -> None:
        self._write(samples)
        self.result.samples += samples
        self.done.add(part)

    def sample(self, phase: str, **kw: Any) -> Sample:
        return Sample(**self.base, phase=phase, **kw)

    # -- create ---------------------------------------------------------------------------

    def start(self) -> None:
        """POST /services/create with N replicas, or (start = "scale") create with 0, untimed, then
        scale to N: ``create_ns`` is when the timed request was sent."""
        t, ctx = self.ctx.call_timeout, self.ctx
        scale = ctx.settings.start == "scale"
        kwargs = spec.create_kwargs(
            self.mode, ctx.target.runtime.image, ctx.run_id, self.seq, 0 if scale else self.replicas
        )
        if scale:
            self.sid = api.create(self.client, kwargs, t)
            request = api.scale_request(api.inspect(self.client, self.sid, t) or {}, self.replicas)
        self.watch = ServiceWatch(
            self.client, self.sid or "", ctx.target.directory, ctx.now, ctx.settings.poll_s,
            self.mode.ready_marker, t, ctx.offsets,
        )  # fmt: skip
        ctx.router.current = self.watch
        self.create_ns = ctx.now()
        if scale:
            api.update(self.client, self.sid or "", *request, t)
        else:
            self.sid = api.create(self.client, kwargs, t)
            self.watch.sid = self.sid
        self.create_call_ns = ctx.now() - self.create_ns
        self.common["service"] = self.sid

    # -- every task ready -----------------------------------------------------------------

    def slots_ready(self) -> set[int]:
        assert self.watch is not None
        return {t.slot for t in self.watch.ready() if t.slot is not None}

    def startup(self) -> None:
        assert self.watch is not None
        deadline = self.create_ns + int(self.ctx.settings.ready_s * 1e9)
        complete = self.watch.wait(lambda: len(self.slots_ready()) >= self.replicas, deadline)
        self.watch.stop()
        try:  # the node list as of now: a task whose node died is told apart from one that failed
            self.ctx.target.directory.refresh()
        except Exception:  # noqa: BLE001 - the last list stands
            pass
        for trace in self.watch.ready():  # untimed, for the record: the line's time in the node's own log
            if trace.line_engine_ns is None:
                trace.line_engine_ns = engine_line_time(self.ctx.target.directory, trace, self.ctx.call_timeout)
        self.write("startup", self.startup_samples(None if complete else "timeout"))

    def _why(self, trace: TaskTrace, ending: Optional[str], ended_ns: int) -> Outcome:
        if ending == "interrupted":
            return Outcome(outcomes.INTERRUPTED, f"run interrupted while the task was {trace.state}", ended_ns)
        directory = self.ctx.target.directory
        down = directory.down(trace.node_id)
        if trace.running and trace.line_error is not None and not down:
            return Outcome(*trace.line_error, ended_ns)
        timeout = self.ctx.settings.ready_s if ending == "timeout" else None
        return Outcome(*classify_task(trace.last, down, timeout, directory.name(trace.node_id)), ended_ns)

    def _traces(self) -> list[TaskTrace]:
        """The watched tasks, and a stand-in for every slot swarm never made a task for."""
        traces = list(self.watch.traces.values()) if self.watch else []
        have = {t.slot for t in traces}
        for slot in range(1, self.replicas + 1):
            if slot not in have:
                traces.append(TaskTrace(id="", slot=slot, state="none", last={"Status": {"State": "none"}}))
        return sorted(traces, key=lambda t: (t.slot or 0, min(t.seen.values(), default=0)))

    def startup_samples(self, ending: Optional[str], error: Optional[tuple[str, str]] = None) -> list[Sample]:
        """The tasks' samples and the service's makespan. ``ending``: None (every slot ready),
        "timeout" or "interrupted"; ``error``: the create call's own failure, if it failed."""
        ended, readies, first_fail = self.ctx.now(), [], None
        out: list[Sample] = []
        for trace in self._traces():
            m = marks(trace, self.create_ns, self.ctx.offsets, self.ctx.leader)
            node = {**self.common, "node": self.ctx.target.directory.name(trace.node_id)}
            info = detail(trace, m, node, self.ctx.offsets, self.ctx.leader)
            why = None
            if m.ready is None:
                why = Outcome(*error, ended) if error else self._why(trace, ending, ended)
                first_fail = first_fail or (trace.slot, why)
            else:
                readies.append((trace.slot, m.ready))
            out += task_samples(trace, self.base, m, info, why)
        return out + [self.makespan(readies, first_fail, ended, ending, error)]

    def makespan(
        self,
        readies: list[tuple[Optional[int], int]],
        first_fail: Optional[tuple[Optional[int], Outcome]],
        ended: int,
        ending: Optional[str],
        error: Optional[tuple[str, str]],
    ) -> Sample:
        per_slot: dict[Optional[int], int] = {}
        for slot, ready in readies:
            per_slot[slot] = min(ready, per_slot.get(slot, ready))
        info = {**self.common, "create_call_ns": self.create_call_ns, "slots_ready": len(per_slot)}
        if self.watch is not None:
            info.update(self.watch.poll_record(), tasks=len(self.watch.traces), nodes=self._per_node())
        if len(per_slot) >= self.replicas and error is None:
            last = max(per_slot.values())
            return self.sample(
                "makespan", duration_ns=last - self.create_ns, ok=True, wall_ns=self.create_ns, detail=info
            )
        if ending == "interrupted":
            category, message = outcomes.INTERRUPTED, "run interrupted before every task was ready"
        elif error is not None:
            category, message = error
        else:
            slot, why = first_fail if first_fail else (None, Outcome(outcomes.TIMEOUT, "no task", ended))
            category = why.category
            message = f"{len(per_slot)} of {self.replicas} tasks ready after {(ended - self.create_ns) / 1e9:.1f} s; "
            message += f"slot {slot}: {why.message}"
        timed = category != outcomes.INTERRUPTED
        return self.sample(
            "makespan", duration_ns=ended - self.create_ns if timed else None, ok=False, error=category,
            message=message, wall_ns=self.create_ns, detail=info,
        )  # fmt: skip

    def _per_node(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.watch.ready() if self.watch else []:
            name = str(self.ctx.target.directory.name(t.node_id))
            counts[name] = counts.get(name, 0) + 1
        return counts

    # -- scale to 0, remove -----------------------------------------------------------------

    def _ended_at(self, observed: int) -> tuple[int, str]:
        """When the last task ended: the tasks' own stamps of their end state where every task that
        can report has one (engine clocks, corrected), else when a poll saw it (harness clock)."""
        assert self.watch is not None
        ends = []
        for trace in self.watch.traces.values():
            if self.ctx.target.directory.down(trace.node_id) or trace.state not in api.ENDED:
                continue
            state = next((s for s in api.ENDED if s in trace.stamped), None)
            stamp = at(trace, state, self.ctx.offsets, self.ctx.leader) if state else None
            if stamp is None:
                return observed, "poll"
            ends.append(stamp)
        return (max(ends), "engine") if ends else (observed, "poll")

    def scale_down(self) -> None:
        """Replicas to 0: until every task has ended (or sits on a node that is down)."""
        assert self.watch is not None and self.sid is not None
        t = self.ctx.call_timeout
        request = api.scale_request(api.inspect(self.client, self.sid, t) or {}, 0)
        t0 = self.ctx.now()
        api.update(self.client, self.sid, *request, t)
        done = self.watch.wait(self.watch.ended_or_lost, t0 + int(self.ctx.settings.scale_down_s * 1e9))
        observed = self.ctx.now()
        end, source = self._ended_at(observed)
        lost = [str(self.ctx.target.directory.name(x.get("NodeID"))) for x in self.watch.last
                if (x.get("Status") or {}).get("State") not in api.ENDED]  # fmt: skip
        info = {**self.common, "observed_ns": observed - t0, "end_from": source, "on_down_nodes": lost}
        info["reaped_ns"] = self._reaped(t0) if done else None
        if done:
            sample = self.sample("scale_down", duration_ns=max(0, end - t0), ok=True, wall_ns=t0, detail=info)
        else:
            sample = self.sample(
                "scale_down", duration_ns=observed - t0, ok=False, error=outcomes.TIMEOUT, wall_ns=t0, detail=info,
                message=f"{len(lost)} task(s) still not ended after {self.ctx.settings.scale_down_s:g} s",
            )  # fmt: skip
        self.write("scale_down", [sample])

    def _reaped(self, t0: int) -> Optional[int]:
        """Untimed, after the scale-down: until swarm's task reaper has deleted the ended tasks (about
        0.15 s here), since DELETE /services while it deletes them crashes dockerd 20.10's manager
        (a nil task in swarmkit's SetServiceTasksRemove, moby/swarmkit#3216). ns from the scale request
        until the tasks were gone, or None when they were not within scale_down_s."""
        assert self.watch is not None
        done = self.watch.wait(self.watch.reaped, self.ctx.now() + int(self.ctx.settings.scale_down_s * 1e9))
        return self.ctx.now() - t0 if done else None

    def _leftovers(self) -> list[str]:
        """Where something of the service is still known: the manager, or a reachable node's containers."""
        assert self.sid is not None
        t = self.ctx.call_timeout
        left = ["manager"] if api.inspect(self.client, self.sid, t) is not None else []
        directory = self.ctx.target.directory
        for node in list(directory.nodes.values()):
            client = None if directory.down(node.id) else directory.client(node.id)
            if client is None:
                continue
            try:
                found = client.containers(all=True, filters={"label": f"{SERVICE_LABEL}={self.sid}"})
            except Exception:  # noqa: BLE001 - a node that stopped answering cannot hold us
                continue
            if found:
                left.append(node.name)
        return left

    def remove(self) -> None:
        """DELETE /services/{id}: until the manager no longer knows it and no reachable node holds a
        container of it."""
        assert self.sid is not None
        t0 = self.ctx.now()
        api.remove(self.client, self.sid, self.ctx.call_timeout)
        deadline = t0 + int(self.ctx.settings.remove_s * 1e9)
        left = self._leftovers()
        while left and self.ctx.now() < deadline:
            time.sleep(self.ctx.settings.poll_s)
            left = self._leftovers()
        observed = self.ctx.now()
        info = {**self.common, "observed_ns": observed - t0, "left": left}
        if not left:
            sample = self.sample("service_remove", duration_ns=observed - t0, ok=True, wall_ns=t0, detail=info)
        else:
            sample = self.sample(
                "service_remove", duration_ns=observed - t0, ok=False, error=outcomes.TIMEOUT, wall_ns=t0, detail=info,
                message=f"still on {', '.join(left)} after {self.ctx.settings.remove_s:g} s",
            )  # fmt: skip
        self.write("service_remove", [sample])

    # -- failures, interruptions, cleanup ------------------------------------------------------

    def close_parts(self, category: str, message: str) -> None:
        """Whatever parts are not written yet: the first fails with ``category``, the rest are not run."""
        if "startup" not in self.done:
            ending = "interrupted" if category == outcomes.INTERRUPTED else None
            self.write("startup", self.startup_samples(ending, None if ending else (category, message)))
        first = True
        for part in ("scale_down", "service_remove"):
            if part in self.done:
                continue
            if first:
                kw = {"duration_ns": None, "error": category, "message": message}
            else:
                kw = {"duration_ns": None, "error": outcomes.NOT_RUN, "message": "not run: an earlier part failed"}
            self.write(part, [self.sample(part, ok=False, wall_ns=self.ctx.now(), detail=dict(self.common), **kw)])
            first = False

    def cleanup(self) -> None:
        """The service goes, whatever happened (bounded; a second Ctrl-C shortens it)."""
        if self.watch is not None:
            self.watch.stop()
            if self.ctx.router.current is self.watch:
                self.ctx.router.current = None
        if self.sid is None or ("service_remove" in self.done and self.result.samples[-1].ok):
            return
        try:
            api.remove(self.client, self.sid, max(1.0, signals.remaining_budget(self.ctx.settings.remove_s)))
        except (KeyboardInterrupt, Terminated):
            signals.note_hurry()
            self.result.leaked = self.name
        except Exception:  # noqa: BLE001 - the run's sweep tries again
            if api_known(self):
                self.result.leaked = self.name


def api_known(run: _Run) -> bool:
    """Whether the manager still knows the service (True when it cannot be asked)."""
    try:
        return run.sid is not None and api.inspect(run.client, run.sid, run.ctx.call_timeout) is not None
    except Exception:  # noqa: BLE001
        return True


def run_service(
    ctx: ServiceContext, seq: int, round_no: int, pos: int, warmup: bool, replicas: int, write: Write
) -> ServiceResult:
    """One service of ``replicas`` tasks for the context's mode; its samples are written as they are taken."""
    base: Place = {
        "round": round_no, "pos": pos, "mode": ctx.target.runtime.mode.name, "warmup": warmup,
        "scenario": SERVICE, "level": replicas, "level_unit": REPLICAS, "group": seq,
    }  # fmt: skip
    run = _Run(ctx, seq, base, write)
    try:
        try:
            run.start()
        except Exception as exc:  # noqa: BLE001 - the engine refused the service: failed samples, the run goes on
            run.close_parts(*classify.classify(exc))
            return run.result
        run.startup()
        run.scale_down()
        run.remove()
    except (KeyboardInterrupt, Terminated) as exc:
        run.result.interrupted = exc
        run.close_parts(outcomes.INTERRUPTED, "run interrupted")
    except Exception as exc:  # noqa: BLE001 - the manager failed mid-service: failed samples, the run goes on
        run.close_parts(*classify.classify(exc))
    finally:
        run.cleanup()
    run.result.ready = len({s.slot for s in run.result.samples if s.phase == "service_startup" and s.ok})
    return run.result
