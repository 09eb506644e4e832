"""How large a result set will grow, before the run: preflight warns when the results folder has less
than twice that free, since a folder that fills mid-run stops the run (see ResultsDiskFull).

The estimate is rounds x modes x phases x bytes per record, plus the header; bytes per record are
measured by writing one cycle of typical samples (a container id, an engine event, stop's engine view)
the way the writer does, not guessed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bench.results.records import Header, Sample

# Headroom asked for: twice the estimate (messages of failures and cleanup samples run longer).
HEADROOM = 2


@dataclass(frozen=True)
class SetSize:
    rounds: int
    modes: int
    phases: int
    bytes_per_record: int
    header_bytes: int

    @property
    def total(self) -> int:
        return self.header_bytes + self.rounds * self.modes * self.phases * self.bytes_per_record

    def describe(self) -> str:
        return (
            f"{self.rounds} rounds x {self.modes} modes x {self.phases} phases x {self.bytes_per_record} bytes "
            f"per record + {self.header_bytes} bytes of header"
        )


def bytes_per_record(mode: str, phases: tuple[str, ...]) -> int:
    """The mean length of one cycle's samples as the writer puts them on disk (a line each)."""
    wall = time.time_ns()
    lines = []
    for i, phase in enumerate(phases):
        detail: Any = None
        if phase == "stop":
            at = "2026-12-01T00:00:00.000000000Z"
            view = {"created": at, "started_at": at, "finished_at": at, "isolation": ""}
            detail = {"grace_s": 10.0, "exit_code": 143, "used_grace": False, "engine_view": view}
        rec = Sample(
            round=1000, pos=1, mode=mode, phase=phase, duration_ns=123_456_789, ok=True, warmup=False,
            wall_ns=wall, cid="0123456789ab", engine={"event": "create", "time_nano": wall + i}, detail=detail,
        )  # fmt: skip
        lines.append(json.dumps(rec.to_json(), separators=(",", ":")) + "\n")
    return -(-sum(len(x.encode()) for x in lines) // len(lines))


def estimate(header: Header, rounds: int, shapes: dict[str, tuple[str, ...]]) -> SetSize:
    """``shapes``: mode name -> the phases of its cycle; ``rounds``: warm-up and measured (and cold)."""
    phases = max((len(p) for p in shapes.values()), default=0)
    per = max((bytes_per_record(m, p) for m, p in shapes.items()), default=0)
    head = len(json.dumps(header.to_json(), separators=(",", ":")).encode()) + 1
    return SetSize(rounds, len(shapes), phases, per, head)
