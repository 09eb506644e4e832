"""Who stops the VM engine: the last run using a run-booted VM; never one brought up by hand; and two
runs starting at once boot one VM, not two (the second qemu would be named by no state file).

No qemu here: a `sleep` process stands for the VM (its pid is the qemu's) and for each run (a live
pid in users.json), and the ping answers while the stand-in lives. The real boot is in test_vm.py.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Iterator

import pytest

from bench.engine.control.vm import qemu, state


class FakeHost:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.boots = 0
        self.stopped: list[int] = []

    def process(self) -> int:
        proc = subprocess.Popen(["sleep", "120"])
        self.procs.append(proc)
        return proc.pid

    def boot(self, say: object) -> state.VMState:
        self.boots += 1
        time.sleep(0.3)  # long enough for a second run to arrive during the boot
        return state.save_state(state.VMState(self.process(), 1, "/nonexistent", "tcg", "k", 0.3, "now"))

    def kill(self, pid: int) -> None:
        self.stopped.append(pid)
        for proc in self.procs:
            if proc.pid == pid:
                proc.kill()
                proc.wait()

    def as_run(self, monkeypatch: pytest.MonkeyPatch, pid: int) -> None:
        monkeypatch.setattr(qemu.os, "getpid", lambda: pid)


@pytest.fixture
def host(tmp_path, monkeypatch) -> Iterator[FakeHost]:
    fake = FakeHost()
    monkeypatch.setattr(state, "VM_DIR", tmp_path)
    monkeypatch.setattr(qemu, "VM_DIR", tmp_path)
    monkeypatch.setattr(qemu, "_up", fake.boot)
    monkeypatch.setattr(qemu, "_kill", fake.kill)
    monkeypatch.setattr(qemu, "_ping", lambda port, cert_dir, timeout=5.0: state.load_state() is not None)
    yield fake
    for proc in fake.procs:
        proc.kill()
        proc.wait()


def test_the_last_run_to_leave_stops_the_vm(host, monkeypatch):
    run_a, run_b = host.process(), host.process()
    host.as_run(monkeypatch, run_a)
    vm, joined = qemu.up_for_run(say=lambda m: None)
    assert joined and host.boots == 1
    host.as_run(monkeypatch, run_b)
    said: list[str] = []
    assert qemu.up_for_run(say=said.append) == (vm, True) and host.boots == 1
    assert said == [f"vm: sharing the VM with run(s) pid {run_a}"]
    host.as_run(monkeypatch, run_a)
    assert qemu.leave(say=said.append) is False and state.load_state() == vm  # B still uses it
    assert said[-1] == f"vm: left running for run(s) pid {run_b}"
    host.as_run(monkeypatch, run_b)
    assert qemu.leave(say=said.append) is True
    assert host.stopped == [vm.pid] and state.load_state() is None and state.load_users() is None


def test_a_dead_runs_registration_does_not_keep_the_vm_up(host, monkeypatch):
    run_a, run_b = host.process(), host.process()
    host.as_run(monkeypatch, run_a)
    vm, _ = qemu.up_for_run(say=lambda m: None)
    host.kill(run_a)  # SIGKILLed: it never leaves
    host.as_run(monkeypatch, run_b)
    assert qemu.up_for_run(say=lambda m: None) == (vm, True)
    assert qemu.leave(say=lambda m: None) is True and vm.pid in host.stopped


def test_a_vm_up_by_hand_is_never_stopped_by_a_run(host, monkeypatch):
    vm = qemu.up(say=lambda m: None)
    host.as_run(monkeypatch, host.process())
    assert qemu.up_for_run(say=lambda m: None) == (vm, False)
    assert qemu.leave(say=lambda m: None) is False and state.load_state() == vm and host.stopped == []


def test_two_runs_starting_at_once_boot_one_vm(host, monkeypatch):
    results: list[tuple[state.VMState, bool]] = []
    runs = [threading.Thread(target=lambda: results.append(qemu.up_for_run(say=lambda m: None))) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(10)
    assert host.boots == 1 and len(results) == 2 and results[0][0] == results[1][0]


def test_a_cold_rounds_power_off_keeps_the_vms_users(host, monkeypatch):
    run_a, run_b = host.process(), host.process()
    host.as_run(monkeypatch, run_a)
    first, _ = qemu.up_for_run(say=lambda m: None)
    assert qemu.power_off(say=lambda m: None) is True
    assert state.load_state() is None and state.load_users() == state.VMUsers(run_a, [run_a])
    # run B arrives while A's VM is off: it waits for A's boot rather than booting a second VM
    host.as_run(monkeypatch, run_b)
    joined: list[tuple[state.VMState, bool]] = []
    waiter = threading.Thread(target=lambda: joined.append(qemu.up_for_run(say=lambda m: None)))
    waiter.start()
    time.sleep(0.5)
    assert not joined
    second = state.save_state(state.VMState(host.process(), 1, "/nonexistent", "tcg", "k", 0.3, "now"))  # A's boot
    waiter.join(10)
    assert joined == [(second, True)] and host.boots == 1
    assert sorted(state.load_users().users) == sorted([run_a, run_b])  # type: ignore[union-attr]


def test_a_state_file_of_an_earlier_version_still_names_its_qemu(host, tmp_path):
    pid = host.process()
    old = {"pid": pid, "port": 2376, "cert_dir": "/c", "accel": "tcg", "kernel": "k", "boot_s": 20.0,
           "started": "then", "owner_pid": None}  # fmt: skip
    (tmp_path / "state.json").write_text(json.dumps(old))
    loaded = state.load_state()
    assert loaded is not None and loaded.pid == pid
