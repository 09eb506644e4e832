"""Issue 23, the measuring side: the startup waterfall from process events, the kernel's event
listener, the engine's cgroup and the probe's cost records (what is written, what never is; never samples)."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.core.costs import CPU_CONTAINER, CPU_ENGINE, CPU_HARNESS, STEP_NAMES, WATERFALL
from bench.engine import cgroups
from bench.engine.procevents import EXEC, EXIT, FORK, ProcEvent, ProcEvents, parse
from bench.measure import cost, waterfall
from bench.results.records import Cost, Place, Sample

T0 = 1_000_000_000


def ev(ms: float, what: str, pid: int, *argv: str) -> ProcEvent:
    return ProcEvent(T0 + int(ms * 1e6), what, pid, 0, tuple(argv))


RUNC_START = [
    ev(12, "exec", 10, "containerd-shim-runc-v2", "-namespace", "moby", "start"),
    ev(19, "exec", 11, "containerd-shim-runc-v2", "-namespace", "moby"),
    ev(25, "exec", 12, "runc", "--root", "/run/runc", "create", "--bundle", "/b"),
    ev(33, "exec", 13, "runc", "init"),
    ev(53, "exec", 14, "libnetwork-setkey", "-exec-root=/x", "id", "ctl"),
    ev(149, "exit", 14),
    ev(166, "exit", 12),
    ev(172, "exec", 15, "runc", "--root", "/run/runc", "start", "id"),
    ev(178, "exit", 15),
]


def test_a_runc_start_splits_at_its_processes_and_sums_to_start_plus_ready():
    found = waterfall.markers(RUNC_START)
    assert set(found) == {"shim", "create", "init", "hook", "hook_exit", "create_exit", "start", "start_exit"}
    t_end = T0 + 187_000_000
    steps = waterfall.steps(found, T0, t_end)
    assert [s for s, _ in steps] == ["engine", "shim", "create", "init", "hook", "hooked", "created", "start", "app"]
    assert sum(ns for _, ns in steps) == t_end - T0
    assert dict(steps)["hook"] == 96_000_000


def test_runsc_markers_and_a_wrapper_in_front_of_the_runtime():
    events = [
        ev(14, "exec", 20, "containerd-shim-runc-v2", "start"),
        ev(32, "exec", 21, "sh", "/usr/bin/runsc", "create", "--bundle", "/b"),  # the wrapper first
        ev(34, "exec", 22, "runsc", "create", "--bundle", "/b"),
        ev(67, "exec", 23, "runsc-gofer", "--root", "/r", "gofer"),
        ev(72, "exec", 24, "runsc-sandbox", "--root", "/r", "boot"),
        ev(246, "exit", 22),
        ev(249, "exit", 21),
    ]
    found = waterfall.markers(events)
    assert found["create"] == T0 + 32_000_000 and found["create_exit"] == T0 + 249_000_000
    assert [s for s, _ in waterfall.steps(found, T0, T0 + 300_000_000)] == [
        "engine", "shim", "create", "gofer", "sandbox", "created",
    ]  # fmt: skip


def test_a_marker_out_of_order_or_after_the_ready_line_merges_into_the_step_before():
    found = {"shim": T0 + 10, "create": T0 + 5, "start": T0 + 50, "start_exit": T0 + 500}
    steps = waterfall.steps(found, T0, T0 + 100)
    assert steps == [("engine", 10), ("shim", 40), ("start", 50)]
    assert waterfall.steps({}, T0, T0 + 100) == [("engine", 100)]
    assert set(STEP_NAMES) >= {s for s, _ in steps}


def _datagram(what: int, ints: tuple[int, ...]) -> bytes:
    body = struct.pack("=IIQ", what, 0, 5) + struct.pack(f"={len(ints)}i", *ints)
    return struct.pack("=IHHII", 36 + len(body), 3, 0, 0, 0) + struct.pack("=IIIIHH", 1, 1, 0, 0, len(body), 0) + body


def test_parse_reads_fork_exec_and_exit():
    data = _datagram(FORK, (1, 1, 7, 7)) + _datagram(EXEC, (7, 7)) + _datagram(EXIT, (7, 7, 0, 17))
    assert parse(data) == [(FORK, 5, (1, 1, 7, 7)), (EXEC, 5, (7, 7)), (EXIT, 5, (7, 7, 0, 17))]


def test_followed_processes_only_and_threads_never():
    pe = ProcEvents([100])
    pe._take(FORK, 1, (100, 100, 101, 101))  # a child process: followed
    pe._take(FORK, 2, (100, 100, 102, 100))  # a thread: not
    pe._take(FORK, 3, (5, 5, 6, 6))  # not below the roots
    pe._take(EXIT, 4, (101, 101, 0, 17))
    assert [(e.what, e.pid) for e in pe.events] == [("fork", 101), ("exit", 101)]
    assert pe.followed == {100}


@pytest.mark.skipif(os.geteuid() != 0, reason="the process-event connector needs root")
def test_the_listener_sees_a_child_on_the_harness_clock_and_closes():
    pe = ProcEvents([os.getpid()]).start()
    pe.focus(True)
    try:
        t0 = time.perf_counter_ns()
        subprocess.run(["sh", "-c", "sleep 0.02"], check=True)
        t1 = time.perf_counter_ns()
        seen = pe.window(t0, t1)
    finally:
        pe.close()
    assert not pe.alive and pe._socks == []
    execs = [e for e in seen if e.what == "exec"]
    assert execs and execs[0].argv[:2] == ("sh", "-c")
    assert all(t0 <= e.ns <= t1 for e in seen)  # the kernel's stamps fall inside the harness's window
    exits = [e for e in seen if e.what == "exit"]
    assert exits and exits[-1].ns - execs[0].ns >= 20_000_000


def test_hierarchy_from_mountinfo(tmp_path: Path):
    v1 = tmp_path / "v1"
    v1.write_text("33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpuacct\n")
    v2 = tmp_path / "v2"
    v2.write_text("30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n")
    none = tmp_path / "none"
    none.write_text("1 0 0:1 / / rw - ext4 /dev/sda1 rw\n")
    assert cgroups.hierarchy(v1) == cgroups.Hierarchy(Path("/sys/fs/cgroup/cpuacct"), v2=False)
    assert cgroups.hierarchy(v2) == cgroups.Hierarchy(Path("/sys/fs/cgroup"), v2=True)
    assert "no cpuacct" in str(cgroups.hierarchy(none))


def test_usage_v1_and_v2(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cpuacct.usage").write_text("1234\n")
    (tmp_path / "a" / "cpu.stat").write_text("usage_usec 7\nuser_usec 5\n")
    assert cgroups.Hierarchy(tmp_path, v2=False).usage_ns("/a") == 1234
    assert cgroups.Hierarchy(tmp_path, v2=True).usage_ns("/a") == 7000
    assert cgroups.Hierarchy(tmp_path, v2=False).usage_ns("/gone") is None


def test_children_follow_the_tree():
    assert sorted(cgroups.children({2: 1, 3: 2, 4: 3, 9: 8}, [2])) == [2, 3, 4]


class _Home:
    def __init__(self, values: list[int]) -> None:
        self.values = values
        self.cgroups = ("/isobench-engine",)
        self.h = None

    def usage_ns(self) -> int:
        return self.values.pop(0)


def _probe(engine: Any, why: dict[str, str]) -> cost.CostProbe:
    src = cost.Sources(engine=engine, dockerd=1, containers=None, qemu=None, why=why)
    return cost.CostProbe({"runc": src}, None, "switched off")


def _cycle(ok: bool = True) -> list[Sample]:
    base: dict[str, Any] = {"round": 3, "pos": 0, "mode": "runc", "warmup": False, "wall_ns": 1}
    return [
        Sample(**base, phase="create", duration_ns=5, ok=True, cid="abc"),
        Sample(**base, phase="start", duration_ns=5, ok=ok, error=None if ok else "runtime_error"),
    ]


def test_the_probe_writes_cpu_samples_and_never_a_zero_for_what_it_cannot_read(monkeypatch):
    monkeypatch.setattr(cgroups, "cgroup_of", lambda pid, h: "/isobench-engine")
    rt = SimpleNamespace(mode=SimpleNamespace(name="runc"))
    probe = _probe(_Home([100, 350]), {})
    samples = _cycle()
    out = probe.finish(rt, samples, probe.begin(rt), None, 40)  # type: ignore[arg-type]
    assert len(samples) == 2  # the cycle's samples are left alone: costs are records of their own kind
    got = {c.metric: c for c in out}
    assert all(isinstance(c, Cost) and {"phase", "error"}.isdisjoint(c.to_json()) for c in out)
    assert all(c.to_json()["type"] == "cost" for c in out)
    assert got[CPU_ENGINE].value_ns == 250 and got[CPU_ENGINE].ok
    assert got[CPU_CONTAINER].value_ns == 40 and got[CPU_HARNESS].value_ns >= 0
    assert got[CPU_ENGINE].round == 3 and got[CPU_ENGINE].cid == "abc"
    assert WATERFALL not in got  # no listener: no waterfall, and the header says why

    blind = _probe(None, {CPU_ENGINE: "the engine is not a dockerd on this machine"})
    out = blind.finish(rt, _cycle(), blind.begin(rt), None, None)  # type: ignore[arg-type]
    assert {c.metric for c in out} == {CPU_HARNESS}
    header = blind.header()["modes"]["runc"]
    assert header[CPU_ENGINE] == {"unavailable": "the engine is not a dockerd on this machine"}
    assert "unavailable" in blind.header()["waterfall"]


def test_a_failed_cycle_keeps_its_cpu_not_ok_and_never_its_failure_category():
    rt = SimpleNamespace(mode=SimpleNamespace(name="runc"))
    probe = _probe(None, {CPU_ENGINE: "no"})
    (cpu,) = probe.finish(rt, _cycle(ok=False), probe.begin(rt), None, None)  # type: ignore[arg-type]
    assert cpu.metric == CPU_HARNESS and not cpu.ok and cpu.failed_at == "start"
    assert "runtime_error" not in json.dumps(cpu.to_json())  # the cycle's category counts once: on its own sample


def test_the_lean_attach_reads_the_answers_head_and_no_byte_of_the_stream():
    from bench.measure.attach import read_first_line
    from bench.measure.lean import _read_head

    a, b = socket.socketpair()
    try:
        frame = b"\x01\x00\x00\x00" + (6).to_bytes(4, "big") + b"ready\n"
        a.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n" + frame)
        assert _read_head(b) == 101
        assert read_first_line(b, "ready") == "ready"
    finally:
        a.close()
        b.close()


def test_a_burst_gets_its_engine_and_harness_cpu_once_slot_null(monkeypatch):
    monkeypatch.setattr(cgroups, "cgroup_of", lambda pid, h: "/isobench-engine")
    rt = SimpleNamespace(mode=SimpleNamespace(name="runc"))
    probe = _probe(_Home([100, 3300]), {})
    base = Place(round=0, pos=1, mode="runc", warmup=False, scenario="burst", group=7, level=16,
                 level_unit="containers", slot=None)  # fmt: skip
    out = probe.finish_group(rt, base, 16, probe.begin(rt))  # type: ignore[arg-type]
    assert {c.metric: c.value_ns for c in out}[CPU_ENGINE] == 3200
    assert all(c.slot is None and c.group == 7 and c.level_unit == "containers" for c in out)
    assert all(c.detail == {"containers": 16} for c in out)


def test_a_bursts_cpu_goes_beside_its_samples_and_its_makespan_stays_last(monkeypatch):
    from bench.measure import scale
    from bench.measure.group import GroupResult, Slot

    made = [Sample(round=0, pos=0, mode="runc", phase=p, duration_ns=1, ok=True, warmup=False, wall_ns=1)
            for p in ("ready", "makespan")]  # fmt: skip
    monkeypatch.setattr(scale, "run_burst", lambda *a: GroupResult([Slot({}, samples=made)]))  # type: ignore[typeddict-item]
    monkeypatch.setattr(cgroups, "cgroup_of", lambda pid, h: "/isobench-engine")
    executor = SimpleNamespace(events={}, probe=_probe(_Home([0, 10]), {}), run_id="r", stuck=None)
    runner = scale.ScaleRunner(executor, SimpleNamespace(barrier_s=1.0))  # type: ignore[arg-type]
    rt = SimpleNamespace(mode=SimpleNamespace(name="runc"))
    base = Place(round=0, pos=0, mode="runc", warmup=False, scenario="burst", group=1, level=2,
                 level_unit="containers", slot=None)  # fmt: skip
    result = runner.burst(rt, base, 2)  # type: ignore[arg-type]
    assert [s.phase for s in result.samples] == ["ready", "makespan"]
    assert {c.metric for c in result.costs} == {CPU_HARNESS, CPU_ENGINE}


@pytest.mark.skipif(os.geteuid() != 0, reason="the process-event connector needs root")
def test_a_paused_listener_gets_no_events_and_its_subscription_comes_back():
    pe = ProcEvents([os.getpid()]).start()
    try:
        pe.focus(True)
        pe.pause(True)
        t0 = time.perf_counter_ns()
        subprocess.run(["true"], check=True)
        time.sleep(0.25)
        assert pe.window(t0, time.perf_counter_ns(), wait_s=0.3) == []
        pe.pause(False)
        t1 = time.perf_counter_ns()
        subprocess.run(["true"], check=True)
        assert any(e.what == "exec" for e in pe.window(t1, time.perf_counter_ns()))
    finally:
        pe.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the process-event connector needs root")
def test_after_a_second_stop_signal_the_probe_closes_its_listener_without_waiting(monkeypatch):
    """The shutdown's last second after a second Ctrl-C is for the leases and the VM: the probe's listener
    is closed (unsubscribed) without waiting for its thread; otherwise it waits at most CLOSE_WAIT_S."""
    from bench.core import signals
    from bench.engine.procevents import CLOSE_WAIT_S

    waits: list[Any] = []
    for hurry in (True, False):
        pe = ProcEvents([os.getpid()]).start()
        assert pe._thread is not None
        real_join = pe._thread.join
        monkeypatch.setattr(pe._thread, "join", lambda timeout=None, j=real_join: waits.append(timeout) or j(timeout))
        monkeypatch.setattr(signals, "hurrying", lambda h=hurry: h)
        cost.CostProbe({}, pe, "").close()
        assert pe._socks == []
    assert waits == [CLOSE_WAIT_S]
