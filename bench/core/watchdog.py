"""Deadlines for engine calls that work whatever the transport does.

A socket timeout is not enough: the npipe transport ignores it, and an engine
waiting on a hung OCI runtime keeps the connection open forever. So a cycle
runs on a worker thread and the main thread watches the clock. When a phase
overruns, the main thread walks away: the worker is *abandoned* (Python cannot
cancel a blocked read), refuses to record anything more, and cleans up after
itself if its call ever returns. The run goes on with a new worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional, TypeVar

from bench.core.outcomes import CallTimeout

T = TypeVar("T")


class Abandoned(Exception):
    """Raised inside an abandoned worker at its next checkpoint."""


class PhaseClock:
    """Shared by the worker (which enters phases) and the watcher (which enforces them)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.phase: Optional[str] = None
        self.timeout: float = 0.0
        self.deadline: float = 0.0
        self.finished = False
        self.abandoned = False

    def enter(self, phase: str, timeout: float) -> None:
        """Called by the worker before each step; raises Abandoned once the watcher gave up."""
        with self._cond:
            if self.abandoned:
                raise Abandoned(phase)
            deadline = time.monotonic() + timeout
            # Wake the watcher only when it must look sooner than it planned to: a later deadline is
            # found when it wakes for the earlier one. So no thread hand-off sits between two phases.
            wake = self.phase is None or deadline < self.deadline
            self.phase, self.timeout, self.deadline = phase, timeout, deadline
            if wake:
                self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self.finished = True
            self._cond.notify_all()

    def abandon(self) -> None:
        with self._cond:
            self.abandoned = True
            self._cond.notify_all()

    @property
    def lock(self) -> threading.Condition:
        return self._cond

    def watch(self) -> None:
        """Blocks until the worker finishes; raises CallTimeout naming the phase that overran.

        KeyboardInterrupt and Terminated reach the caller from inside the wait, with
        the worker abandoned first.
        """
        try:
            with self._cond:
                while not self.finished:
                    if self.phase is None:
                        self._cond.wait(0.5)
                        continue
                    remaining = self.deadline - time.monotonic()
                    if remaining <= 0:
                        self.abandoned = True
                        raise CallTimeout(self.phase, self.timeout)
                    self._cond.wait(remaining)
        except BaseException:
            self.abandon()
            raise


def run_watched(work: Callable[[PhaseClock], None], name: str = "isobench-cycle") -> PhaseClock:
    """Runs ``work(clock)`` on a daemon thread and watches it (see PhaseClock.watch)."""
    clock = PhaseClock()

    def target() -> None:
        try:
            work(clock)
        except Abandoned:
            pass
        finally:
            clock.finish()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    clock.watch()
    return clock


def call_with_timeout(fn: Callable[[], T], seconds: float, what: str) -> T:
    """One call with a deadline, for untimed housekeeping (cleanup, preflight)."""
    box: dict[str, Any] = {}

    def work(clock: PhaseClock) -> None:
        clock.enter(what, seconds)
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    run_watched(work, name=f"isobench-{what}")
    if "error" in box:
        raise box["error"]
    return box["value"]
