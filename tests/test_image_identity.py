"""The test image on the real engine: every import gets a new id, the same recipe the same
content; result sets of runs with the image rebuilt in between compare without --force
(two VM boots, which import it again, are in test_vm.py)."""

from __future__ import annotations

import time

import docker
import pytest

from analysis import identity
from bench.engine.image import build_record, content_identity, ensure_image, expected_layer, find_busybox, rootfs_tar
from helpers import compare_without_force, only_result, run_leased, write_config

pytestmark = pytest.mark.engine

TEST_REPO = "isobench-test/identity"


@pytest.fixture
def scratch(engine):
    """Image ids this test imports under its own tags, removed afterwards (the layer itself
    stays: isobench/busybox:latest shares it)."""
    ids: list[str] = []
    yield ids
    for image_id in ids:
        try:
            engine.remove_image(image_id, force=True)
        except docker.errors.APIError:
            pass


def _import(client, tag: str, scratch: list[str], **kw) -> dict:
    image_id, built = ensure_image(client, f"{TEST_REPO}:{tag}", force=True, **kw)
    assert built
    scratch.append(image_id)
    return client.inspect_image(image_id)


def _records(*images: dict) -> list[dict]:
    return [{"image": {"id": img["Id"], "content": content_identity(img)}} for img in images]


def test_two_imports_of_the_recipe_differ_by_id_not_by_content(engine, scratch):
    first = _import(engine, "a", scratch)
    time.sleep(1.1)  # the import time is what the id hashes
    second = _import(engine, "a", scratch)
    assert first["Id"] != second["Id"]
    assert content_identity(first) == content_identity(second)
    assert content_identity(first)["layers"] == [expected_layer()[0]]
    assert build_record(second)["reproducible"] is True
    check = identity.check_images("runc", ["a", "b"], _records(first, second))
    assert check.mismatches == {} and "content is the same" in check.notes[0]


def test_a_different_content_is_told_apart_by_the_part_that_differs(engine, scratch, tmp_path):
    base = _import(engine, "base", scratch)
    other_busybox = tmp_path / "busybox"
    other_busybox.write_bytes(find_busybox().read_bytes() + b"\0")  # another build of busybox, as it were
    other = _import(engine, "other", scratch, busybox=other_busybox)
    assert content_identity(other)["layers"] != content_identity(base)["layers"]
    assert build_record(other)["reproducible"] is False  # not what this host's busybox gives
    check = identity.check_images("runc", ["a", "b"], _records(base, other))
    assert list(check.mismatches) == ["modes.runc.image.content.layers"]
    engine.import_image_from_data(
        rootfs_tar(find_busybox()), repository=TEST_REPO, tag="cmd", changes=['CMD ["/bin/true"]']
    )
    cmd = engine.inspect_image(f"{TEST_REPO}:cmd")
    scratch.append(cmd["Id"])
    check = identity.check_images("runc", ["a", "b"], _records(base, cmd))
    assert list(check.mismatches) == ["modes.runc.image.content.cmd"]  # same layer, another command


@pytest.fixture(scope="module")
def rebuilt_pair(engine, tmp_path_factory):
    """Two short runc runs of one config, the image rebuilt in between."""
    tmp = tmp_path_factory.mktemp("rebuilt")
    cfg = write_config(tmp / "b.toml", '[[mode]]\npreset = "runc"\n', rounds=24, warmup=1)  # >= 20: batched
    paths = []
    for i in range(2):
        if i:
            ensure_image(engine, force=True)  # what a fresh host, or `bench image --force`, does
        run_leased("run", "--config", str(cfg), "--results", str(tmp / f"r{i}"), "--seed", str(i))
        paths.append(only_result(tmp / f"r{i}"))
    return paths, compare_without_force(paths[0], paths[1], "runc", tmp / "cmp")


# How many rows of such a pair come out slower or faster is a figure for a quiet host, not a test: two
# runs in sequence share no load, so on a shared CI machine a real slowdown between them is a real
# change (CI saw it). Compare's false-positive rate is tested on interleaved halves of one run
# (test_analysis_e2e.py); this pair tests that a rebuilt image of the same content is not refused.
@pytest.mark.slow
def test_two_runs_with_the_image_rebuilt_between_compare_without_force(rebuilt_pair):
    _, table = rebuilt_pair  # compare_without_force asserted the pair is not refused
    assert set(table["verdict"]) <= {"equivalent", "no change detected", "slower", "faster"}
    assert table["phase"].nunique() >= 7


def test_a_forced_rebuild_removes_the_image_it_replaces_unless_a_container_uses_it(engine, scratch):
    first = _import(engine, "replaced", scratch)["Id"]
    time.sleep(1.1)  # a new import time, so a new id
    second = _import(engine, "replaced", scratch)["Id"]
    assert second != first
    with pytest.raises(docker.errors.ImageNotFound):
        engine.inspect_image(first)  # not left behind untagged
    holder = engine.create_container(second, command=["true"], labels={"isobench.run": "image-test"})
    try:
        time.sleep(1.1)
        third = _import(engine, "replaced", scratch)["Id"]
        assert third != second
        assert engine.inspect_image(second)["Id"] == second  # a container uses it: kept
    finally:
        engine.remove_container(holder["Id"], force=True)
