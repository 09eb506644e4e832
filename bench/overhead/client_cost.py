"""The harness's own cost per phase, in microseconds: its cycles and the raw cycles against the
stand-in engine (bench.overhead.stand_in), interleaved cycle by cycle. The engine answers at once
and always alike, so the per-phase difference of medians is what the harness adds (its timed path,
and around it the worker thread and the watchdog), resolved to a few microseconds where the real
engine's own variation is milliseconds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import docker

from bench.core.config import Mode
from bench.engine.endpoints import Endpoint
from bench.engine.preflight import ModeRuntime
from bench.measure.docker import DockerExecutor
from bench.overhead.raw import RawCycle
from bench.overhead.stand_in import API, stand_in_engine
from bench.overhead.summary import Times

Bodies = Callable[[docker.APIClient, Mode], dict[str, dict[str, Any]]]


def stand_in_times(mode: Mode, image: str, label: str, bodies: Bodies, cycles: int = 300) -> Times:
    """Per-phase times of both sides and both shapes against the stand-in; ``bodies`` gives the create
    bodies the raw cycle sends (the same as the harness's)."""
    times = Times()
    with stand_in_engine(mode.ready_marker) as path:
        client = docker.APIClient(base_url=f"unix://{path}", version=API, timeout=10)
        try:
            full = ModeRuntime(mode, Endpoint(f"unix://{path}", "unix"), client, image)
            run = replace(full, mode=replace(mode, cycle="run"))
            harness = DockerExecutor(label)
            raw = RawCycle(path, API, bodies(client, mode), list(mode.exec_command), mode.stop_grace_s,
                           mode.ready_marker)  # fmt: skip
            sides: list[tuple[str, str, Callable[[], dict[str, int]]]] = [
                ("harness", "full", lambda: harness_durations(harness, full)),
                ("raw", "full", lambda: raw.full(label)),
                ("harness", "run", lambda: harness_durations(harness, run)),
                ("raw", "run", lambda: raw.run(label)),
            ]
            for i in range(cycles):
                for side, shape, cycle in sides if i % 2 else sides[::-1]:
                    times.add_phases(side, shape, i, cycle())
            raw.close()
        finally:
            client.close()
    return times


def harness_durations(harness: DockerExecutor, rt: ModeRuntime) -> dict[str, int]:
    """One harness cycle, as a run times it: its phase times; raises, naming the phase, if it failed."""
    res = harness.run_cycle(rt, 0, 0, False)
    failed = [s for s in res.samples if not s.ok]
    if failed:
        raise RuntimeError(f"{failed[0].phase}: {failed[0].error}: {failed[0].message}")
    return {s.phase: s.duration_ns or 0 for s in res.samples}
