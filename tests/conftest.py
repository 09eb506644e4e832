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

from bench.results.resultset import read_resultset

REPO = Path(__file__).resolve().parent.parent
DAEMON_JSON = Path("/etc/docker/daemon.json")
IMAGE = "isobench/busybox:latest"


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


def run_bench(*args: str, timeout: float = 300, check: bool = False,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m bench ...` as a user runs it (``env``: variables to set on top of ours)."""
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
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


HOST_DOCKERD_PIDFILE = Path("/var/run/docker.pid")


def host_dockerd_pid() -> int | None:
    """The host's own dockerd, by its pid file: other dockerds on this machine (the TLS test engine,
    swarm nodes) are never signalled by the tests that stop or reload the host's."""
    try:
        pid = int(HOST_DOCKERD_PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


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


def read(path: Path):
    return read_resultset(path)


# -- the fault table (`make faults`) ---------------------------------------------------

FAULT_ROWS: list[dict] = []


class FaultRow:
    """One row of the fault table: a test fills in what it observed; the row is printed
    at the end of the session whatever the outcome."""

    def __init__(self, fault: str, expected: str) -> None:
        self.row = {"fault": fault, "expected": expected, "observed": "(test did not finish)",
                    "samples lost": "?", "containers leaked": "?"}

    def observed(self, text: str, lost: int = 0, leaked: int = 0) -> None:
        import re

        text = re.sub(r"/tmp/pytest-[^ :]*/", "…/", text.replace("isobench: ", ""))
        self.row.update({"observed": text, "samples lost": lost, "containers leaked": leaked})


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
    console = Console(width=160, file=terminalreporter._tw._file, force_terminal=False)
    console.print(table)


def lost_samples(rs) -> int:
    """Phase samples missing from cycles that reached the file (each cycle is written whole,
    so anything but 0 means a cycle was torn), plus end-record counts the file cannot back."""
    from collections import Counter

    from bench.core.phases import PHASES

    per_cycle = Counter((s["round"], s["mode"]) for s in rs.samples if s["phase"] in PHASES)
    torn = sum(len(PHASES) - n for n in per_cycle.values() if n < len(PHASES))
    missing = 0
    if rs.end and rs.end.get("counts") and not rs.resumes:
        on_disk = Counter((s["mode"], s["phase"]) for s in rs.samples if not s["warmup"])
        for mode, phases in rs.end["counts"].items():
            for phase, c in phases.items():
                if phase in PHASES:
                    missing += max(0, c["ok"] + c["failed"] - on_disk[(mode, phase)])
    return torn + missing


# Shell commands for engine_stop_cmd / engine_start_cmd: the host's dockerd only, by its pid file.
STOP_HOST_DOCKERD = ("p=$(cat /var/run/docker.pid 2>/dev/null) && kill -TERM $p; "
                     "while [ -n \"$p\" ] && kill -0 $p 2>/dev/null; do sleep 0.1; done")


def stop_dockerd(timeout: float = 30) -> None:
    pid = host_dockerd_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while host_dockerd_pid() == pid:
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.2)


def start_dockerd() -> None:
    """The same start-up make test uses (scripts/setup-engine.sh)."""
    subprocess.run(["bash", str(REPO / "scripts" / "setup-engine.sh"), sys.executable], check=True, timeout=120)
