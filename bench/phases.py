"""The phases of one cycle and the metrics derived from them.

Kept apart so the writer, the executors and the analysis agree on one list.
"""

from __future__ import annotations

# In cycle order. `ready` is measured from the moment the start call returns
# to the moment the container's first line arrives on an attach stream that was
# opened before start: the part of startup the API call does not show.
PHASES: tuple[str, ...] = ("create", "start", "ready", "exec", "stop", "remove")

# Derived metrics: name -> the phases summed. Not stored in result sets (raw
# data stays raw); computed by whoever reads them.
DERIVED: dict[str, tuple[str, ...]] = {
    "startup": ("create", "start", "ready"),
    "cycle": PHASES,
}

# Phase rows that only appear when something needed repair.
CLEANUP = "cleanup"
