"""The harness task: what runs inside the harness image on each node (the image's entry point).

It runs `python -m bench run` exactly as a local run (same config, same lease, same writer) against
the engine mounted into the task, and meanwhile follows the result set the run writes, line by line,
sending each complete line to stdout as frames (bench.fleet.frames): the task's log is the way back.
The run's own output (progress, one-sentence errors) goes to stderr, where it is the host's last words.

SIGTERM (the service removed, the fleet interrupted) is passed to the run, which ends its set with an
`interrupted` record and removes its containers; the task keeps following until the run has exited,
so that record reaches the log too. Environment: ISOBENCH_FLEET_CONFIG (the fleet's bench.toml, base64).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Optional

from bench.fleet import frames

RESULTS = Path("/tmp/isobench-results")
CONFIG = Path("/tmp/isobench-fleet.toml")
POLL_S = 0.2


class Follower:
    """Sends each complete line of the one result set under ``results`` as it appears."""

    def __init__(self, results: Path, out: IO[str]) -> None:
        self.results, self.out = results, out
        self.seq = 0
        self.path: Optional[Path] = None
        self.offset = 0
        self.pending = b""

    def send(self, message: dict[str, Any]) -> None:
        for line in frames.encode(self.seq, message):
            self.out.write(line + "\n")
        self.out.flush()
        self.seq += 1

    def poll(self) -> None:
        if self.path is None:
            found = sorted(self.results.glob("*/*.jsonl"))
            if not found:
                return
            self.path = found[0]
            self.send({"fleet": "start", "file": self.path.name, "dir": self.path.parent.name})
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data, self.pending = self.pending + data, b""
        lines = data.split(b"\n")
        self.pending = lines.pop()  # a line not yet ended: the writer is mid-batch
        for raw in lines:
            if raw.strip():
                self.send(_json(raw))


def _json(raw: bytes) -> dict[str, Any]:
    import json

    record: dict[str, Any] = json.loads(raw)
    return record


def main(argv: list[str]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    encoded = os.environ.get("ISOBENCH_FLEET_CONFIG", "")
    args = ["run", "--results", str(RESULTS), "--no-summary", "--quiet", *argv]
    if encoded:
        CONFIG.write_bytes(base64.b64decode(encoded))
        args += ["--config", str(CONFIG)]
    child = subprocess.Popen([sys.executable, "-m", "bench", *args], stdout=sys.stderr, start_new_session=True)

    def forward(signum: int, _frame: Any) -> None:
        # Once: the run ends its set itself; the task only follows until it has.
        try:
            child.send_signal(signum)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    follower = Follower(RESULTS, sys.stdout)
    while child.poll() is None:
        follower.poll()
        time.sleep(POLL_S)
    follower.poll()
    follower.send({"fleet": "exit", "code": child.returncode})
    return 0 if child.returncode == 0 else child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
