"""Did a burst's calls really overlap inside the engine? Judged on the engine's own clock.

A client can believe it sent N requests at once while something serialised them (one pooled
connection, a lock in the transport). The engine's clock cannot be fooled so: dockerd stamps a
container's ``Created`` when it begins creating it and emits the ``create`` event when it is done,
so [Created, create event] is the create as the engine ran it. Overlapping intervals are creates
the engine ran at the same time.
"""

from __future__ import annotations

import calendar
import re
from typing import Any, Optional

_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def engine_time_ns(text: Any) -> Optional[int]:
    """RFC 3339 with nanoseconds (the engine's ``Created``, ``StartedAt``) -> ns since the epoch."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year < 1971:  # Go's zero time: never happened
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    frac = int((m.group(7) or "0").ljust(9, "0"))
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + frac


def overlap(intervals: list[tuple[int, int]]) -> dict[str, Any]:
    """How far intervals (begin, end ns) ran at the same time: the most at once, and the share of
    their union's time when at least two ran."""
    spans = sorted((b, e) for b, e in intervals if e >= b)
    if not spans:
        return {"intervals": 0, "max_concurrent": 0, "overlapped_fraction": None, "span_ns": None}
    points = sorted([(b, 1) for b, _ in spans] + [(e, -1) for _, e in spans], key=lambda p: (p[0], p[1]))
    running = most = 0
    union = shared = 0
    last = points[0][0]
    for t, step in points:
        if running >= 1:
            union += t - last
        if running >= 2:
            shared += t - last
        running += step
        most = max(most, running)
        last = t
    return {
        "intervals": len(spans),
        "max_concurrent": most,
        "overlapped_fraction": shared / union if union else None,
        "span_ns": max(e for _, e in spans) - spans[0][0],
    }


def creates_overlap(views: list[dict[str, Any]]) -> dict[str, Any]:
    """The burst's creates as the engine ran them. ``views``: per container, ``created`` (the
    engine's Created) and ``create_event_ns`` (its create event). Containers lacking either
    (a failed create, a lost event stream, an engine that emits no events) are counted apart."""
    intervals = []
    for v in views:
        begin, end = engine_time_ns(v.get("created")), v.get("create_event_ns")
        if begin is not None and isinstance(end, int):
            intervals.append((begin, end))
    out = overlap(intervals)
    out["without_engine_times"] = len(views) - len(intervals)
    out["overlapped"] = None if len(intervals) < 2 else out["max_concurrent"] >= 2
    out["source"] = "engine: [Created, create event] per container"
    return out
