"""`make bench-overhead`: what the harness itself costs (as hyperfine measures its shell).

In one run, five sides per round, in an order balanced for carry-over (bench.overhead.order):
the harness's full cycle (DockerExecutor, as a run times it) and the same requests sent as
raw HTTP/1.1 over the engine's unix socket (bench.overhead.raw); the harness's `run` cycle
and its raw twin; a `docker run --rm` CLI loop on the same engine, image and command. The
figures (bench.overhead.summary) are per-phase ratios against raw HTTP and the run cycle's
throughput against the CLI, each with its interval and target. A benchmark that prints
figures, not a timed test.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, replace
from typing import Callable

from bench.core.config import Mode, load_config
from bench.core.paths import DEFAULT_CONFIG
from bench.engine.lease import EngineLease
from bench.engine.preflight import ModeRuntime, check_mode
from bench.engine.spec import create_kwargs
from bench.engine.sweep import sweep
from bench.measure.docker import DockerExecutor
from bench.overhead.order import round_order
from bench.overhead.raw import RawCycle
from bench.overhead.stub import client_cost
from bench.overhead.summary import Times, client_lines, phase_lines, throughput_lines

WARMUP_ROUNDS = 2
RAW_PATH = (
    "http.client over the same unix socket, one keep-alive connection, the same JSON bodies "
    "(docker-py's create_container_config), the ready line read from an attach socket opened before start"
)


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

    def cycles(self, times: Times, round_no: int, keep: bool) -> dict[str, Callable[[], bool]]:
        """Each side's cycle: runs it, keeps its phase times (when ``keep``), says whether it succeeded."""

        def harness(rt: ModeRuntime, shape: str) -> Callable[[], bool]:
            def go() -> bool:
                res = self.harness.run_cycle(rt, 0, 0, False)
                ok = all(s["ok"] for s in res.samples)
                if keep and ok:
                    times.add_phases("harness", shape, round_no, {s["phase"]: s["duration_ns"] for s in res.samples})
                return ok

            return go

        def raw(shape: str) -> Callable[[], bool]:
            def go() -> bool:
                durations = self.raw.full(self.label) if shape == "full" else self.raw.run(self.label)
                if keep:
                    times.add_phases("raw", shape, round_no, durations)
                return True

            return go

        def cli() -> bool:
            _cli_cycle(self.run.image, self.label, list(self.run.mode.run_command))
            return True

        sides = {"harness full": harness(self.full, "full"), "raw full": raw("full"),
                 "harness run": harness(self.run, "run"), "raw run": raw("run")}  # fmt: skip
        return {**sides, "cli": cli} if self.has_cli else sides


def _one_round(i: int, sides: Sides, times: Times) -> None:
    keep = i >= WARMUP_ROUNDS
    cycles = sides.cycles(times, i, keep)
    for name in round_order(i, sorted(cycles)):
        t0 = time.perf_counter_ns()
        ok = cycles[name]()
        elapsed = time.perf_counter_ns() - t0
        if keep and ok:
            times.cycles[name][i] = elapsed


def _sides(mode: Mode, rt: ModeRuntime, label: str) -> Sides:
    client = rt.client
    run_mode = replace(mode, cycle="run")
    bodies = {shape: dict(client.create_container_config(**create_kwargs(client, m, rt.image, label)))
              for shape, m in (("full", mode), ("run", run_mode))}  # fmt: skip
    raw = RawCycle(rt.endpoint.base_url[len("unix://"):], client.api_version, bodies, list(mode.exec_command),
                   mode.stop_grace_s, mode.ready_marker)  # fmt: skip
    return Sides(rt, replace(rt, mode=run_mode), raw, DockerExecutor(label), label, shutil.which("docker") is not None)


def main(rounds: int = 30) -> int:
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
    # Like a run, it takes the engine's lease: another run's cycles would distort both.
    lease = EngineLease(rt.client, rt.image, label, rt.endpoint.base_url)
    lease.acquire()
    try:
        cost = client_cost(create_kwargs(rt.client, mode, rt.image, label))
        sides, times = _sides(mode, rt, label), Times()
        for i in range(WARMUP_ROUNDS + rounds):
            _one_round(i, sides, times)
            lease.renew_if_due()
    finally:
        sweep(rt.client, label)
        lease.release()
    print(f"isobench overhead, {rounds} rounds on {mode.name} (engine {check.record['engine']['version']}), "
          f"sides in an order balanced for carry-over")  # fmt: skip
    print(f"harness timing path: {sides.harness.timing_path}")
    print(f"raw path: {RAW_PATH}")
    lines, _ = phase_lines(times)
    print("\n".join(lines + client_lines(cost, times) + throughput_lines(times)))
    return 0
