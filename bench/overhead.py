"""`make bench-overhead`: what the harness itself costs (as hyperfine measures its shell).

In one run, interleaved cycle by cycle:
1. each phase through the harness (DockerExecutor: docker-py's APIClient on a
   watched worker thread) against the same requests sent as raw HTTP/1.1 over
   the engine's unix socket with http.client, timed the same way;
2. the harness's full cycles per second against a `docker run --rm IMAGE true`
   CLI loop on the same engine.

Prints the ratios against the targets (at most +2% per phase, at least 1.3x
the CLI's throughput). A benchmark that prints figures, not a timed test.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from bench.core.config import Mode, load_config
from bench.core.paths import DEFAULT_CONFIG
from bench.core.phases import PHASES
from bench.engine.preflight import ModeRuntime, check_mode
from bench.engine.spec import create_kwargs
from bench.engine.sweep import sweep
from bench.measure.docker import DockerExecutor

PHASE_TARGET = 1.02
READY_BOUND_MS = 0.05
THROUGHPUT_TARGET = 1.3


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class RawCycle:
    """The harness's cycle as bare HTTP requests: the floor any client can reach."""

    def __init__(self, sock_path: str, api: str, body: dict[str, Any], exec_cmd: list[str], grace: int, marker: str):
        self.sock_path, self.api, self.body, self.exec_cmd = sock_path, api, body, exec_cmd
        self.grace, self.marker = grace, marker
        self.conn = UnixHTTPConnection(sock_path)

    def _req(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, f"/v{self.api}{path}", body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:200]!r}")
        return resp.status, payload

    def _attach(self, cid: str) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self.sock_path)
        q = urlencode({"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
        s.sendall(
            f"POST /v{self.api}/containers/{cid}/attach?{q} HTTP/1.1\r\nHost: localhost\r\n"
            f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        self._pending = head.split(b"\r\n\r\n", 1)[1]
        return s

    def _ready(self, s: socket.socket) -> None:
        buf, out = self._pending, b""
        while b"\n" not in out:
            while len(buf) < 8:
                buf += s.recv(4096)
            size = int.from_bytes(buf[4:8], "big")
            while len(buf) < 8 + size:
                buf += s.recv(4096)
            out += buf[8 : 8 + size]
            buf = buf[8 + size :]
        if out.split(b"\n", 1)[0].strip() != self.marker.encode():
            raise RuntimeError(f"unexpected first line {out!r}")

    def run(self, label: str) -> dict[str, int]:
        t: dict[str, int] = {}
        body = json.dumps(dict(self.body, Labels={**self.body.get("Labels", {}), "isobench.run": label})).encode()
        t0 = time.perf_counter_ns()
        _, created = self._req("POST", "/containers/create", body)
        t["create"] = time.perf_counter_ns() - t0
        cid = json.loads(created)["Id"]
        try:
            s = self._attach(cid)
            t0 = time.perf_counter_ns()
            self._req("POST", f"/containers/{cid}/start")
            t1 = time.perf_counter_ns()
            self._ready(s)
            t["start"], t["ready"] = t1 - t0, time.perf_counter_ns() - t1
            s.close()
            t0 = time.perf_counter_ns()
            _, ex = self._req(
                "POST", f"/containers/{cid}/exec", {"Cmd": self.exec_cmd, "AttachStdout": True, "AttachStderr": True}
            )
            self._req("POST", f"/exec/{json.loads(ex)['Id']}/start", {"Detach": False, "Tty": False})
            t["exec"] = time.perf_counter_ns() - t0
            t0 = time.perf_counter_ns()
            self._req("POST", f"/containers/{cid}/stop?t={self.grace}")
            t["stop"] = time.perf_counter_ns() - t0
            t0 = time.perf_counter_ns()
            self._req("DELETE", f"/containers/{cid}")
            t["remove"] = time.perf_counter_ns() - t0
        except BaseException:
            try:
                self._req("DELETE", f"/containers/{cid}?force=1")
            except Exception:
                pass
            raise
        return t


def _cli_cycle(image: str, label: str, command: list[str]) -> int:
    """`docker run --rm` with the same image, command, network and root as the harness's run cycle."""
    t0 = time.perf_counter_ns()
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--label", f"isobench.run={label}", image,
         *command],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return time.perf_counter_ns() - t0


@dataclass
class Times:
    """Medians are taken over these: per phase for the harness and raw HTTP, whole cycles per side."""

    harness: dict[str, list[int]] = field(default_factory=lambda: {p: [] for p in PHASES})
    raw: dict[str, list[int]] = field(default_factory=lambda: {p: [] for p in PHASES})
    full_cycle: list[int] = field(default_factory=list)
    run_cycle: list[int] = field(default_factory=list)
    cli_cycle: list[int] = field(default_factory=list)


@dataclass
class Sides:
    """What one round runs, interleaved in a rotating order so drift hits every side alike."""

    full: ModeRuntime
    run: ModeRuntime
    raw: RawCycle
    harness: DockerExecutor
    label: str
    has_cli: bool


def _timed_cycle(harness: DockerExecutor, rt: ModeRuntime, i: int) -> tuple[int, Any]:
    t0 = time.perf_counter_ns()
    res = harness.run_cycle(rt, i, 0, False)
    return time.perf_counter_ns() - t0, res


def _one_round(i: int, sides: Sides, times: Times) -> None:
    keep = i >= 2  # two warm-up rounds, discarded
    order = ["harness", "raw", "run", "cli"]
    for who in order[i % 4 :] + order[: i % 4]:
        if who == "harness":
            elapsed, res = _timed_cycle(sides.harness, sides.full, i)
            if keep and all(s["ok"] for s in res.samples):
                times.full_cycle.append(elapsed)
                for s in res.samples:
                    times.harness[s["phase"]].append(s["duration_ns"])
        elif who == "raw":
            t = sides.raw.run(sides.label)
            for p in PHASES if keep else ():
                times.raw[p].append(t[p])
        elif who == "run":
            elapsed, res = _timed_cycle(sides.harness, sides.run, i)
            if keep and all(s["ok"] for s in res.samples):
                times.run_cycle.append(elapsed)
        elif sides.has_cli:
            elapsed = _cli_cycle(sides.run.image, sides.label, list(sides.run.mode.run_command))
            if keep:
                times.cli_cycle.append(elapsed)


def _report(times: Times, rounds: int, mode_name: str, engine_version: str, timing_path: str) -> None:
    print(f"isobench overhead, {rounds} interleaved rounds on {mode_name} (engine {engine_version})")
    print(f"harness timing path: {timing_path}")
    print(
        "raw path: http.client over the same unix socket, one keep-alive connection, the same JSON bodies "
        "(docker-py's create_container_config), the ready line read from an attach socket opened before start"
    )
    print(f"{'phase':8s} {'harness ms':>11s} {'raw HTTP ms':>12s} {'ratio':>7s}  target <= {PHASE_TARGET:.2f}")
    worst = 0.0
    for p in PHASES:
        h, r = statistics.median(times.harness[p]) / 1e6, statistics.median(times.raw[p]) / 1e6
        ratio = h / r if r else float("nan")
        if p == "ready":
            ok = h - r <= READY_BOUND_MS
            print(
                f"{p:8s} {h:11.3f} {r:12.3f} {ratio:7.3f}  judged by its absolute bound: harness - raw = "
                f"{h - r:.3f} ms (bound {READY_BOUND_MS} ms) {'OK' if ok else 'OVER'}"
            )
            continue
        worst = max(worst, ratio)
        print(f"{p:8s} {h:11.3f} {r:12.3f} {ratio:7.3f}  {'OK' if ratio <= PHASE_TARGET else 'OVER'}")
    print(f"worst per-phase ratio: {worst:.3f} (ready judged by its absolute bound)")
    full = 1e9 / statistics.median(times.full_cycle)
    run = 1e9 / statistics.median(times.run_cycle)
    print(f"harness full cycle (create..remove, incl. attach and inspect): {full:.2f} cycles/s")
    print(f"harness run cycle (create, attach, start, first line, wait, remove): {run:.2f} cycles/s")
    if times.cli_cycle:
        cli = 1e9 / statistics.median(times.cli_cycle)
        print(f"`docker run --rm --network none --read-only IMAGE CMD` CLI loop: {cli:.2f} cycles/s")
        print(
            f"throughput ratio run-cycle / CLI: {run / cli:.2f} (target >= {THROUGHPUT_TARGET}) "
            f"{'OK' if run / cli >= THROUGHPUT_TARGET else 'UNDER'}"
        )
    else:
        print("no docker CLI on PATH: throughput comparison skipped")


def _sides(mode: Mode, rt: ModeRuntime, label: str) -> Sides:
    client = rt.client
    body = dict(client.create_container_config(**create_kwargs(client, mode, rt.image, label)))
    raw = RawCycle(rt.endpoint.base_url[len("unix://"):], client.api_version, body, list(mode.exec_command),
                   mode.stop_grace_s, mode.ready_marker)  # fmt: skip
    run_rt = replace(rt, mode=replace(mode, cycle="run"))
    return Sides(rt, run_rt, raw, DockerExecutor(label), label, shutil.which("docker") is not None)


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
    sides, times = _sides(mode, rt, label), Times()
    try:
        for i in range(2 + rounds):
            _one_round(i, sides, times)
    finally:
        sweep(rt.client, label)
    _report(times, rounds, mode.name, check.record["engine"]["version"], sides.harness.timing_path)
    return 0
