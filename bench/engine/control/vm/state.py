"""The running VM's state on disk (build/vm/state.json): read by endpoint resolution, written by qemu.py."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from bench.core.paths import VM_DIR


@dataclass
class VMState:
    pid: int
    port: int
    cert_dir: str
    accel: str
    kernel: str
    boot_s: float
    started: str
    # The pid of the isobench run that booted this VM and stops it when it ends (None: `vm up` by hand,
    # left running on purpose). A run finding a VM whose owner is gone adopts it.
    owner_pid: Optional[int] = None

    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


def _state_file() -> Path:
    return VM_DIR / "state.json"


def load_state() -> Optional[VMState]:
    try:
        state = VMState(**json.loads(_state_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(state.pid, 0)
    except OSError:
        return None
    return state


# -- certificates ---------------------------------------------------------------------


def save_state(state: VMState) -> VMState:
    _state_file().write_text(json.dumps(asdict(state), indent=2))
    return state


def clear_state() -> None:
    _state_file().unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
