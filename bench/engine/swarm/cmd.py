"""External commands, each with a timeout: a hung `ip` or `umount` must not hang `up` or `down`."""

from __future__ import annotations

import subprocess
from typing import Optional, Sequence

from bench.core.errors import UserError

# What to install when a command is missing (Debian package names).
PACKAGES = {
    "ip": "iproute2",
    "dockerd": "docker.io",
    "containerd": "containerd",
    "runsc": "runsc",
    "unshare": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "sh": "dash",
}


class CommandFailed(Exception):
    """A command exited non-zero or ran out of time; the message is one line."""

    def __init__(self, argv: Sequence[str], detail: str) -> None:
        super().__init__(f"{' '.join(argv)}: {detail}")
        self.argv = list(argv)
        self.detail = detail


def missing(tool: str) -> UserError:
    pkg = PACKAGES.get(tool, tool)
    return UserError(f"{tool} is not installed: apt-get install {pkg}, then run 'isobench swarm up' again.")


def run(
    argv: Sequence[str], timeout: float = 20.0, check: bool = True, stdin: Optional[str] = None
) -> subprocess.CompletedProcess:
    """Runs ``argv`` (never through a shell) and returns it; raises CommandFailed when it fails
    and ``check``, or when it outlives ``timeout`` seconds (it is killed then)."""
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise missing(argv[0]) from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(argv, f"no answer within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise CommandFailed(argv, detail[-1] if detail else f"exit status {proc.returncode}")
    return proc
