"""Booting the VM under qemu (KVM where it boots, TCG otherwise), stopping it, and a run's ownership of it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from bench.core.config import EndpointSettings
from bench.core.errors import UserError
from bench.core.paths import VM_DIR
from bench.engine.control.vm.bootimage import INIT_MARKER, build_initramfs, kernel_version
from bench.engine.control.vm.certs import make_certs
from bench.engine.control.vm.state import (
    VMState,
    VMUsers,
    clear_state,
    clear_users,
    load_state,
    load_users,
    save_state,
    save_users,
    vm_lock,
)

# The VM-hosted engine as an endpoint: its address and certificates come from the state file; TLS is
# capped at 1.2 as the vm-engine preset does (under TCG, Go's ChaCha20 breaks TLS 1.3 records).
VM_TARGET = EndpointSettings(endpoint="vm", tls_max_version="1.2", name="vm-engine")
GUEST_PORT = 2376
KVM_BOOT_S = 90.0
TCG_BOOT_S = 300.0
# The guest's storage is in this memory too (the initramfs root: at most half of it), vfs keeping each layer
# as a full copy of the one below: a 100M image's first start fits, a 1G image's does not (README), so
# make bench-workloads stops the VM at 100M.
MEMORY_MB = 2048
INIT_MARKER_S = {"kvm": 25.0, "tcg": 200.0}


# Under TCG the guest's TSC clocksource is unreliable: guests soft-lock ("CPU#0 stuck for 339s", seen
# here mid-start twice in one day, a start that never answered) as other TCG guests do (linuxboot/heads
# #1683). The ACPI PM timer is emulated exactly. KVM keeps the kernel's own choice.
TCG_CLOCKSOURCE = "acpi_pm"


# One vCPU under TCG: with two on a two-core host, one vCPU spins waiting for the other to answer an
# inter-processor call while the host has descheduled that one's thread, and the kernel reports a soft
# lockup; the engine stops answering (a start timed out after 30 s, then 120 s of refused reconnects, in
# CI today, with the ACPI PM clock already in place). KVM vCPUs are real CPUs' time slices: two.
VCPUS = {"kvm": 2, "tcg": 1}


def kernel_cmdline(accel: str) -> str:
    return "console=ttyS0 panic=-1 quiet" + (f" clocksource={TCG_CLOCKSOURCE}" if accel == "tcg" else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int, cert_dir: Path, timeout: float = 5.0) -> bool:
    from bench.engine.endpoints import make_client, resolve

    # TLS 1.2 as the vm-engine preset asks (see bench.core.presets: TCG breaks Go's ChaCha20)
    target = EndpointSettings(
        endpoint=f"tcp://127.0.0.1:{port}", tls_cert_dir=str(cert_dir), tls_max_version="1.2", name="vm"
    )
    try:
        return bool(make_client(resolve(target), timeout=timeout, version="1.41").ping())
    except Exception:
        return False


def _boot(
    accel: str, kver: str, initrd: Path, port: int, cert_dir: Path, deadline_s: float
) -> Optional[tuple[int, float]]:
    console = VM_DIR / "console.log"
    cmd = [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-m",
        str(MEMORY_MB),
        "-smp",
        str(VCPUS[accel]),
        "-nographic",
        "-no-reboot",
        "-kernel",
        f"/boot/vmlinuz-{kver}",
        "-initrd",
        str(initrd),
        "-append",
        kernel_cmdline(accel),
        "-netdev",
        f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-10.0.2.15:{GUEST_PORT}",
        "-device",
        "virtio-net-pci,netdev=n0",
    ]
    if accel == "kvm":
        cmd[3:3] = ["-cpu", "host"]
    if console.exists():  # the boot before's console, kept for one more boot (a failed run's guest)
        console.replace(console.with_name("console.prev.log"))
    t0 = time.monotonic()
    with open(console, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    # A guest that never reaches our /init (KVM without nested virtualisation hangs
    # like that) is given up on early rather than at the full deadline.
    init_deadline = INIT_MARKER_S[accel]
    try:
        while time.monotonic() - t0 < deadline_s:
            if proc.poll() is not None:
                return None
            elapsed = time.monotonic() - t0
            if elapsed > init_deadline and INIT_MARKER not in console.read_bytes():
                break
            if _ping(port, cert_dir, timeout=3):
                return proc.pid, time.monotonic() - t0
            # Before the guest listens, qemu's forwarder refuses at once: polling often is cheap
            # and gives the boot time (the cold scenario's engine_up) sub-second resolution.
            time.sleep(0.2)
    except BaseException:
        # Ctrl-C or SIGTERM during the boot: no state file names this qemu yet, so nobody
        # else could stop it.
        _kill(proc.pid)
        raise
    _kill(proc.pid)
    return None


def _kill(pid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(pid, sig)
        except OSError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)


def up(say: Any = print) -> VMState:
    """`isobench vm up`: boots the VM engine, or reuses a running one, and keeps it up on purpose (no
    run stops it, whichever runs use it, until `vm down`)."""
    with vm_lock():
        state = _up(say)
        if load_users() is not None:
            clear_users()
            say("vm: kept running after the runs using it end ('isobench vm down' stops it)")
        return state


def _up(say: Any) -> VMState:
    state = load_state()
    if state is not None and _ping(state.port, Path(state.cert_dir)):
        say(f"vm: reusing the running VM (pid {state.pid}, {state.endpoint()}, {state.accel})")
        return state
    if state is not None:
        _kill(state.pid)
    _require_qemu()
    VM_DIR.mkdir(parents=True, exist_ok=True)
    cert_dir = VM_DIR / "certs"
    make_certs(cert_dir)
    kver = kernel_version()
    initrd = build_initramfs(cert_dir, VM_DIR / "initrd.cpio", kver)
    say(f"vm: built {initrd} ({initrd.stat().st_size / 1e6:.0f} MB) for kernel {kver}")
    attempts = (["kvm"] if os.path.exists("/dev/kvm") else []) + ["tcg"]
    return _boot_first(attempts, kver, initrd, cert_dir, None, say)


def restart(port: Optional[int] = None, accel: Optional[str] = None, say: Any = print) -> VMState:
    """Boots the VM again from the image and certificates the last `up` built (the cold
    scenario: what `docker-machine start` does), on the same port where it is free. Who uses
    the VM (users.json) is kept: a power cycle does not change who stops it."""
    _require_qemu()
    cert_dir, initrd = VM_DIR / "certs", VM_DIR / "initrd.cpio"
    with vm_lock():
        # The image the running VM was booted from, whatever its version: a cold round's timed engine_up
        # must not include building a new one (an older image is replaced by the next `up`, untimed).
        if not initrd.is_file() or not (cert_dir / "ca.pem").is_file():
            return _up(say)
        state = load_state()
        if state is not None:
            _kill(state.pid)
        attempts = [accel] if accel else (["kvm"] if os.path.exists("/dev/kvm") else [])
        attempts += [] if "tcg" in attempts else ["tcg"]
        return _boot_first(attempts, kernel_version(), initrd, cert_dir, port, say)


def power_off(say: Any = print) -> bool:
    """Stops the qemu but not the VM's users (a cold round's engine stop: the same runs boot it again)."""
    with vm_lock():
        state = load_state()
        clear_state()
        if state is None:
            return False
        _kill(state.pid)
        say(f"vm: powered off (pid {state.pid})")
        return True


def _require_qemu() -> None:
    if shutil.which("qemu-system-x86_64") is None:
        raise UserError(
            "qemu-system-x86_64 is not installed: apt-get install qemu-system-x86, then run 'isobench vm up' again."
        )


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # as a listener binds: connections of the VM before still in TIME_WAIT do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _boot_first(
    attempts: list[str],
    kver: str,
    initrd: Path,
    cert_dir: Path,
    port: Optional[int],
    say: Any,
) -> VMState:
    for accel in attempts:
        use_port = port if port and _port_free(port) else _free_port()
        say(f"vm: booting with {accel} ...")
        booted = _boot(accel, kver, initrd, use_port, cert_dir, KVM_BOOT_S if accel == "kvm" else TCG_BOOT_S)
        if booted is None:
            say(f"vm: {accel} did not bring the engine up" + (", falling back to TCG" if accel == "kvm" else ""))
            continue
        pid, boot_s = booted
        state = VMState(
            pid=pid,
            port=use_port,
            cert_dir=str(cert_dir),
            accel=accel,
            kernel=kver,
            boot_s=round(boot_s, 2),
            started=dt.datetime.now(dt.timezone.utc).isoformat(),
            cmdline=kernel_cmdline(accel),
            vcpus=VCPUS[accel],
        )
        save_state(state)
        say(f"vm: engine ready at {state.endpoint()} after {boot_s:.1f} s ({accel})")
        return state
    raise UserError(f"the VM engine did not come up with {' or '.join(attempts)}: see {VM_DIR / 'console.log'}.")


def _runs(pids: list[int]) -> str:
    return "run(s) pid " + ", ".join(map(str, pids))


def up_for_run(say: Any = print) -> tuple[VMState, bool]:
    """For a run whose modes need the VM: (state, joined). A VM brought up by hand (`vm up`) is used as
    it is and never stopped by a run (joined is False). Otherwise the run joins the VM's users, booting
    it if none is up; it must ``leave`` on every exit path, and the last run to leave stops the VM."""
    me = os.getpid()
    with vm_lock():
        state, users = load_state(), load_users()
        if state is not None and _ping(state.port, Path(state.cert_dir)):
            if users is None:
                return state, False
            others = users.live(without=me)
            save_users(replace(users, users=others + [me]))
            if others:
                say(f"vm: sharing the VM with {_runs(others)}")
            return state, True
        restarting = users.live(without=me) if users is not None else []
        if users is None or not restarting:
            booted = _up(say)
            save_users(VMUsers(booted_by=me, users=[me]))
            return booted, True
        # A live run powered its VM off for a cold round: booting a second one would take its port
        # and name a qemu nobody stops. Wait for that run's boot instead.
        save_users(replace(users, users=restarting + [me]))
    return _wait_for_restart(restarting, say), True


def _wait_for_restart(runs: list[int], say: Any) -> VMState:
    say(f"vm: waiting for {_runs(runs)} to boot the VM again")
    deadline = time.monotonic() + TCG_BOOT_S
    while time.monotonic() < deadline:
        state = load_state()
        if state is not None and _ping(state.port, Path(state.cert_dir)):
            return state
        time.sleep(1.0)
    leave(say)
    raise UserError(
        f"the VM engine that {_runs(runs)} restarted did not answer within "
        f"{TCG_BOOT_S:g} s: see {VM_DIR / 'console.log'}."
    )


def leave(say: Any = print) -> bool:
    """This run stops using the VM. The last run to leave a run-booted VM stops it; one brought up by
    hand stays up. Returns whether the VM was stopped."""
    me = os.getpid()
    with vm_lock():
        users = load_users()
        if users is None:
            return False
        others = users.live(without=me)
        if others:
            save_users(replace(users, users=others))
            say(f"vm: left running for {_runs(others)}")
            return False
        return _down(say)


def down(say: Any = print) -> bool:
    """`isobench vm down`: stops the VM whoever uses it (their runs then fail as the engine is gone)."""
    with vm_lock():
        users = load_users()
        live = users.live(without=os.getpid()) if users is not None else []
        if live:
            say(f"vm: stopping the VM that {_runs(live)} use")
        return _down(say)


def _down(say: Any) -> bool:
    state = load_state()
    clear_users()
    clear_state()
    if state is None:
        say("vm: not running")
        return False
    _kill(state.pid)
    say(f"vm: stopped (pid {state.pid})")
    return True


def status(say: Any = print) -> Optional[VMState]:
    state = load_state()
    if state is None:
        say("vm: not running")
        return None
    ok = _ping(state.port, Path(state.cert_dir))
    users = load_users()
    runs = users.live() if users is not None else []
    kept = "up by hand (runs never stop it)" if users is None else \
        f"used by {_runs(runs)}" if runs else "used by no live run"  # fmt: skip
    say(
        f"vm: pid {state.pid}, {state.endpoint()}, {state.accel}, booted in {state.boot_s} s, engine "
        f"{'answers' if ok else 'does not answer'}; {kept}"
    )
    return state


def vm_client(timeout: float) -> Any:
    """A low-level client to the running VM's engine."""
    from bench.engine.endpoints import make_client, resolve

    return make_client(resolve(VM_TARGET), timeout=timeout)
