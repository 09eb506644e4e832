"""Was a container ended by the kernel's OOM killer? The engine's State.OOMKilled says so; the phase
that failed because of it (the stream ended before the ready line, exec found the container gone, wait
saw exit code 137) then carries the category oom_killed rather than what the kill looked like from
outside. Asked untimed, once a cycle has failed, and bounded: an engine that cannot say in time leaves
the sample as it was.
"""

from __future__ import annotations

from typing import Any, Optional

from bench.core import outcomes
from bench.core.watchdog import call_with_timeout
from bench.results.records import Sample

# What a failure caused by the kill may already be called: left alone are phases that never ran,
# a stop signal's interruptions, and the cleanup of the container afterwards.
_NOT_THE_KILL = (outcomes.NOT_RUN, outcomes.INTERRUPTED, outcomes.CLEANUP_FAILED)


def oom_words(client: Any, cid: str, timeout: float) -> Optional[str]:
    """One sentence when the engine reports the container OOM-killed, else None (also when it cannot say)."""
    try:
        state = call_with_timeout(lambda: client.inspect_container(cid), timeout, "inspect for OOMKilled")
    except Exception:
        return None
    st = state.get("State") or {}
    if not st.get("OOMKilled"):
        return None
    limit = (state.get("HostConfig") or {}).get("Memory") or 0
    return (
        f"the kernel's OOM killer ended the container (State.OOMKilled, exit code {st.get('ExitCode')}, "
        f"memory limit {f'{limit / 2**20:g} MiB' if limit else 'none'})"
    )


def relabel(samples: list[Sample], words: str) -> None:
    """The first failed phase becomes the OOM kill's, keeping what it saw after the engine's verdict."""
    for i, s in enumerate(samples):
        if not s.ok and s.error not in _NOT_THE_KILL and s.phase != "cleanup":
            samples[i] = s.but(message=f"{words}; {s.phase} saw: {s.message}", error=outcomes.OOM_KILLED)
            return


def killed(client: Any, run_id: str, cids: list[str], timeout: float) -> list[tuple[str, str]]:
    """Of ``cids`` (containers meant to keep running), those that exited because the OOM killer ended them:
    (short id, sentence). One list call, then an inspect of each exited one only."""
    from bench.engine.sweep import labelled

    wanted = {c[:12] for c in cids}
    try:
        exited = [c["Id"] for c in labelled(client, run_id, timeout=timeout) if c.get("State") == "exited"]
    except Exception:
        return []
    out = []
    for cid in exited:
        if cid[:12] in wanted:
            words = oom_words(client, cid, timeout)
            if words:
                out.append((cid[:12], words))
    return out
