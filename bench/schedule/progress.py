"""Live progress: rounds done, ETA, and each mode's running startup median.

On a terminal, a rich progress bar; elsewhere (CI logs, `make bench > log`), one plain line
per round, since a redrawn bar turns into garbage in a file. Output that goes away (a closed
pipe after Ctrl-C in `make bench | tee log`) silences the view; it never ends the run.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, Optional, Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressView(Protocol):
    def start(self, total_rounds: int, warmup: int) -> None: ...

    def cycle_done(self, mode: str, startup_ns: Optional[int], ok: bool) -> None: ...

    def round_done(self) -> None: ...

    def stop(self) -> None: ...


class NullProgress:
    def start(self, total_rounds: int, warmup: int) -> None:
        pass

    def cycle_done(self, mode: str, startup_ns: Optional[int], ok: bool) -> None:
        pass

    def round_done(self) -> None:
        pass

    def stop(self) -> None:
        pass


def say_stderr(message: str) -> None:
    """One line for the user on stderr; a closed stderr is not an error worth dying for."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class _Medians:
    """Each mode's running startup median and failure count, as one short text."""

    def __init__(self) -> None:
        self.startups: dict[str, list[int]] = {}
        self.failures: dict[str, int] = {}

    def add(self, mode: str, startup_ns: Optional[int], ok: bool) -> None:
        if ok and startup_ns is not None:
            self.startups.setdefault(mode, []).append(startup_ns)
        else:
            self.failures[mode] = self.failures.get(mode, 0) + 1
            self.startups.setdefault(mode, [])

    def text(self) -> str:
        parts = []
        for name, values in self.startups.items():
            med = f"{statistics.median(values) / 1e6:.0f} ms" if values else "-"
            fail = f" ({self.failures[name]} failed)" if self.failures.get(name) else ""
            parts.append(f"{name} {med}{fail}")
        return "startup: " + " | ".join(parts)


class PlainProgress:
    """One line per round, for output that is not a terminal."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream or sys.stderr
        self.medians = _Medians()
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self.silent = False

    def start(self, total_rounds: int, warmup: int) -> None:
        self.total, self.done, self.started = total_rounds + warmup, 0, time.monotonic()

    def cycle_done(self, mode: str, startup_ns: Optional[int], ok: bool) -> None:
        self.medians.add(mode, startup_ns, ok)

    def round_done(self) -> None:
        self.done += 1
        elapsed = int(time.monotonic() - self.started)
        self._write(f"round {self.done}/{self.total} ({elapsed // 60}:{elapsed % 60:02d}): {self.medians.text()}")

    def stop(self) -> None:
        pass

    def _write(self, line: str) -> None:
        if self.silent:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.silent = True


class RichProgress:
    """A rich progress bar on stderr; the description carries running medians and failures."""

    def __init__(self, console: Optional[Console] = None) -> None:
        self.console = console or Console(stderr=True)
        self._medians = _Medians()
        self._silent = False
        self._progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[medians]}"),
            console=self.console,
            transient=False,
            # Redrawn between cycles only (see cycle_done): a refresh thread would compete with the timed
            # calls for the interpreter on a two-core host.
            auto_refresh=False,
        )
        self._task: Optional[TaskID] = None

    def _safely(self, draw: Callable[[], object]) -> None:
        # rich answers a closed pipe with SystemExit(1): here it only means nobody watches any more.
        if self._silent:
            return
        try:
            draw()
        except (OSError, ValueError, SystemExit):
            self._silent = True

    def start(self, total_rounds: int, warmup: int) -> None:
        self._safely(self._progress.start)
        self._task = self._progress.add_task("rounds", total=total_rounds + warmup, phase="rounds", medians="")

    def cycle_done(self, mode: str, startup_ns: Optional[int], ok: bool) -> None:
        self._medians.add(mode, startup_ns, ok)
        if self._task is not None:
            task = self._task
            self._safely(lambda: self._progress.update(task, medians=self._medians.text(), refresh=True))

    def round_done(self) -> None:
        if self._task is not None:
            task = self._task

            def advance() -> None:
                self._progress.advance(task)
                self._progress.refresh()

            self._safely(advance)

    def stop(self) -> None:
        self._safely(self._progress.stop)


def progress_view(show: bool) -> ProgressView:
    """The bar on a terminal, plain lines elsewhere, nothing when ``show`` is off (--quiet)."""
    if not show:
        return NullProgress()
    try:
        tty = sys.stderr.isatty()
    except (OSError, ValueError):
        return NullProgress()
    return RichProgress() if tty else PlainProgress()
