"""How every `isobench` command ends: one sentence and an exit code, never a traceback.

Kept apart from bench.core.errors (the exceptions themselves) because it installs the stop-signal
handlers: bench.core.signals raises errors.Terminated, so the two cannot live in one another.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from bench.core import signals
from bench.core.errors import Terminated, UserError


def run_command(fn: Callable[[Any], Any], args: Any) -> int:
    """Runs a CLI command: a UserError becomes its one sentence and exit code; Ctrl-C and
    SIGTERM become 130 and 143. Shared by `python -m bench` and `python -m analysis`."""
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
