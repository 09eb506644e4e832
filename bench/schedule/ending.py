"""How a run's rounds ended, as the end record and the exit code tell it: the outcome when an error
escaped the scheduler, the exit code of an outcome, and the closing lines said to the user."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from bench.core import outcomes
from bench.core.errors import Terminated
from bench.results import resultset
from bench.schedule.scheduler import Outcome

EXIT_CODES = {"complete": 0, "failed": 1}
# A run stopped early for a reason of its own (the end record's `stop`) has its own code; a full results
# folder is ResultsDiskFull's (4), raised as one sentence (bench.results.resultset).
STOP_EXIT_CODES = {outcomes.ENGINE_DISK_FULL: 5}


def exit_code(outcome: Outcome) -> int:
    """The process's code: 130 or 143 after a stop signal, else the status's (or the early stop's)."""
    if outcome.interrupted is not None:
        return 143 if isinstance(outcome.interrupted, Terminated) else 130
    return STOP_EXIT_CODES.get(outcome.stop or "", EXIT_CODES.get(outcome.status, 1))


def escaped_outcome(scheduler: Any) -> Outcome:
    """The outcome when an exception escaped the scheduler (its `tally` so far). A stop signal, or an
    output that went away (a closed pipe: `make bench | tee log` after Ctrl-C), is an interruption,
    not an internal error."""
    exc = sys.exc_info()[1]
    if isinstance(exc, resultset.ResultsDiskFull):  # the cycle in flight did not fit: stop, clean up, say so
        reason = f"the results folder {exc.path.parent} filled up ({exc.free_bytes} bytes free)"
        return Outcome(
            "failed", reason, getattr(scheduler, "_measured", 0), scheduler.tally, stop=outcomes.RESULTS_DISK_FULL
        )
    if isinstance(exc, (KeyboardInterrupt, Terminated)):
        reason = "SIGINT (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        return Outcome("interrupted", reason, 0, scheduler.tally, exc)
    if isinstance(exc, (BrokenPipeError, SystemExit)):
        return Outcome("interrupted", f"output closed ({exc!r})", 0, scheduler.tally, KeyboardInterrupt())
    return Outcome("failed", "internal error: " + repr(exc), 0, scheduler.tally)


def say_end(outcome: Outcome, path: Path, leaked: list[str], say: Callable[[str], None]) -> None:
    if outcome.stop:  # an early stop of its own (engine_disk_full) is one sentence that says what to do
        say(f"isobench: {outcome.reason}.")
    else:
        say(f"  {outcome.status}: {outcome.reason}; {outcome.tally.cycles} measured cycles -> {path}")
    if leaked:
        say(
            f"  warning: {len(leaked)} container(s) could not be removed (a hung runtime holds them; the "
            f"calls that remove them were abandoned, and the next run sweeps them): {', '.join(leaked)}"
        )
