"""`make bench-overhead`: what the harness itself costs (as hyperfine measures its shell).

In one run, five sides per round, in an order balanced for carry-over (bench.overhead.order):
the harness's full cycle (DockerExecutor, as a run times it) and the same requests sent as bare
HTTP/1.1 bytes on the engine's unix socket (bench.overhead.raw); the harness's `run` cycle and
its raw twin; a `docker run --rm` CLI loop on the same engine, image and command. Before the
rounds, the harness and raw cycles also run against a stand-in engine (bench.overhead.stand_in),
which isolates the harness's own microseconds. The figures (bench.overhead.summary): per-phase
ratios against raw HTTP, the harness's cost per phase, the run cycle's throughput against the
CLI, each with its interval and target. A benchmark that prints figures, not a timed test.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable

import docker

from bench.core.config import Mode
from bench.core.paths import DEFAULT_CONFIG
from bench.engine.lease import EngineLease
from bench.engine.preflight import ModeRuntime, check_mode
from bench.engine.spec import create_kwargs
from bench.engine.sweep import sweep
from bench.measure.docker import DockerExecutor
from bench.overhead.client_cost import harness_durations, stand_in_times
from bench.overhead.order import round_order, whole_replicates, williams_rows
from bench.overhead.raw import RawCycle
from bench.overhead.summary import Times, failure_lines, phase_lines, stand_in_lines, throughput_lines
from bench.scenarios import load_config

WARMUP_ROUNDS = 2
# How a side's cycle fails (the harness's and raw's RuntimeError, a socket's OSError, the CLI's exit):
# counted and named, never a traceback
FAILURES = (RuntimeError, OSError, subprocess.SubprocessError)
# Four whole replicates of the ten-row order design over five sides; the issue asks for at least 30.
DEFAULT_ROUNDS = 40
RAW_PATH = (
    "bare HTTP/1.1 bytes built before the clock on one keep-alive connection to the same unix socket, the "
    "same JSON bodies (docker-py's create_container_config), the ready line read from an attach socket "
    "opened before start; written apart from the harness's own path"
)


def bodies_of(label: str, image: str) -> Callable[[docker.APIClient, Mode], dict[str, dict[str, Any]]]:
    """The create bodies of both shapes, as docker-py builds them for the harness."""

    def bodies(client: docker.APIClient, mode: Mode) -> dict[str, dict[str, Any]]:
        shapes = (("full", mode), ("run", replace(mode, cycle="run")))
        return {s: dict(client.create_container_config(**create_kwargs(client, m, image, label))) for s, m in shapes}

    return bodies


def _cli_cycle(image: str, label: str, command: list[str]) -> None:
    """`docker run --rm` with the same image, command, network and root as the harness's run cycle."""
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--label", f"isobench.run={label}", image,
         *command],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


@dataclass
class Sides:
    full: ModeRuntime
    run: ModeRuntime
    raw: RawCycle
    harness: DockerExecutor
    label: str
    has_cli: bool

    def cycles(self) -> dict[str, Callable[[], dict[str, int]]]:
        """Each side's cycle: runs it and returns its phase times (none for the CLI); raises if it failed."""

        def harness(rt: ModeRuntime) -> Callable[[], dict[str, int]]:
            return lambda: harness_durations(self.harness, rt)

        def cli() -> dict[str, int]:
            _cli_cycle(self.run.image, self.label, list(self.run.mode.run_command))
            return {}

        sides = {"harness full": harness(self.full), "raw full": lambda: self.raw.full(self.label),
                 "harness run": harness(self.run), "raw run": lambda: self.raw.run(self.label)}  # fmt: skip
        return {**sides, "cli": cli} if self.has_cli else sides


def _one_round(i: int, sides: Sides, times: Times) -> None:
    keep = i >= WARMUP_ROUNDS
    cycles = sides.cycles()
    try:  # the spacer: the round's first side never follows the last round's last
        sides.raw.full(sides.label)
    except FAILURES as exc:
        times.failed.setdefault("spacer", []).append(str(exc)[:200])
    for name in round_order(i, sorted(cycles)):
        t0 = time.perf_counter_ns()
        try:
            durations = cycles[name]()
        except FAILURES as exc:
            if keep:
                times.failed.setdefault(name, []).append(str(exc)[:200])
            continue
        elapsed = time.perf_counter_ns() - t0
        if keep:
            times.cycles[name][i] = elapsed
            if durations:
                side, shape = name.split()
                times.add_phases(side, shape, i, durations)


def _sides(mode: Mode, rt: ModeRuntime, label: str) -> Sides:
    bodies = bodies_of(label, rt.image)(rt.client, mode)
    raw = RawCycle(rt.endpoint.base_url[len("unix://"):], rt.client.api_version, bodies, list(mode.exec_command),
                   mode.stop_grace_s, mode.ready_marker)  # fmt: skip
    run = replace(rt, mode=replace(mode, cycle="run"))
    return Sides(rt, run, raw, DockerExecutor(label), label, shutil.which("docker") is not None)


def _measure(mode: Mode, rt: ModeRuntime, sides: Sides, rounds: int) -> tuple[Times, Times]:
    label = sides.label
    stand_in = stand_in_times(mode, rt.image, label, bodies_of(label, rt.image))
    times = Times()
    lease = EngineLease(rt.client, rt.image, label, rt.endpoint.base_url)
    lease.acquire()  # like a run: another run's cycles would distort both
    try:
        try:
            for i in range(WARMUP_ROUNDS + rounds):
                _one_round(i, sides, times)
                lease.renew_if_due()
        finally:
            sides.raw.close()
            sweep(rt.client, label)
    finally:
        lease.release()
    return stand_in, times


def main(rounds: int = DEFAULT_ROUNDS) -> int:
    mode = next(m for m in load_config(DEFAULT_CONFIG).modes if m.runtime in (None, "runc"))
    label = "overhead-" + uuid.uuid4().hex[:8]
    check = check_mode(mode, label)
    if not check.usable or check.runtime is None:
        print(f"mode {mode.name} is not usable: {check.reason}")
        return 2
    rt = check.runtime
    if rt.endpoint.scheme != "unix":
        print("bench-overhead needs the local unix-socket engine")
        return 2
    sides = _sides(mode, rt, label)
    n_sides = len(sides.cycles())
    balanced = whole_replicates(rounds, n_sides)
    stand_in, times = _measure(mode, rt, sides, balanced)
    size = len(williams_rows(n_sides))
    note = "" if balanced % size == 0 else f" (fewer than the order design's {size} rows: not balanced)"
    note += "" if balanced == rounds else f" ({rounds} asked, rounded up to whole replicates of the order design)"
    print(f"isobench overhead, {balanced} rounds{note} on {mode.name} (engine {check.record['engine']['version']}), "
          f"sides in an order balanced for carry-over, each round opened by a spacer cycle")  # fmt: skip
    print(f"harness timing path: {sides.harness.timing_path}")
    print(f"raw path: {RAW_PATH}")
    lines, _ = phase_lines(times)
    print("\n".join(lines + stand_in_lines(stand_in, times) + throughput_lines(times) + failure_lines(times)))
    return 0
