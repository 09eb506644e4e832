"""Images by size: sizes as written, the archive `docker load` reads, reproducibility, incompressible data."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib

import pytest

from bench.core.errors import UserError
from bench.core.sizes import parse_size, parse_sizes
from bench.engine import sized
from bench.engine.image import rootfs_tar


@pytest.mark.parametrize("text, n", [("10M", 10 << 20), ("1G", 1 << 30), ("512K", 512 << 10), (" 100M", 100 << 20)])
def test_sizes_are_binary_units(text: str, n: int) -> None:
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["10X", "10", "M", "0M", "-1M", "1.5G", "17G", "10m", ""])
def test_a_bad_size_is_one_sentence(text: str) -> None:
    with pytest.raises(UserError, match=r"^--size .* is not an image size: give a whole number and a unit K, M or G"):
        parse_sizes(f"10M,{text}")


def test_sizes_keep_their_order_without_repeats() -> None:
    assert parse_sizes("100M,10M,100M,1G") == ("100M", "10M", "1G")


@pytest.fixture
def busybox(tmp_path):
    path = tmp_path / "busybox"
    path.write_bytes(b"\x7fELF-not-really" * 100)
    return path


def test_the_archive_is_what_docker_load_reads_and_its_id_is_the_configs_digest(busybox) -> None:
    p = sized.plan("1M", busybox)
    digests: list[str] = []
    data = b"".join(sized.archive(p, digests))
    tf = tarfile.open(fileobj=io.BytesIO(data))
    (manifest,) = json.loads(tf.extractfile("manifest.json").read())
    assert manifest["RepoTags"] == ["isobench/size:1M"]
    config = tf.extractfile(manifest["Config"]).read()
    assert "sha256:" + hashlib.sha256(config).hexdigest() == sized.expected_id(p)
    layers = [tf.extractfile(name).read() for name in manifest["Layers"]]
    assert layers[0] == rootfs_tar(busybox)  # the test image's own layer underneath
    assert (
        json.loads(config)["rootfs"]["diff_ids"]
        == digests
        == ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]
    )
    inner = tarfile.open(fileobj=io.BytesIO(layers[1]))
    (member,) = [m for m in inner.getmembers() if m.isfile()]
    assert member.name == "data/1M-0" and member.size == 1 << 20 and member.mtime == 0 and member.uid == 0
    assert len(data) % 512 == 0 and p.total == sum(len(x) for x in layers)


def test_every_build_gives_the_same_id_and_each_size_its_own(busybox) -> None:
    assert sized.expected_id(sized.plan("1M", busybox)) == sized.expected_id(sized.plan("1M", busybox))
    assert sized.expected_id(sized.plan("1M", busybox)) != sized.expected_id(sized.plan("2M", busybox))


def test_the_data_do_not_compress(busybox) -> None:
    layer = b"".join(list(sized.plan("4M", busybox).layers())[1][1])
    assert len(zlib.compress(layer, 6)) > 0.99 * len(layer)


def test_large_sizes_are_split_into_layers_of_at_most_256_mib() -> None:
    assert sized._splits(1 << 30) == [256 << 20] * 4
    assert sized._splits(100 << 20) == [100 << 20]
    parts = sized._splits((300 << 20) + 7)
    assert len(parts) == 2 and sum(parts) == (300 << 20) + 7 and max(parts) <= sized.LAYER_MAX
