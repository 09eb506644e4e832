"""Live progress: rounds done, ETA, and each mode's running startup median."""

from __future__ import annotations

import statistics
from typing import Optional, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


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


class RichProgress:
    """A rich progress bar on stderr; the description carries running medians and failures."""

    def __init__(self, console: Optional[Console] = None) -> None:
        self.console = console or Console(stderr=True)
        self._startups: dict[str, list[int]] = {}
        self._failures: dict[str, int] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[medians]}"), console=self.console, transient=False)
        self._task = None

    def start(self, total_rounds: int, warmup: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("rounds", total=total_rounds + warmup, phase="rounds", medians="")

    def cycle_done(self, mode: str, startup_ns: Optional[int], ok: bool) -> None:
        if ok and startup_ns is not None:
            self._startups.setdefault(mode, []).append(startup_ns)
        else:
            self._failures[mode] = self._failures.get(mode, 0) + 1
            self._startups.setdefault(mode, [])
        parts = []
        for name, values in self._startups.items():
            med = f"{statistics.median(values) / 1e6:.0f} ms" if values else "-"
            fail = f" ({self._failures[name]} failed)" if self._failures.get(name) else ""
            parts.append(f"{name} {med}{fail}")
        if self._task is not None:
            self._progress.update(self._task, medians="startup: " + " | ".join(parts))

    def round_done(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)

    def stop(self) -> None:
        self._progress.stop()
