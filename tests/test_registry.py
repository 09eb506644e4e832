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
