"""Stop signals always mean "stop cleanly", whatever the process inherited.

A process started in the background of a non-interactive shell (CI runners,
``nohup``, ``setsid bash -c '... &'``) inherits SIGINT as *ignored*, and Python
keeps it ignored: relying on the default KeyboardInterrupt then loses Ctrl-C.
So every command that touches an engine installs its own handlers:

- the first SIGINT raises KeyboardInterrupt and the first SIGTERM (CTRL_BREAK on
  Windows) raises Terminated, in the main thread: the run stops after recording
  the cycle in flight, removes its containers and writes its end record;
- a second signal hurries: it raises again (to break out of whatever cleanup
  wait is running, which then writes what it knows) and arms a hard exit after
  HARD_EXIT_S, so the process ends within a few seconds even if a call is stuck.
  Samples are flushed as they are taken, so the set stays readable either way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Optional

from bench.core.errors import Terminated

HARD_EXIT_S = 5.0
_state: dict[str, Any] = {"count": 0, "hurry_at": None}


def _exit_code(signum: int) -> int:
    return 130 if signum == signal.SIGINT else 143


def _hard_exit_later(code: int, delay: float) -> None:
    def later() -> None:
        time.sleep(delay)
        try:
            sys.stderr.write(f"isobench: second stop signal: exited after {delay:g} s of cleanup\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)

    threading.Thread(target=later, name="isobench-hard-exit", daemon=True).start()


def _handler(signum: int, frame: Any) -> None:
    _state["count"] += 1
    if _state["count"] > 1 and _state["hurry_at"] is None:
        _state["hurry_at"] = time.monotonic()
        _hard_exit_later(_exit_code(signum), HARD_EXIT_S)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def install() -> None:
    """Handlers for SIGINT and SIGTERM (and SIGBREAK on Windows), replacing an inherited SIG_IGN.
    Only the main thread may install handlers; elsewhere (an embedding program) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    _state.update(count=0, hurry_at=None)
    wanted = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):  # Windows: CTRL_BREAK_EVENT (and what `taskkill` sends to consoles)
        wanted.append(signal.SIGBREAK)
    for sig in wanted:
        signal.signal(sig, _handler)


def note_hurry() -> None:
    """A stop signal was caught while cleaning up: what is left of the cleanup hurries."""
    if _state["hurry_at"] is None:
        _state["hurry_at"] = time.monotonic()


def hurrying() -> bool:
    """True once a second stop signal arrived: cleanup should skip whatever can wait."""
    return _state["hurry_at"] is not None


def remaining_budget(default: float) -> float:
    """How long end-of-run cleanup may still take: ``default``, or what is left of the hard-exit delay."""
    hurry_at: Optional[float] = _state["hurry_at"]
    if hurry_at is None:
        return default
    return max(0.0, min(default, HARD_EXIT_S - 1.0 - (time.monotonic() - hurry_at)))
