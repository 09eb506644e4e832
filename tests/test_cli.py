"""The one `isobench` command: both halves' subcommands, and --version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO

SUBCOMMANDS = ("run", "doctor", "sweep", "image", "vm", "export", "overhead", "swarm",
               "report", "check", "compare", "bench-analysis")  # fmt: skip


def isobench(*args: str) -> subprocess.CompletedProcess:
    """The installed console script where `make` installed it, else the same entry point through Python."""
    script = Path(sys.executable).parent / "isobench"
    argv = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys; from bench.cli import isobench_main; sys.exit(isobench_main())"]
    )
    return subprocess.run([*argv, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_help_lists_every_subcommand():
    out = isobench("--help")
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert set(SUBCOMMANDS) <= listed, set(SUBCOMMANDS) - listed


def test_version():
    out = isobench("--version")
    assert out.returncode == 0 and out.stdout.startswith("isobench ")


def test_a_bad_path_is_one_sentence_through_the_one_command():
    out = isobench("report", "/no/such.jsonl")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "/no/such.jsonl" in out.stderr


def test_the_console_script_is_declared():
    assert 'isobench = "bench.cli:isobench_main"' in (REPO / "pyproject.toml").read_text()
