"""The local test image, built without a registry: the host's static busybox in an empty root.

`docker import` through the API, so it works against any Linux engine this
harness can reach (the local one, or an engine inside a VM).
"""

from __future__ import annotations

import io
import shutil
import struct
import tarfile
from pathlib import Path
from typing import Optional

import docker

from bench.errors import UserError
from bench.presets import LINUX_IMAGE

APPLETS = ("sh", "echo", "sleep", "true", "false", "cat", "ls", "ps")
PT_INTERP = 3


def is_static_elf(path: Path) -> bool:
    """True when the ELF file has no program interpreter (so it runs in an empty root)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        endian = "<" if head[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", head, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x36)
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            p_type, = struct.unpack(endian + "I", fh.read(4))
            if p_type == PT_INTERP:
                return False
    return True


def find_busybox() -> Path:
    for candidate in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if candidate and Path(candidate).is_file() and is_static_elf(Path(candidate)):
            return Path(candidate)
    raise UserError("no static busybox on this host: install it (apt-get install busybox-static) and run again.")


def rootfs_tar(busybox: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buf.getvalue()


def ensure_image(client: docker.APIClient, ref: str = LINUX_IMAGE, force: bool = False,
                 busybox: Optional[Path] = None) -> tuple[str, bool]:
    """(image id, built now?). Leaves an existing image alone unless ``force``."""
    if not force:
        try:
            return client.inspect_image(ref)["Id"], False
        except docker.errors.ImageNotFound:
            pass
    repo, _, tag = ref.rpartition(":")
    data = rootfs_tar(busybox or find_busybox())
    client.import_image_from_data(data, repository=repo, tag=tag, changes=['CMD ["/bin/sh"]'])
    return client.inspect_image(ref)["Id"], True
