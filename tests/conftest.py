"""Shared fixtures. Engine tests run against the real local Docker engine: in CI an
absent engine is a failure (CI=true), on a developer machine a skip."""

from __future__ import annotations

import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers import host_dockerd_pid, labelled_containers, lost_samples, private_sshd, sshd_missing

DAEMON_JSON = Path("/etc/docker/daemon.json")


def _client():
    from bench.cli import default_client

    return default_client()


@pytest.fixture(scope="session")
def engine():
    """A low-level client to the local engine, with the test image present."""
    try:
        client = _client()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        if os.environ.get("CI"):
            pytest.fail(f"no Docker engine in CI ({exc}): .ci/run must start one (make test does)")
        pytest.skip(f"no Docker engine: {exc}")
    from bench.engine.image import ensure_image

    ensure_image(client)
    return client


@pytest.fixture(scope="session")
def loopback_sshd(tmp_path_factory) -> Iterator[dict]:
    """One private sshd on a loopback port for the session (helpers.private_sshd), shared by the ssh://
    tests and the fleet's Ansible tests."""
    missing = sshd_missing()
    if missing:
        pytest.skip(missing)
    with private_sshd(tmp_path_factory.mktemp("ssh")) as server:
        yield server


@pytest.fixture
def results(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    return d


def _reload_dockerd() -> None:
    pid = host_dockerd_pid()
    if pid is None:
        pytest.skip("dockerd is not a local process: cannot register a test runtime")
    os.kill(pid, signal.SIGHUP)


@pytest.fixture
def register_runtime(engine, tmp_path: Path) -> Iterator:
    """Registers OCI runtimes (name -> shell script body) in daemon.json for one test,
    reloads dockerd, and restores the original file afterwards."""
    if os.geteuid() != 0 or not DAEMON_JSON.parent.exists():
        pytest.skip("needs root and a local dockerd to register a runtime")
    original = DAEMON_JSON.read_text() if DAEMON_JSON.exists() else None
    added: list[str] = []

    def register(name: str, script: str) -> str:
        path = Path("/usr/local/libexec/isobench-test") / f"{name}.sh"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + script + "\n")
        path.chmod(0o755)
        cfg = json.loads(DAEMON_JSON.read_text() or "{}") if DAEMON_JSON.exists() else {}
        cfg.setdefault("runtimes", {})[name] = {"path": str(path)}
        DAEMON_JSON.write_text(json.dumps(cfg, indent=2))
        added.append(name)
        _reload_dockerd()
        deadline = time.monotonic() + 10
        while name not in (engine.info().get("Runtimes") or {}):
            assert time.monotonic() < deadline, f"dockerd did not pick up runtime {name}"
            time.sleep(0.2)
        return name

    yield register
    if original is None:
        DAEMON_JSON.unlink(missing_ok=True)
    else:
        DAEMON_JSON.write_text(original)
    if added:
        _reload_dockerd()


# -- the fault table (`make faults`) ---------------------------------------------------

FAULT_ROWS: list[dict] = []


class FaultRow:
    """One row of the fault table: a test fills in what it observed; the row is printed
    at the end of the session whatever the outcome."""

    def __init__(self, fault: str, expected: str) -> None:
        self.row = {
            "fault": fault,
            "expected": expected,
            "observed": "(test did not finish)",
            "samples lost": "?",
            "containers leaked": "?",
        }

    def observed(self, text: str, lost: int = 0, leaked: int = 0) -> None:
        import re

        text = re.sub(r"/tmp/pytest-[^ :]*/", "…/", text.replace("isobench: ", ""))
        self.row.update({"observed": text, "samples lost": lost, "containers leaked": leaked})

    def observed_set(self, text: str, rs, client) -> tuple[int, int]:
        """Records what a run's set shows: ``text``, its samples lost and the containers its run left on
        the engine; returns (lost, leaked) for the test's own assertions."""
        lost, leaked = lost_samples(rs), len(labelled_containers(client, rs.run_id))
        self.observed(text, lost, leaked)
        return lost, leaked


@pytest.fixture
def fault_row():
    rows: list[FaultRow] = []

    def make(fault: str, expected: str) -> FaultRow:
        r = FaultRow(fault, expected)
        rows.append(r)
        return r

    yield make
    FAULT_ROWS.extend(r.row for r in rows)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FAULT_ROWS:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="isobench fault injection")
    for col in ("fault", "expected", "observed", "samples lost", "containers leaked"):
        table.add_column(col, overflow="fold")
    for r in FAULT_ROWS:
        table.add_row(*(str(r[c]) for c in ("fault", "expected", "observed", "samples lost", "containers leaked")))
    text = io.StringIO()
    Console(width=160, file=text, force_terminal=False).print(table)
    terminalreporter.write(text.getvalue())
