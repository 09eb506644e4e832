"""The local test image, built without a registry: the host's static busybox in an empty root.

`docker import` through the API, so it works against any Linux engine this
harness can reach (the local one, or an engine inside a VM). The tarball is
reproducible: the same busybox binary gives the same layer digest on every
host and every import, though each import gets a new image id (the engine
stamps the import time into the config). Result sets therefore record the
image's content identity beside its id (``content_identity``, ``build_record``).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import struct
import tarfile
from pathlib import Path
from typing import Any, Optional

import docker

from bench.core.errors import UserError
from bench.core.presets import LINUX_IMAGE

APPLETS = ("sh", "echo", "sleep", "true", "false", "cat", "ls", "ps")
PT_INTERP = 3


def is_static_elf(path: Path) -> bool:
    """True when the ELF file has no program interpreter (so it runs in an empty root)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        endian = "<" if head[5] == 1 else ">"
        (phoff,) = struct.unpack_from(endian + "Q", head, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x36)
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + "I", fh.read(4))
            if p_type == PT_INTERP:
                return False
    return True


def find_busybox() -> Path:
    for candidate in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if candidate and Path(candidate).is_file() and is_static_elf(Path(candidate)):
            return Path(candidate)
    raise UserError("no static busybox on this host: install it (apt-get install busybox-static) and run again.")


# The rootfs entries, in a fixed order. Kept as the first recipe wrote them so images built
# before the recipe was pinned down have the same layer digest as those built after it.
DIRS = ("bin", "tmp", "proc", "sys", "dev", "etc")
BLOCK, RECORD = 512, 10240  # tar's block, and the record size archives are padded to


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _header(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> bytes:
    """One USTAR header, written out rather than left to tarfile, whose defaults have
    changed between Python versions (device numbers of plain files, pax records). Every
    field that could vary between hosts is pinned: mtime 0, owner 0:0 with no names.
    Byte-for-byte what Python 3.11's tarfile writes for the same entry, so images built
    by the earlier recipe keep their layer digest."""
    head = b"".join(
        [
            name.encode().ljust(100, b"\0"),
            _octal(mode, 8),
            _octal(0, 8),
            _octal(0, 8),
            _octal(size, 12),
            _octal(0, 12),
            b" " * 8,
            kind,
            linkname.encode().ljust(100, b"\0"),
            b"ustar\x0000",
            b"\0" * (32 + 32 + 8 + 8 + 155),
        ]
    ).ljust(BLOCK, b"\0")
    checksum = b"%06o\0" % sum(head)  # computed with the checksum field as spaces
    return head[:148] + checksum + head[155:]


def rootfs_tar(busybox: Path) -> bytes:
    """The image's only layer, byte-for-byte reproducible from the busybox binary.

    The engine's layer diff id is the sha256 of the tar stream it imported, so the same
    busybox binary gives the same layer on every host and every import.
    """
    data = busybox.read_bytes()
    parts = [_header(d + "/", tarfile.DIRTYPE, 0o755) for d in DIRS]
    parts += [_header("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), data, b"\0" * (-len(data) % BLOCK)]
    parts += [_header(f"bin/{a}", tarfile.SYMTYPE, 0o644, linkname="busybox") for a in APPLETS]
    out = b"".join(parts) + b"\0" * (2 * BLOCK)  # end-of-archive marker
    return out + b"\0" * (-len(out) % RECORD)


@functools.lru_cache(maxsize=4)
def _expected(busybox: Path, size: int, mtime_ns: int) -> tuple[str, str]:
    """(layer diff id, busybox sha256). Keyed on size and mtime too, so a busybox
    upgraded in the same process is read again."""
    data = rootfs_tar(busybox)
    return "sha256:" + hashlib.sha256(data).hexdigest(), "sha256:" + hashlib.sha256(busybox.read_bytes()).hexdigest()


def expected_layer(busybox: Optional[Path] = None) -> tuple[str, str]:
    """(the layer diff id this host's busybox gives, the busybox binary's sha256).

    An engine's diff id is the sha256 of the uncompressed tar it imported, so this is
    what any engine importing this host's recipe must report.
    """
    path = busybox or find_busybox()
    st = path.stat()
    return _expected(path, st.st_size, st.st_mtime_ns)


def content_identity(img: dict[str, Any]) -> dict[str, Any]:
    """What makes two images the same for a run, from `GET /images/{name}/json`.

    The image id hashes the config, which `docker import` stamps with the import time,
    so two imports of one tarball differ by id. The layer diff ids are content
    addresses and do not; with them, the config a container inherits (command,
    entrypoint, environment, working directory, user) and the platform (for Windows
    the OS version, which process isolation depends on).
    """
    cfg = img.get("Config") or {}
    return {
        "layers": list((img.get("RootFS") or {}).get("Layers") or []),
        "cmd": cfg.get("Cmd"),
        "entrypoint": cfg.get("Entrypoint"),
        "env": cfg.get("Env"),
        "working_dir": cfg.get("WorkingDir") or "",
        "user": cfg.get("User") or "",
        "os": img.get("Os"),
        "os_version": img.get("OsVersion"),
        "architecture": img.get("Architecture"),
    }


def build_record(img: dict[str, Any], busybox: Optional[Path] = None) -> dict[str, Any]:
    """For the image isobench builds: the layer this host's recipe gives and whether the
    engine's copy is that layer (``reproducible``); null with a reason where it cannot say."""
    try:
        expected, busybox_sha = expected_layer(busybox)
    except (UserError, OSError) as exc:
        return {
            "expected_layer": None,
            "reproducible": None,
            "reason": f"no static busybox to rebuild the layer from here ({exc})",
        }
    observed = list((img.get("RootFS") or {}).get("Layers") or [])
    return {
        "recipe": "busybox-static rootfs, deterministic tar (mtime 0, owner 0:0, fixed order)",
        "busybox_sha256": busybox_sha,
        "expected_layer": expected,
        "observed_layers": observed,
        "reproducible": observed == [expected],
    }


def ensure_image(
    client: docker.APIClient, ref: str = LINUX_IMAGE, force: bool = False, busybox: Optional[Path] = None
) -> tuple[str, bool]:
    """(image id, built now?). Leaves an existing image alone unless ``force``; a forced rebuild removes
    the image it replaces, unless a container still uses it (each import has a new id, so without this
    every rebuild would leave an untagged image behind)."""
    try:
        old_id: Optional[str] = client.inspect_image(ref)["Id"]
    except docker.errors.ImageNotFound:
        old_id = None
    if old_id is not None and not force:
        return old_id, False
    repo, _, tag = ref.rpartition(":")
    data = rootfs_tar(busybox or find_busybox())
    client.import_image_from_data(data, repository=repo, tag=tag, changes=['CMD ["/bin/sh"]'])
    new_id: str = client.inspect_image(ref)["Id"]
    if old_id is not None and old_id != new_id:
        _remove_replaced(client, old_id)
    return new_id, True


def _remove_replaced(client: docker.APIClient, image_id: str) -> None:
    try:
        if not client.inspect_image(image_id).get("RepoTags"):  # still tagged elsewhere: someone's image
            client.remove_image(image_id)
    except Exception:  # noqa: BLE001 - in use (409), gone, or the engine busy: left as it is, untagged
        pass
