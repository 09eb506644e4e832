"""A Docker engine inside a VM on Linux: what Docker Toolbox is, built from this host's own packages.

`python -m bench vm up|down|status`. The boot image is the host's kernel
(linux-image-amd64) with an initramfs holding busybox-static, dockerd,
containerd and runc from docker.io, and their shared libraries: nothing is
downloaded. qemu boots it with KVM where KVM boots, TCG otherwise (the
accelerator is recorded); dockerd inside listens on tcp with TLS
(certificates generated per VM, docker-machine's layout) forwarded to a
loopback port. All state lives in one directory (bench.core.paths.VM_DIR).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional

from bench.core.errors import UserError
from bench.core.paths import VM_DIR

BINARIES = ("/usr/sbin/dockerd", "/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/sbin/runc",
            "/usr/bin/runc", "/usr/sbin/docker-init", "/usr/bin/docker-init")
MODULES = ("virtio_net", "virtio_pci")
GUEST_PORT = 2376
KVM_BOOT_S = 90.0
TCG_BOOT_S = 300.0
MEMORY_MB = 2048
INIT_MARKER = b"isobench-vm: starting dockerd"
INIT_MARKER_S = {"kvm": 25.0, "tcg": 200.0}

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The root is an initramfs, which cannot be pivot_root'ed: runc must chroot (as boot2docker does).
export DOCKER_RAMDISK=true
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /sys/fs/cgroup /run /var/run /tmp /var/lib/docker
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 none /sys/fs/cgroup
for m in $(cat /modules.order); do insmod "$m" 2>/dev/null; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "isobench-vm: starting dockerd"
dockerd -H tcp://0.0.0.0:2376 --tlsverify --tlscacert /certs/ca.pem --tlscert /certs/server-cert.pem \
  --tlskey /certs/server-key.pem --storage-driver vfs --iptables=false --ip-masq=false --bridge=none \
  --exec-root /run/docker --data-root /var/lib/docker > /dev/console 2>&1 &
while :; do sleep 3600; done
"""


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

def make_certs(cert_dir: Path, days: int = 30, expired: bool = False, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
    """A CA, a server certificate for ``hosts`` and a client certificate, as docker-machine
    lays them out (ca.pem, cert.pem, key.pem; server-cert.pem, server-key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else (now - dt.timedelta(hours=1), now + dt.timedelta(days=days))

    def key() -> Any:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = key()
    ca = (x509.CertificateBuilder().subject_name(name("isobench CA")).issuer_name(name("isobench CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(end).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage: Any, sans: list[Any]) -> tuple[Any, Any]:
        k = key()
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return k, b.sign(ca_key, hashes.SHA256())

    sans: list[Any] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    s_key, s_cert = leaf("isobench engine", ExtendedKeyUsageOID.SERVER_AUTH, sans)
    c_key, c_cert = leaf("isobench client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def pem_key(k: Any) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())

    files = {"ca.pem": ca.public_bytes(serialization.Encoding.PEM), "ca-key.pem": pem_key(ca_key),
             "server-cert.pem": s_cert.public_bytes(serialization.Encoding.PEM), "server-key.pem": pem_key(s_key),
             "cert.pem": c_cert.public_bytes(serialization.Encoding.PEM), "key.pem": pem_key(c_key)}
    for fname, data in files.items():
        path = cert_dir / fname
        path.write_bytes(data)
        path.chmod(0o600 if fname.endswith("key.pem") else 0o644)


# -- the boot image -------------------------------------------------------------------

def kernel_version() -> str:
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        raise UserError("no kernel in /boot: install linux-image-amd64 (apt-get install linux-image-amd64) to build the VM.")
    return kernels[-1].split("vmlinuz-", 1)[1]


def _libs(binary: str) -> set[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    libs = set()
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/") and os.path.exists(p):
                libs.add(p)
    return libs


def _modules(kver: str) -> list[str]:
    order: list[str] = []
    for mod in MODULES:
        out = subprocess.run(["modprobe", "--show-depends", "-S", kver, mod], capture_output=True, text=True,
                             check=False).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod" and parts[1] not in order:
                order.append(parts[1])
    return order


def build_initramfs(cert_dir: Path, out: Path, kver: str) -> Path:
    busybox = shutil.which("busybox") or "/bin/busybox"
    bins = [b for b in BINARIES if os.path.exists(b)]
    if not any(b.endswith("dockerd") for b in bins):
        raise UserError("dockerd is not installed: apt-get install docker.io, then run 'python -m bench vm up' again.")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "certs", "lib64"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, root / "bin" / "busybox")
        files: set[str] = set(bins)
        for b in bins:
            files |= _libs(b)
        modules = _modules(kver)
        files |= set(modules)
        for f in sorted(files):
            dest = root / f.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(f), dest)
        (root / "modules.order").write_text("\n".join(modules) + "\n")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\n")
        for fname in ("ca.pem", "server-cert.pem", "server-key.pem"):
            shutil.copy2(cert_dir / fname, root / "certs" / fname)
        init = root / "init"
        init.write_text(INIT)
        init.chmod(0o755)
        listing = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
        with open(out, "wb") as fh:
            subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=root, input=listing, stdout=fh,
                           check=True)
    return out


# -- running it -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int, cert_dir: Path, timeout: float = 5.0) -> bool:
    from bench.core.config import parse_config
    from bench.engine.endpoints import make_client, resolve

    mode = parse_config({"mode": [{"preset": "vm-engine", "endpoint": f"tcp://127.0.0.1:{port}",
                                   "tls_cert_dir": str(cert_dir)}]}, "vm").modes[0]
    try:
        return bool(make_client(resolve(mode), timeout=timeout, version="1.41").ping())
    except Exception:
        return False


def _boot(accel: str, kver: str, initrd: Path, port: int, cert_dir: Path, deadline_s: float) -> Optional[tuple[int, float]]:
    console = VM_DIR / "console.log"
    cmd = ["qemu-system-x86_64", "-accel", accel, "-m", str(MEMORY_MB), "-smp", "2", "-nographic", "-no-reboot",
           "-kernel", f"/boot/vmlinuz-{kver}", "-initrd", str(initrd),
           "-append", "console=ttyS0 panic=-1 quiet",
           "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-10.0.2.15:{GUEST_PORT}",
           "-device", "virtio-net-pci,netdev=n0"]
    if accel == "kvm":
        cmd[3:3] = ["-cpu", "host"]
    t0 = time.monotonic()
    with open(console, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
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
    """Boots the VM engine, or reuses a running one."""
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
    scenario: what `docker-machine start` does), on the same port where it is free."""
    _require_qemu()
    cert_dir, initrd = VM_DIR / "certs", VM_DIR / "initrd.cpio"
    if not initrd.is_file() or not (cert_dir / "ca.pem").is_file():
        return up(say)
    state = load_state()
    if state is not None:
        _kill(state.pid)
    attempts = [accel] if accel else (["kvm"] if os.path.exists("/dev/kvm") else [])
    attempts += [] if "tcg" in attempts else ["tcg"]
    owner = state.owner_pid if state is not None else None
    return _boot_first(attempts, kernel_version(), initrd, cert_dir, port, say, owner)


def _require_qemu() -> None:
    if shutil.which("qemu-system-x86_64") is None:
        raise UserError("qemu-system-x86_64 is not installed: apt-get install qemu-system-x86, then run 'python -m bench vm up' again.")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # as a listener binds: connections of the VM before still in TIME_WAIT do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _boot_first(attempts: list[str], kver: str, initrd: Path, cert_dir: Path, port: Optional[int], say: Any,
                owner_pid: Optional[int] = None) -> VMState:
    for accel in attempts:
        use_port = port if port and _port_free(port) else _free_port()
        say(f"vm: booting with {accel} ...")
        booted = _boot(accel, kver, initrd, use_port, cert_dir, KVM_BOOT_S if accel == "kvm" else TCG_BOOT_S)
        if booted is None:
            say(f"vm: {accel} did not bring the engine up" + (", falling back to TCG" if accel == "kvm" else ""))
            continue
        pid, boot_s = booted
        state = VMState(pid=pid, port=use_port, cert_dir=str(cert_dir), accel=accel, kernel=kver,
                        boot_s=round(boot_s, 2), started=dt.datetime.now(dt.timezone.utc).isoformat(),
                        owner_pid=owner_pid)
        _save(state)
        say(f"vm: engine ready at {state.endpoint()} after {boot_s:.1f} s ({accel})")
        return state
    raise UserError(f"the VM engine did not come up with {' or '.join(attempts)}: see {VM_DIR / 'console.log'}.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _save(state: VMState) -> VMState:
    _state_file().write_text(json.dumps(asdict(state), indent=2))
    return state


def up_for_run(say: Any = print) -> tuple[VMState, bool]:
    """For a run whose modes need the VM: (state, owned). A VM brought up by hand (`vm up`) or by a live
    run is used as it is; one whose owning run is gone is adopted; otherwise one is booted. The run
    stops a VM it owns on every exit path (see ``down_if_owned``)."""
    state = load_state()
    if state is not None and _ping(state.port, Path(state.cert_dir)):
        if state.owner_pid is None or (_alive(state.owner_pid) and state.owner_pid != os.getpid()):
            return state, False
        say(f"vm: adopting the VM left by run pid {state.owner_pid}")
        return _save(replace(state, owner_pid=os.getpid())), True
    return _save(replace(up(say), owner_pid=os.getpid())), True


def down_if_owned(say: Any = print) -> bool:
    """Stops the VM if this process owns it; leaves one brought up by hand alone."""
    state = load_state()
    if state is None or state.owner_pid != os.getpid():
        return False
    return down(say)


def down(say: Any = print) -> bool:
    state = load_state()
    if state is None:
        _state_file().unlink(missing_ok=True)
        say("vm: not running")
        return False
    _kill(state.pid)
    _state_file().unlink(missing_ok=True)
    say(f"vm: stopped (pid {state.pid})")
    return True


def status(say: Any = print) -> Optional[VMState]:
    state = load_state()
    if state is None:
        say("vm: not running")
        return None
    ok = _ping(state.port, Path(state.cert_dir))
    say(f"vm: pid {state.pid}, {state.endpoint()}, {state.accel}, booted in {state.boot_s} s, engine "
        f"{'answers' if ok else 'does not answer'}")
    return state
