"""A start's waterfall from the engine's process events (bench.engine.procevents): which moments
mark the steps (bench.core.costs.STEPS), and the steps' durations. Pure: tests feed it events."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from bench.core.costs import STEPS
from bench.engine.procevents import ProcEvent

# A runtime's subcommands (runc, runsc, and wrappers in front of them take the same arguments).
SUBCOMMANDS = {"create", "start", "delete", "init", "boot", "gofer", "kill", "state", "events"}
# OCI hooks dockerd registers: libnetwork-setkey (prestart) sets the container's network up.
HOOKS = {"libnetwork-setkey"}


def role(argv: Sequence[str]) -> Optional[str]:
    """What an exec'd command line is in a start: shim, create, start, init, gofer, sandbox, hook (or None)."""
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if name.startswith("containerd-shim"):
        return "shim"
    if name == "runsc-gofer":
        return "gofer"
    if name == "runsc-sandbox":
        return "sandbox"
    if name in HOOKS:
        return "hook"
    sub = next((a for a in argv[1:] if a in SUBCOMMANDS), None)
    return {"boot": "sandbox", "create": "create", "start": "start", "init": "init", "gofer": "gofer"}.get(sub or "")


def markers(events: Sequence[ProcEvent]) -> dict[str, int]:
    """The first moment of each marker: the first exec in each role, and the exits of the processes
    that ran the runtime's create and start and the hook."""
    found: dict[str, int] = {}
    pid_of: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.ns):
        if e.what == "exec":
            r = role(e.argv)
            if r and r not in found:
                found[r] = e.ns
                pid_of[r] = e.pid
        elif e.what == "exit":
            for r in ("create", "start", "hook"):
                if pid_of.get(r) == e.pid and f"{r}_exit" not in found:
                    found[f"{r}_exit"] = e.ns
    return found


def steps(found: dict[str, int], t0: int, t_end: int) -> list[tuple[str, int]]:
    """Contiguous steps from t0 (the start call sent) to t_end (the ready line read), in the fixed
    order of STEPS: a marker outside (t0, t_end) or before the one kept last is left out, and its
    step merges into the one before. The durations sum to t_end - t0."""
    chain: list[tuple[str, int]] = [("engine", t0)]
    for step, marker, _ in STEPS[1:]:
        at = found.get(marker)
        if at is not None and chain[-1][1] <= at < t_end:
            chain.append((step, at))
    ends = [at for _, at in chain[1:]] + [t_end]
    return [(step, end - at) for (step, at), end in zip(chain, ends)]


def event_rows(events: Sequence[ProcEvent], t0: int) -> list[list[Any]]:
    """The raw events as a result set keeps them: [ns from t0, what, pid, parent or exit code, argv0,
    the runtime subcommand]."""
    rows = []
    for e in sorted(events, key=lambda e: e.ns):
        sub = next((a for a in e.argv[1:] if a in SUBCOMMANDS), None)
        rows.append([e.ns - t0, e.what, e.pid, e.other, os.path.basename(e.argv[0]) if e.argv else None, sub])
    return rows
