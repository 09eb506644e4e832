"""The VM's state on disk, under build/vm: read by endpoint resolution, written by qemu.py.

Two files, because they live for different spans:
- ``state.json``: the running qemu (pid, port, certificates). Gone whenever the VM is off, which
  includes the moment between a cold round's power-off and its boot.
- ``users.json``: which isobench runs use a VM that a run booted. It outlives those power cycles,
  so a cold round does not turn a run's VM into one "brought up by hand" that nobody stops. No
  file: the VM was brought up by hand (`isobench vm up`) and runs never stop it.

Every read-modify-write of either file happens under ``vm_lock()``, so two runs starting at
once cannot both boot a VM (the loser's qemu would be named by no state file: leaked).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator, Optional

from bench.core.paths import VM_DIR

try:
    import fcntl
except ImportError:  # Windows: the qemu VM is a Linux host's role; nothing there boots it
    fcntl = None  # type: ignore[assignment]


@dataclass
class VMState:
    pid: int
    port: int
    cert_dir: str
    accel: str
    kernel: str
    boot_s: float
    started: str
    cmdline: str = ""  # the guest kernel's command line (its clocksource under TCG); "" in earlier state files
    vcpus: int = 0  # the guest's vCPUs (one under TCG); 0 in earlier state files

    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


@dataclass
class VMUsers:
    """The runs using a run-booted VM: the last one to leave stops it."""

    booted_by: int
    users: list[int] = field(default_factory=list)

    def live(self, without: Optional[int] = None) -> list[int]:
        return [pid for pid in self.users if pid != without and alive(pid)]


def _state_file() -> Path:
    return VM_DIR / "state.json"


def _users_file() -> Path:
    return VM_DIR / "users.json"


def load_state() -> Optional[VMState]:
    """The running VM, or None when there is none (no file, or its qemu is gone)."""
    try:
        raw = json.loads(_state_file().read_text())
        # only the fields this version knows: a state file of an earlier version still names its qemu
        state = VMState(**{f.name: raw[f.name] for f in fields(VMState) if f.name in raw})
    except (OSError, ValueError, TypeError):
        return None
    return state if alive(state.pid) else None


def save_state(state: VMState) -> VMState:
    VM_DIR.mkdir(parents=True, exist_ok=True)
    _state_file().write_text(json.dumps(asdict(state), indent=2))
    return state


def clear_state() -> None:
    _state_file().unlink(missing_ok=True)


def load_users() -> Optional[VMUsers]:
    try:
        raw = json.loads(_users_file().read_text())
        return VMUsers(booted_by=int(raw["booted_by"]), users=[int(p) for p in raw["users"]])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save_users(users: VMUsers) -> VMUsers:
    VM_DIR.mkdir(parents=True, exist_ok=True)
    _users_file().write_text(json.dumps(asdict(users), indent=2))
    return users


def clear_users() -> None:
    _users_file().unlink(missing_ok=True)


@contextlib.contextmanager
def vm_lock() -> Iterator[None]:
    """Holds build/vm/lock exclusively (flock: released by the kernel if the holder dies)."""
    if fcntl is None:
        yield
        return
    VM_DIR.mkdir(parents=True, exist_ok=True)
    with open(VM_DIR / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
