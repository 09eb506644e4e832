"""How the dockerd control reads a running engine's launch (argv, environment, directory) to start it
again after a cold round's stop. No engine needed: a `sleep` stands in for dockerd."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.engine.control.restart import _process_launch

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _started(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A process past its exec (before it, /proc shows the parent's command line)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0] != argv[0].encode():
        assert time.monotonic() < deadline, "the stand-in process did not start"
        time.sleep(0.01)
    return proc


def test_the_launch_is_read_back(tmp_path):
    proc = _started(["sleep", "30"], tmp_path, env={"ISOBENCH_MARK": "1", "PATH": "/usr/bin:/bin"})
    try:
        argv, env, cwd, _ = _process_launch(proc.pid)
        assert argv == ["sleep", "30"] and env["ISOBENCH_MARK"] == "1" and cwd == str(tmp_path)
    finally:
        proc.kill()
        proc.wait()


def test_a_removed_working_directory_is_not_reused(tmp_path):
    """CI saw it: dockerd started from a checkout that was deleted since, and the cold round's start
    failed with "No such file or directory: '/tmp/ci (deleted)'"."""
    gone = tmp_path / "checkout"
    gone.mkdir()
    proc = _started(["sleep", "30"], gone)
    try:
        shutil.rmtree(gone)
        _, _, cwd, _ = _process_launch(proc.pid)
        assert cwd == "/"
    finally:
        proc.kill()
        proc.wait()
