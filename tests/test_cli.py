"""The one `isobench` command: both halves' subcommands, and --version."""

from __future__ import annotations

import os
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


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`isobench ... | head`: the command's later prints hit a closed pipe; it stops with 141 (as a
    process killed by SIGPIPE reports) and no traceback, whatever it was printing."""
    script = (
        "import sys\nfrom bench.core.command import run_command\n"
        "def talk(_):\n    for i in range(100000):\n        print('line', i)\n"
        "sys.exit(run_command(talk, None))\n"
    )
    proc = subprocess.run(
        ["bash", "-c", f"{sys.executable} -c \"$SCRIPT\" | head -n 2; echo \"exit ${{PIPESTATUS[0]}}\""],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "SCRIPT": script},
    )  # fmt: skip
    assert proc.stdout.splitlines() == ["line 0", "line 1", "exit 141"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_after_a_second_stop_signal_the_run_prints_no_summary(monkeypatch, tmp_path):
    """Ctrl-C twice: the set is written and the run's cleanup hurried; the summary (the analysis's imports,
    bootstrap CIs) would run past the hurried exit's bound, so it is left out. After one Ctrl-C it prints."""
    import argparse

    from bench import cli, run
    from bench.core import signals

    printed = []
    monkeypatch.setattr(run, "run", lambda *a, **k: (130, tmp_path / "s.jsonl"))
    monkeypatch.setattr(cli, "_load", lambda args: None)
    monkeypatch.setattr(cli, "_print_summary", printed.append)
    args = argparse.Namespace(resume=None, quiet=True, allow_concurrent=False, no_summary=False)
    for hurry in (True, False):
        monkeypatch.setattr(signals, "hurrying", lambda h=hurry: h)
        assert cli.cmd_run(args) == 130
    assert printed == [tmp_path / "s.jsonl"]
