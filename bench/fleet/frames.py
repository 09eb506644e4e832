"""Records carried in a task's log: one frame per log line, each checked on arrival.

A swarm task has no channel back but its log, and the json-file driver splits a line longer than
16 KiB into partial messages, so a record goes out as one or more frames of at most FRAME_PAYLOAD
bytes, each a line of its own:

    ISOBENCH-FRAME 1 <seq> <part>/<parts> <nbytes> <crc32> <payload>

``seq`` numbers the messages (a gap means a message was lost), ``nbytes`` and ``crc32`` (of the
payload bytes, hex) let the reader refuse a damaged or cut frame instead of writing it into a result
set. A message is one JSON object: a result-set line (it has "type") or the task's own word (it has
"fleet": "start" with the set's file name, "exit" with the harness's exit code). Anything else in
the log (the harness's progress, a Python error) is not a frame and is kept only as the host's last
words for an error sentence.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

PREFIX = "ISOBENCH-FRAME"
VERSION = "1"
# Well under 16 KiB with the prefix and the log driver's own wrapping of the line.
FRAME_PAYLOAD = 12 * 1024
MAX_PARTS = 4096  # a 48 MiB message at most: anything claiming more is damage, not a record


def encode(seq: int, message: dict[str, Any]) -> Iterator[str]:
    """The lines (without newline) that carry ``message``."""
    data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    chunks = [data[i : i + FRAME_PAYLOAD] for i in range(0, len(data), FRAME_PAYLOAD)] or [b""]
    for part, chunk in enumerate(chunks, 1):
        # The payload is ASCII (json.dumps escapes the rest), so a cut between bytes is a cut between characters.
        crc = zlib.crc32(chunk) & 0xFFFFFFFF
        yield f"{PREFIX} {VERSION} {seq} {part}/{len(chunks)} {len(chunk)} {crc:08x} {chunk.decode('ascii')}"


@dataclass
class Decoder:
    """Reassembles messages from log lines in arrival order; counts what it had to refuse."""

    bad_frames: int = 0
    lost_messages: int = 0
    chatter: list[str] = field(default_factory=list)
    _seq: Optional[int] = None
    _parts: list[bytes] = field(default_factory=list)
    _expect: int = 0
    _last_seq: int = -1

    def feed(self, line: str) -> Optional[dict[str, Any]]:
        """The message this line completes, or None (a part, chatter or a refused frame)."""
        line = line.rstrip("\r\n")
        head = _parse(line)
        if head is None:
            if line.startswith(PREFIX):
                self.bad_frames += 1
            elif line.strip():
                self.chatter = [*self.chatter[-19:], line]
            return None
        seq, part, parts, payload = head
        if part == 1:
            self._start(seq, parts)
        elif seq != self._seq or part != len(self._parts) + 1:
            self.bad_frames += 1  # a part out of order: its message is lost
            self._seq, self._parts = None, []
            return None
        self._parts.append(payload)
        if len(self._parts) < self._expect:
            return None
        data, self._seq, self._parts = b"".join(self._parts), None, []
        try:
            message = json.loads(data)
        except ValueError:
            self.bad_frames += 1
            return None
        if seq > self._last_seq + 1:
            self.lost_messages += seq - self._last_seq - 1
        self._last_seq = max(self._last_seq, seq)
        return message if isinstance(message, dict) else None

    def _start(self, seq: int, parts: int) -> None:
        if self._parts:
            self.bad_frames += 1  # the previous message never got its last part
        self._seq, self._parts, self._expect = seq, [], parts

    @property
    def last_words(self) -> str:
        return self.chatter[-1] if self.chatter else ""


def _parse(line: str) -> Optional[tuple[int, int, int, bytes]]:
    """(seq, part, parts, payload) of a well-formed frame whose length and checksum hold, else None."""
    fields = line.split(" ", 6)
    if len(fields) != 7 or fields[0] != PREFIX or fields[1] != VERSION:
        return None
    try:
        seq = int(fields[2])
        part_s, _, parts_s = fields[3].partition("/")
        part, parts, nbytes, crc = int(part_s), int(parts_s), int(fields[4]), int(fields[5], 16)
        payload = fields[6].encode("ascii")
    except (ValueError, UnicodeEncodeError):
        return None
    if not (0 < part <= parts <= MAX_PARTS) or len(payload) != nbytes or zlib.crc32(payload) & 0xFFFFFFFF != crc:
        return None
    return seq, part, parts, payload
