"""Engine timestamps (RFC 3339 with up to nanoseconds, `Z` or an offset) as ns since the epoch, and
this process's clock for the service scenario: wall-clock ns that never step back (anchored once to
``time.time_ns`` and advanced by ``perf_counter_ns``), so intervals between the harness's own
observations are monotonic while absolute values line up with the nodes' clocks."""

from __future__ import annotations

import calendar
import re
import time
from typing import Optional

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9})\d*)?(?:([Zz])|([+-])(\d\d):?(\d\d))$"
)


def parse_ns(text: Optional[str]) -> Optional[int]:
    """ns since the epoch, or None for a missing, zero (Go's 0001-01-01) or unreadable time."""
    if not text or not isinstance(text, str):
        return None
    m = _RFC3339.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if year < 1970:
        return None
    frac = int((m.group(7) or "0").ljust(9, "0"))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if m.group(9):
        shift = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        seconds -= shift if m.group(9) == "+" else -shift
    return seconds * 1_000_000_000 + frac


class HarnessClock:
    """Wall-clock ns, monotonic: one anchor, then perf_counter_ns. ``now()`` is what every harness
    observation of the service scenario is stamped with."""

    def __init__(self) -> None:
        self.wall0 = time.time_ns()
        self.perf0 = time.perf_counter_ns()

    def now(self) -> int:
        return self.wall0 + (time.perf_counter_ns() - self.perf0)

    def record(self) -> dict[str, int]:
        """How the clock was anchored, and how far the wall clock has moved from it since."""
        return {"anchor_wall_ns": self.wall0, "wall_minus_harness_ns": time.time_ns() - self.now()}
