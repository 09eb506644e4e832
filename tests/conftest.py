"""Shared fixtures. Engine tests run against the real local Docker engine: in CI an
absent engine is a failure (CI=true), on a developer machine a skip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

from bench.resultset import read_resultset

REPO = Path(__file__).resolve().parent.parent
DAEMON_JSON = Path("/etc/docker/daemon.json")
IMAGE = "isobench/busybox:latest"


def _client():
    from bench.cli import _default_client

    return _default_client()


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
    from bench.image import ensure_image

    ensure_image(client)
    return client


def run_bench(*args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
    """`python -m bench ...` as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_config(path: Path, body: str, **run: object) -> Path:
    settings = {"rounds": 3, "warmup": 1, "min_rounds": 1, "budget_s": 120}
    settings.update(run)
    lines = ["[run]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n\n" + textwrap.dedent(body))
    return path


def only_result(results: Path) -> Path:
    files = sorted(results.rglob("*.jsonl"))
    assert len(files) == 1, files
    return files[0]


def labelled_containers(client, run_id: str | None = None) -> list:
    sel = f"isobench.run={run_id}" if run_id else "isobench.run"
    return client.containers(all=True, filters={"label": sel})


@pytest.fixture
def results(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    return d


def _reload_dockerd() -> None:
    out = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("dockerd is not a local process: cannot register a test runtime")
    for pid in out.stdout.split():
        os.kill(int(pid), signal.SIGHUP)


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


def read(path: Path):
    return read_resultset(path)
