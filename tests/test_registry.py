"""The run's own registry (bench.engine.registry): Debian's docker-registry on a loopback port, answering
until closed; closing ends the process and removes its storage, on every call (idempotent). Needs the
binary (scripts/setup-registry.sh); run under the engine lock, as every registry use."""

from __future__ import annotations

import shutil

import pytest

from bench.core.errors import UserError
from bench.engine import registry

pytestmark = pytest.mark.skipif(shutil.which(registry.BINARY) is None, reason="no docker-registry here")


def test_the_local_registry_answers_on_loopback_and_leaves_nothing_when_closed() -> None:
    reg = registry.start_local()
    try:
        assert reg.addr.startswith("127.0.0.1:") and reg.owned
        assert reg.alive() and registry.answers(reg.addr)
        assert reg.ref("isobench/size:10M") == f"{reg.addr}/isobench/size:10M"
        assert reg.root is not None and reg.root.is_dir()
    finally:
        reg.close()
    assert reg.process is not None and reg.process.poll() is not None
    assert reg.root is not None and not reg.root.exists()
    assert not registry.answers(reg.addr, 0.5)
    reg.close()  # a second exit path: nothing to do, no error


def test_a_killed_registry_is_seen_as_gone() -> None:
    reg = registry.start_local()
    try:
        assert reg.process is not None
        reg.process.kill()
        reg.process.wait(5)
        assert not reg.alive()
    finally:
        reg.close()
    assert reg.root is not None and not reg.root.exists()


def test_a_users_registry_that_does_not_answer_is_one_sentence() -> None:
    said = r"^the registry 127.0.0.1:1 \(the config's \[scenario.first-start\] registry\) does not answer"
    with pytest.raises(UserError, match=said):
        registry.users("127.0.0.1:1")


@pytest.mark.engine
@pytest.mark.parametrize("deletes", [True, False])
def test_an_image_pushed_to_a_registry_is_deleted_through_its_api_or_named_as_left(engine, deletes: bool) -> None:
    """What the end of a first start with the user's own registry does with the images it pushed there:
    DELETE of the manifest by digest; a registry without deletes answers 405 and the image is named."""
    import urllib.error
    import urllib.request

    reg = registry.start_local(deletes=deletes)
    path = "isobench-first-start/isobench/busybox:latest"
    try:
        repo = f"{reg.addr}/isobench-first-start/isobench/busybox"
        engine.tag("isobench/busybox:latest", repo, "latest")
        try:
            assert not any(line.get("error") for line in engine.push(repo, tag="latest", stream=True, decode=True))
        finally:
            engine.remove_image(f"{repo}:latest")
        why = registry.delete_image(reg.addr, path)
        url = f"http://{reg.addr}/v2/isobench-first-start/isobench/busybox/manifests/latest"
        head = urllib.request.Request(url, method="HEAD", headers={"Accept": registry.MANIFESTS})
        if deletes:
            assert why is None
            with pytest.raises(urllib.error.HTTPError, match="404"):
                registry._DIRECT.open(head, timeout=5)
        else:
            assert why is not None and "405" in why
            with registry._DIRECT.open(head, timeout=5) as r:
                assert r.status == 200  # still there, as said
    finally:
        reg.close()
