"""The Swarm carrier: one harness job per host on the swarm, its records read from the job's log.

Per host: create the job (bench.fleet.jobspec), follow its log on the manager (GET /services/{id}/logs,
a thread of its own with its own client, since a followed stream blocks), and poll the task (GET /tasks:
a job has no done flag) until the task says its last word, ends, is rejected, its node goes down, or the
host's deadline passes; then the service is removed. Every call has a timeout; nothing waits forever.
On Ctrl-C or SIGTERM the task is stopped through its node's engine where that answers (so its run ends
its own set with `interrupted` and the record arrives), the service removed, and what arrived kept.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import docker

from bench.core import outcomes
from bench.core.watchdog import call_with_timeout
from bench.engine import classify
from bench.engine.service import api
from bench.fleet import jobspec
from bench.fleet.plan import Host
from bench.fleet.sink import HostOutcome, HostSink

CALL_S = 15.0
POLL_S = 0.5
LAST_WORDS_S = 10.0  # after the task ended, how long its final log lines may take to arrive
NODE_DOWN_GRACE_S = 5.0
STOP_WAIT_S = 40.0  # the task's stop grace (30 s) and a margin
TASK_GONE_S = 5.0  # after the service's removal, how long the node's agent gets to remove the task's container


@dataclass(frozen=True)
class Job:
    host: Host
    spec: dict[str, Any]
    deadline_s: float


class LogFollower(threading.Thread):
    """Follows one service's log and hands over whole lines; stops when asked or the stream ends."""

    def __init__(self, make_client: Callable[[], docker.APIClient], sid: str) -> None:
        super().__init__(daemon=True, name=f"fleet-log-{sid[:8]}")
        self.make_client, self.sid = make_client, sid
        self.lines: queue.Queue[str] = queue.Queue()
        self.client: Optional[docker.APIClient] = None
        self.ended = threading.Event()
        self.error: Optional[str] = None

    def run(self) -> None:
        partial = ""
        try:
            self.client = self.make_client()
            stream = self.client.service_logs(self.sid, follow=True, stdout=True, stderr=True)
            for chunk in stream:
                text = partial + chunk.decode("utf-8", "replace")
                *whole, partial = text.split("\n")
                for line in whole:
                    self.lines.put(line)
        except Exception as exc:  # noqa: BLE001 - the stream's end, whatever closed it
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        finally:
            if partial:
                self.lines.put(partial)
            self.ended.set()

    def drain(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.lines.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        if self.client is not None:
            try:
                self.client.close()  # unblocks the read: the thread ends
            except Exception:  # noqa: BLE001
                pass
        self.join(timeout=5)


def _task(client: docker.APIClient, sid: str) -> Optional[dict[str, Any]]:
    found = api.tasks(client, sid, CALL_S)
    return max(found, key=lambda t: t.get("CreatedAt", "")) if found else None


def _node_state(client: docker.APIClient, node_id: str) -> str:
    try:
        node = call_with_timeout(lambda: client.inspect_node(node_id), CALL_S, "node inspect")
    except Exception:  # noqa: BLE001 - a manager that cannot say is not a node that is down
        return "unknown"
    return str((node.get("Status") or {}).get("State") or "unknown")


def verdict(task: Optional[dict[str, Any]], host: str) -> Optional[str]:
    """One sentence when the task has ended (None while it runs or waits to)."""
    if task is None:
        return None
    status = task.get("Status") or {}
    state = status.get("State")
    err = (status.get("Err") or status.get("Message") or "").strip()
    if state == "complete":
        return f"the harness task on {host} completed"
    if state == "rejected":
        return f"node {host} rejected the harness task ({err.rstrip('.')}){_advice(err)}"
    if state in api.ENDED:
        return f"the harness task on {host} ended {state}" + (f" ({err})" if err else "")
    return None


def _advice(err: str) -> str:
    """How to fix a rejection the engine's words name (bench.engine.classify's rules), "" when none does."""
    rule = classify.match_rule(err)
    if rule is None:
        return ""
    if rule.category == outcomes.OS_MISMATCH:
        # The harness task runs process-isolated: its image's Windows build must be the node's.
        return (
            ": the harness image was built for another Windows build than the node's, so build it for the node's "
            "build (see docs/fleet.md) and pass it with --image"
        )
    return f": {rule.advice}"


class SwarmCarrier:
    """Runs jobs on one manager, one after another; each host's set goes to results_dir."""

    def __init__(
        self,
        make_client: Callable[[], docker.APIClient],
        results_dir: Path,
        node_endpoints: dict[str, str],
        say: Callable[[str], None],
    ) -> None:
        self.make_client, self.results_dir, self.say = make_client, results_dir, say
        self.node_endpoints = node_endpoints  # host -> its engine, where reachable from here (to stop tasks)
        self.client = make_client()
        self.active: dict[str, str] = {}  # host -> service id

    def run_one(self, job: Job, fleet: dict[str, Any]) -> HostOutcome:
        host = job.host.name
        sink = HostSink(host, self.results_dir, {**fleet, "service": job.spec["Name"], "node_id": job.host.node_id})
        created = call_with_timeout(
            lambda: self.client._result(
                self.client._post_json(self.client._url("/services/create"), data=job.spec), True
            ),
            CALL_S,
            "service create",
        )
        sid = str(created["ID"])
        self.active[host] = sid
        follower = LogFollower(self.make_client, sid)
        follower.start()
        why = "the fleet was interrupted before the task ended"
        try:
            why = self._watch(job, sid, follower, sink)
        except BaseException:
            self._stop_task(host, sid, follower, sink)
            raise
        finally:
            follower.stop()
            sink.feed(follower.drain())
            self._remove(host)
        return sink.finish(why)

    def _watch(self, job: Job, sid: str, follower: LogFollower, sink: HostSink) -> str:
        host, deadline = job.host.name, time.monotonic() + job.deadline_s
        ended_at: Optional[float] = None
        down_since: Optional[float] = None
        ended = ""
        while not sink.done:
            sink.feed(follower.drain())
            now = time.monotonic()
            if ended_at is not None:
                if now - ended_at > LAST_WORDS_S:
                    return ended + ", but its last records never arrived"
            else:
                task = _task(self.client, sid)
                if (said := verdict(task, host)) is not None:
                    if task is not None and (task.get("Status") or {}).get("State") == "rejected":
                        return said  # the task never ran, so no record of it will come
                    ended, ended_at = said, now
            if down_since is None and _node_state(self.client, job.host.node_id) == "down":
                down_since = now
            if down_since is not None and now - down_since > NODE_DOWN_GRACE_S:
                return f"node {host} went down mid-run (the swarm lost it), so its set ends with what arrived"
            if now > deadline:
                return f"the harness task on {host} did not end within its deadline of {job.deadline_s:.0f} s"
            time.sleep(POLL_S)
        sink.feed(follower.drain())
        return ended or f"the harness task on {host} exited with status {sink.exit_code}"

    def _stop_task(self, host: str, sid: str, follower: LogFollower, sink: HostSink) -> None:
        """Ctrl-C: SIGTERM to the task's container through its node's engine, so the run ends its set itself
        and that end record still arrives; without a reachable engine the set gets the fleet's end record."""
        endpoint = self.node_endpoints.get(host)
        if endpoint is None:
            return
        try:
            node = docker.APIClient(base_url=endpoint, timeout=CALL_S)
            for c in call_with_timeout(
                lambda: node.containers(filters={"label": f"com.docker.swarm.service.id={sid}"}), CALL_S, "list"
            ):
                cid: str = c["Id"]
                call_with_timeout(functools.partial(node.kill, cid, signal="SIGTERM"), CALL_S, "kill")
            node.close()
        except Exception:  # noqa: BLE001 - the service removal below stops it anyway
            return
        until = time.monotonic() + STOP_WAIT_S
        while not sink.done and time.monotonic() < until:
            sink.feed(follower.drain())
            time.sleep(0.2)

    def _remove(self, host: str) -> None:
        sid = self.active.pop(host, None)
        if sid is not None:
            try:
                api.remove(self.client, sid, CALL_S)
            except Exception:  # noqa: BLE001 - `fleet run` sweeps its services at the end
                pass
            self._remove_task_containers(host, sid)

    def _remove_task_containers(self, host: str, sid: str) -> None:
        """The removed service's task containers, through the node's engine where it answers from here: the
        node's swarm agent removes them on its own time, which took longer than 30 s here for a job's
        ended task, and a fleet run leaves nothing behind (elsewhere the agent's removal is all there is)."""
        endpoint = self.node_endpoints.get(host)
        if endpoint is None:
            return
        selector = {"label": f"com.docker.swarm.service.id={sid}"}
        try:
            with docker.APIClient(base_url=endpoint, timeout=CALL_S) as node:
                until = time.monotonic() + TASK_GONE_S
                while time.monotonic() < until:
                    if not call_with_timeout(lambda: node.containers(all=True, filters=selector), CALL_S, "list"):
                        return
                    time.sleep(POLL_S)
                for c in call_with_timeout(lambda: node.containers(all=True, filters=selector), CALL_S, "list"):
                    cid: str = c["Id"]
                    call_with_timeout(functools.partial(node.remove_container, cid, force=True), CALL_S, "remove")
        except Exception:  # noqa: BLE001 - a node that does not answer (killed) has no containers to remove
            return

    def sweep(self, fleet_id: Optional[str]) -> list[str]:
        """Removes this fleet's services (every fleet's when None); returns their names."""
        selector = f"{jobspec.FLEET_LABEL}={fleet_id}" if fleet_id else jobspec.FLEET_LABEL
        removed = []
        for svc in call_with_timeout(lambda: self.client.services(filters={"label": selector}), CALL_S, "services"):
            if api.remove(self.client, svc["ID"], CALL_S):
                removed.append(str(svc["Spec"]["Name"]))
        return removed

    def close(self) -> None:
        self.client.close()
