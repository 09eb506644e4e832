"""Images by size (`isobench image --size 10M,100M,1G`): the test image's busybox layer plus layers of
seeded pseudo-random data, so that a pull downloads and extracts what a real image of that size costs
(the data do not compress: gzip gains nothing on them).

Reproducible: the archive is built byte for byte here (the layers as in bench.engine.image: fixed order,
mtime 0, owner 0:0; the data from SHAKE-256 of a fixed seed, the size and the chunk's index; a config
with a fixed creation time) and loaded with `docker load`, so the engine's image id, the sha256 of that
config, is the same on every host and every build. ``expected_id`` computes it without an engine.

The data are split into layers of at most ``LAYER_MAX`` bytes (a 1G image has four), as real images
have several layers and engines pull a few at once. The archive is streamed to the engine, never
written to disk whole.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from bench.core.sizes import parse_size
from bench.engine.image import BLOCK, _header, find_busybox, rootfs_tar

REPOSITORY = "isobench/size"
SEED = b"isobench-size-v1"
CHUNK = 1 << 22
LAYER_MAX = 256 << 20
CREATED = "1970-01-01T00:00:00Z"


def ref_of(label: str) -> str:
    """The local reference of a size's image: ``isobench/size:100M``."""
    return f"{REPOSITORY}:{label}"


def _data(label: str, index: int, size: int) -> Iterator[bytes]:
    """``size`` bytes of layer ``index``'s data: SHAKE-256 of (seed, label, layer, chunk), chunk by chunk."""
    done, chunk = 0, 0
    while done < size:
        n = min(CHUNK, size - done)
        yield hashlib.shake_256(b"%s:%s:%d:%d" % (SEED, label.encode(), index, chunk)).digest(n)
        done, chunk = done + n, chunk + 1


def _data_layer(label: str, index: int, size: int) -> Iterator[bytes]:
    """One data layer's tar: ``data/<label>-<index>`` of ``size`` bytes, then the end-of-archive blocks."""
    yield _header("data/", tarfile.DIRTYPE, 0o755)
    yield _header(f"data/{label}-{index}", tarfile.REGTYPE, 0o444, size)
    yield from _data(label, index, size)
    yield b"\0" * (-size % BLOCK) + b"\0" * (2 * BLOCK)


def _layer_size(size: int) -> int:
    return 2 * BLOCK + size + (-size % BLOCK) + 2 * BLOCK


def _splits(total: int) -> list[int]:
    """The data's layer sizes: as few layers as ``LAYER_MAX`` allows, equal but for the last."""
    count = max(1, -(-total // LAYER_MAX))
    each = total // count
    return [each] * (count - 1) + [total - each * (count - 1)]


@dataclass(frozen=True)
class Plan:
    """What one size's image holds: its label, its data layers' sizes, the busybox layer."""

    label: str
    base: bytes
    data_sizes: tuple[int, ...]

    def layers(self) -> Iterator[tuple[int, Iterator[bytes]]]:
        """(length, chunks) of each layer tar, in order."""
        yield len(self.base), iter((self.base,))
        for i, size in enumerate(self.data_sizes):
            yield _layer_size(size), _data_layer(self.label, i, size)

    @property
    def total(self) -> int:
        return len(self.base) + sum(_layer_size(s) for s in self.data_sizes)


def plan(label: str, busybox: Optional[Path] = None) -> Plan:
    total = parse_size(label)
    return Plan(label, rootfs_tar(busybox or find_busybox()), tuple(_splits(total)))


def _config(diff_ids: list[str]) -> bytes:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "isobench image --size"} for _ in diff_ids],
    }
    return json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()


def _member(name: str, data_len: int) -> bytes:
    return _header(name, tarfile.REGTYPE, 0o644, data_len)


def archive(p: Plan, digests: Optional[list[str]] = None) -> Iterator[bytes]:
    """The `docker load` archive of ``p``, streamed: the layers (their sha256 taken on the way, into
    ``digests``), then the config and manifest.json."""
    diff_ids = digests if digests is not None else []
    for i, (length, chunks) in enumerate(p.layers()):
        yield _member(f"{i}/layer.tar", length)
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
            yield c
        yield b"\0" * (-length % BLOCK)
        diff_ids.append("sha256:" + h.hexdigest())
    config = _config(diff_ids)
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps(
        [
            {
                "Config": config_name,
                "RepoTags": [ref_of(p.label)],
                "Layers": [f"{i}/layer.tar" for i in range(len(diff_ids))],
            }
        ]
    ).encode()
    for name, data in ((config_name, config), ("manifest.json", manifest)):
        yield _member(name, len(data)) + data + b"\0" * (-len(data) % BLOCK)
    yield b"\0" * (2 * BLOCK)


def expected_id(p: Plan) -> str:
    """The image id the engine gives ``p`` (the sha256 of its config): computed without an engine."""
    digests: list[str] = []
    for _, chunks in p.layers():
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
        digests.append("sha256:" + h.hexdigest())
    return "sha256:" + hashlib.sha256(_config(digests)).hexdigest()


@dataclass(frozen=True)
class Built:
    ref: str
    image_id: str
    built: bool  # loaded now (else it was there already)
    layers: int
    size: int  # bytes of layer tars


def ensure_sized(client: Any, label: str, force: bool = False, busybox: Optional[Path] = None) -> Built:
    """The size's image on the engine: loaded unless an image of its expected id is already tagged there."""
    p = plan(label, busybox)
    want = expected_id(p)
    try:
        have: Optional[str] = client.inspect_image(ref_of(label))["Id"]
    except Exception:  # noqa: BLE001 - not there (or unreadable): load it
        have = None
    if have == want and not force:
        return Built(ref_of(label), want, False, 1 + len(p.data_sizes), p.total)
    for _ in client.load_image(archive(p)):
        pass
    got: str = client.inspect_image(ref_of(label))["Id"]
    return Built(ref_of(label), got, True, 1 + len(p.data_sizes), p.total)


def remove_sized(client: Any, label: str) -> bool:
    """Removes the size's image (its data layers go with it; the busybox layer stays while the test image
    has it). False: it was not there."""
    try:
        client.remove_image(ref_of(label), force=True)
        return True
    except Exception as exc:  # noqa: BLE001 - only "not there" is an answer; the rest is raised
        if getattr(exc, "status_code", None) == 404:
            return False
        raise
