"""Errors that end a command with one clear sentence instead of a traceback."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable


class UserError(Exception):
    """Bad input: config, endpoint, result file, unsupported mode.

    The message is one sentence that names what is wrong and how to fix it.
    The CLI prints it and exits with ``exit_code`` (2 unless said otherwise).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, like KeyboardInterrupt for SIGINT.

    A BaseException so that ``except Exception`` in cycle code cannot swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def run_command(fn: Callable[[Any], Any], args: Any) -> int:
    """Runs a CLI command: a UserError becomes its one sentence and exit code; Ctrl-C and
    SIGTERM become 130 and 143. Shared by `python -m bench` and `python -m analysis`."""
    from bench.core import signals

    signals.install()  # Ctrl-C and SIGTERM stop cleanly even where SIGINT was inherited as ignored
    try:
        return int(fn(args) or 0)
    except UserError as exc:
        print(f"isobench: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("isobench: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("isobench: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:
        # The reader went away (`isobench report ... | head`): stop quietly, as Unix tools do, and keep
        # the interpreter's last flush of stdout from raising again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
