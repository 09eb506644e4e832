"""One host's result set, written here as its records arrive from the task's log (Swarm) or as fetched
from the host (Ansible): both carriers go through this one writer, so their sets have one format.

The set is written by the same crash-safe writer as a local run (bench.results.resultset.ResultWriter:
one write and fsync per batch), under results/<host>/ with the file name the task's run chose, so it
is byte for byte the set the run wrote there, except one added header key, ``fleet`` (how it was
carried, the harness image's digest). A task that ends without its end record (killed, node lost,
deadline) gets one here saying ``interrupted`` and why, so the set reads back as a cut-off local run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from bench.core.paths import host_results_dir
from bench.fleet.frames import Decoder
from bench.results.records import KINDS, End, Header, Record
from bench.results.resultset import ResultWriter


@dataclass(frozen=True)
class HostOutcome:
    """What came back from one host."""

    host: str
    path: Optional[Path]
    status: str  # the set's end status ("complete", "interrupted", "failed"), or "none": no set arrived
    samples: int
    exit_code: Optional[int]
    bad_frames: int
    lost_messages: int
    reason: str  # one sentence when not complete, else ""


class HostSink:
    def __init__(self, host: str, results_dir: Path, fleet: dict[str, Any]) -> None:
        self.host, self.results_dir, self.fleet = host, results_dir, fleet
        self.decoder = Decoder()
        self.file: Optional[str] = None
        self.writer: Optional[ResultWriter] = None
        self.end: Optional[End] = None
        self.exit_code: Optional[int] = None
        self.samples = 0
        self.rounds: set[int] = set()
        self._batch: list[Record] = []

    @property
    def done(self) -> bool:
        """The task said its last word (its exit), so nothing more will come."""
        return self.exit_code is not None

    def feed(self, lines: list[str]) -> None:
        """Lines of the task's log in order; the records among them are written as one batch."""
        self.take(m for m in (self.decoder.feed(line) for line in lines) if m is not None)

    def take(self, messages: Iterable[dict[str, Any]]) -> None:
        """Messages already decoded (the Ansible carrier's fetched set), written as one batch."""
        for message in messages:
            try:
                self._take(message)
            except (TypeError, ValueError, KeyError):  # a record that does not parse: counted as a bad frame
                self.decoder.bad_frames += 1
        self.flush()

    def _take(self, message: dict[str, Any]) -> None:
        if message.get("fleet") == "start":
            # The run's own file name, never a path: a task cannot write outside its host's folder.
            self.file = Path(str(message.get("file") or f"{self.host}.jsonl")).name
        elif message.get("fleet") == "exit":
            self.exit_code = int(message.get("code") or 0)
        elif message.get("type") == "header" and self.writer is None and self.end is None:
            self._open(Header.from_json(message))
        elif message.get("type") in ("sample", "cost", "resume") and self.writer is not None:
            self._batch.append(KINDS[message["type"]].from_json(message))
            if message.get("type") == "sample":
                self.samples += 1
                if not message.get("warmup"):
                    self.rounds.add(int(message.get("round") or 0))
        elif message.get("type") == "end" and self.writer is not None:
            self.flush()
            self.end = End.from_json(message)
            self.writer.close(self.end)

    def _open(self, header: Header) -> None:
        host = str(header.host.get("hostname") or self.host)
        name = self.file or f"{self.host}.jsonl"
        path = host_results_dir(self.results_dir, host) / name
        self.writer = ResultWriter.create(path, header.but(fleet=self.fleet))

    def flush(self) -> None:
        if self._batch and self.writer is not None and not self.writer.closed:
            batch, self._batch = self._batch, []
            self.writer.append(batch)

    def finish(self, why: str) -> HostOutcome:
        """Closes the set; one that never got its end record gets an ``interrupted`` one saying ``why``."""
        self.flush()
        if self.writer is not None and not self.writer.closed:
            self.end = interrupted_end(why, len(self.rounds), self.samples)
            self.writer.close(self.end)
        status = self.end.status if self.end else "none"
        path = self.writer.path if self.writer is not None else None
        reason = "" if status == "complete" else why
        if status == "none" and self.decoder.last_words:
            reason = f"{why} (its last words: {self.decoder.last_words.strip()[:200]})"
        return HostOutcome(
            self.host,
            path,
            status,
            self.samples,
            self.exit_code,
            self.decoder.bad_frames,
            self.decoder.lost_messages,
            reason,
        )


def interrupted_end(why: str, rounds: int, samples: int) -> End:
    """The end record of a set whose task ended before the run could write its own (same keys as a run's)."""
    return End(
        status="interrupted",
        reason=why,
        measured_rounds=rounds,
        swept_at_end=0,
        leaked=[],
        ended_ns=time.time_ns(),
        written_by="fleet",  # not the run: it never got to say how it ended
    )
