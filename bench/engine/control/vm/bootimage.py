"""The VM's boot image, from this host's own packages: the host's kernel and an initramfs holding
busybox-static, dockerd, containerd and runc with their shared libraries. Nothing is downloaded."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.core.errors import UserError

BINARIES = (
    "/usr/sbin/dockerd",
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/sbin/runc",
    "/usr/bin/runc",
    "/usr/sbin/docker-init",
    "/usr/bin/docker-init",
)
MODULES = ("virtio_net", "virtio_pci")
INIT_MARKER = b"isobench-vm: starting dockerd"
# qemu's user networking (slirp) answers for the host at 10.0.2.2: a guest connection there reaches the
# host's 127.0.0.1. So the guest's engine pulls from a registry the run serves on the host's loopback
# (first-start) at HOST_ALIAS:PORT, and the host still connects only to loopback. That registry speaks
# plain HTTP, which an engine accepts only for registries it is told are insecure: the slirp network.
HOST_ALIAS = "10.0.2.2"
INSECURE_REGISTRIES = "10.0.2.0/24"
# What the image holds, as a number, written beside it and into it (2: the engine accepts the slirp
# network's plain-HTTP registries). `up` builds the image anew; `restart` boots the one it finds.
IMAGE_VERSION = 2

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
  --exec-root /run/docker --data-root /var/lib/docker --insecure-registry {insecure} > /dev/console 2>&1 &
while :; do sleep 3600; done
""".replace("{insecure}", INSECURE_REGISTRIES)


def kernel_version() -> str:
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        raise UserError(
            "no kernel in /boot: install linux-image-amd64 (apt-get install linux-image-amd64) to build the VM."
        )
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
        out = subprocess.run(
            ["modprobe", "--show-depends", "-S", kver, mod], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod" and parts[1] not in order:
                order.append(parts[1])
    return order


def build_initramfs(cert_dir: Path, out: Path, kver: str) -> Path:
    busybox = shutil.which("busybox") or "/bin/busybox"
    bins = [b for b in BINARIES if os.path.exists(b)]
    if not any(b.endswith("dockerd") for b in bins):
        raise UserError("dockerd is not installed: apt-get install docker.io, then run 'isobench vm up' again.")
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
        (root / "etc" / "isobench-image").write_text(f"{IMAGE_VERSION}\n")
        listing = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
        with open(out, "wb") as fh:
            subprocess.run(
                ["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=root, input=listing, stdout=fh, check=True
            )
    version_file(out).write_text(f"{IMAGE_VERSION}\n")
    return out


def version_file(initrd: Path) -> Path:
    return initrd.with_name(initrd.name + ".version")


# -- running it -----------------------------------------------------------------------
