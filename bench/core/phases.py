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

# Scenarios. `warm`: the engine is up and has run containers before (the default).
# `cold`: the engine is stopped and started first (a VM booted, a dockerd restarted),
# then one cycle runs: its samples carry scenario "cold" and two extra phases.
WARM, COLD = "warm", "cold"
SCENARIOS: tuple[str, ...] = (WARM, COLD)
# Before a cold cycle's six phases: the engine stopped (informational) and then
# started, from the start command until /_ping answers.
ENGINE_PHASES: tuple[str, ...] = ("engine_stop", "engine_up")
# Derived for cold cycles only: from "start the engine" to the first container's ready line.
COLD_DERIVED: dict[str, tuple[str, ...]] = {
    "cold_startup": ("engine_up", "create", "start", "ready"),
}
