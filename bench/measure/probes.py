"""Readiness probes inside the timed `ready` phase (bench.core.workload says what each one is).

`ready` runs from the moment the start call returns until the workload's probe succeeds:

- ``log``: each line read from the attach stream (opened before start) is searched for the pattern;
- ``exec``, ``tcp``, ``http``: a command run in the container (exec create, start, inspect) every
  ``interval_s`` until it exits 0. Each poll's own cost (its three calls) is summed, so a reader can see
  how much of `ready` the probing took.

What the probe saw is kept in a ``ProbeState`` the worker updates as it goes, so that a `ready` the
watchdog ends (a probe that never succeeds) still says which probe it was, how many polls it made and its
last answer. Its record is the ready sample's one new field: ``detail["probe"]`` (``probe_detail``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Optional

from bench.core.outcomes import BadOutput
from bench.core.watchdog import Abandoned, PhaseClock
from bench.core.workload import Probe
from bench.measure.attach import READY_LIMIT_BYTES, _recv

LAST_ANSWER_CHARS = 200


@dataclass
class ProbeState:
    """What a probe has seen so far (written by the cycle's worker, read by its watcher afterwards)."""

    probe: Probe
    polls: int = 0
    cost_ns: int = 0
    last: str = ""

    def record(self) -> dict[str, Any]:
        return {"kind": self.probe.kind, "what": self.probe.describe(), "polls": self.polls,
                "cost_ns": self.cost_ns if self.probe.polled else None, "last": self.last}  # fmt: skip

    def summary(self) -> str:
        """For a failed or timed-out ready: the probe, its polls and its last answer."""
        return f"probe {self.probe.describe()} after {self.polls} poll(s), last answer {self.last!r}"


def probe_detail(state: Optional[ProbeState]) -> Optional[dict[str, Any]]:
    """The ready sample's detail: ``{"probe": {kind, what, polls, cost_ns, last}}`` (None: no workload)."""
    return {"probe": state.record()} if state is not None else None


def _lines(sock: Any) -> Any:
    """The attach stream's output lines (8-byte frame headers removed), as they arrive."""
    raw, out, total = b"", b"", 0
    while True:
        chunk = _recv(sock)
        if not chunk:
            if out:
                yield out.decode("utf-8", "replace").rstrip("\r")
            return
        raw += chunk
        while len(raw) >= 8 and len(raw) >= 8 + int.from_bytes(raw[4:8], "big"):
            size = int.from_bytes(raw[4:8], "big")
            out += raw[8 : 8 + size]
            total += size
            raw = raw[8 + size :]
        while b"\n" in out:
            line, out = out.split(b"\n", 1)
            yield line.decode("utf-8", "replace").rstrip("\r")
        if len(out) > READY_LIMIT_BYTES:
            raise BadOutput(f"no newline in {READY_LIMIT_BYTES} bytes of output")


def wait_log(sock: Any, state: ProbeState) -> None:
    """Until a line of output matches the pattern; the output ending first is a failure naming the probe."""
    pattern = re.compile(state.probe.pattern)
    for line in _lines(sock):
        state.polls += 1
        state.last = line[:LAST_ANSWER_CHARS]
        if pattern.search(line):
            return
    raise BadOutput(f"the container's output ended before the ready probe succeeded: {state.summary()}")


def wait_exec(api: Any, cid: str, state: ProbeState, clock: PhaseClock) -> None:
    """Runs the probe's command in the container until it exits 0, ``interval_s`` apart. A poll that the
    engine refuses (the container not running yet, or gone) counts as a failed poll with the engine's words;
    the watchdog's `ready` timeout ends a probe that never succeeds."""
    argv = list(state.probe.argv())
    while True:
        if clock.abandoned:
            raise Abandoned("ready")
        state.polls += 1
        t0 = time.perf_counter_ns()
        try:
            exec_id = api.exec_create(cid, argv, stdout=True, stderr=True)["Id"]
            output = api.exec_start(exec_id)
            code = api.exec_inspect(exec_id).get("ExitCode")
        except Exception as exc:  # noqa: BLE001 - the answer is recorded; the container may not be up yet
            code, output = None, str(exc).encode()
        state.cost_ns += time.perf_counter_ns() - t0
        if code == 0:
            state.last = "exit 0"
            return
        words = (output or b"").decode("utf-8", "replace").strip()[-LAST_ANSWER_CHARS:]
        state.last = f"exit {code}: {words}" if code is not None else words
        time.sleep(state.probe.interval_s)
