"""A run's last cleanup of the containers its cycles or groups left: bounded as a whole, whatever a
hung runtime holds, so the process exits within a known time after its last round."""

from __future__ import annotations

from typing import Any, Callable, Optional

from bench.core import signals
from bench.core.errors import Terminated
from bench.engine.drivers import driver_for
from bench.engine.preflight import ModeRuntime
from bench.engine.sweep import labelled
from bench.measure.docker import DockerExecutor

# End-of-run cleanup takes at most the longest remove timeout (of the modes with containers left)
# plus this, whatever is stuck; so the process exits within that bound after its last round.
END_SLACK_S = 5.0


def end_cleanup(
    executor: DockerExecutor, runtimes: list[ModeRuntime], run_id: str, say: Callable[[str], None]
) -> tuple[int, list[str]]:
    """Removes what the cycles could not, then sweeps the run's label. Bounded as a whole, whatever a
    hung runtime holds: the longest remove timeout of the modes with something to remove, plus
    END_SLACK_S for the sweep. Returns (swept, short ids left)."""
    pending_modes = {rt.mode.name for rt in executor.pending_cleanup.values()}
    budget = max((rt.mode.timeouts.remove for rt in runtimes if rt.mode.name in pending_modes), default=0.0)
    leaked: list[str] = sorted(c[:12] for c in executor.pending_cleanup)
    swept = 0
    try:
        leaked = executor.retry_pending(signals.remaining_budget(budget))
        left = {c["Id"][:12] for rt in runtimes for c in _labelled_quietly(rt, run_id)} - set(leaked)
        if left:
            swept, stuck = sweep_all(runtimes, run_id, timeout=END_SLACK_S)
            leaked += stuck
    except (KeyboardInterrupt, Terminated):
        signals.note_hurry()
        say("  cleanup cut short by a second stop signal")
    return swept, sorted(set(leaked))


def _labelled_quietly(rt: ModeRuntime, run_id: str) -> list[dict[str, Any]]:
    try:
        return labelled(rt.client, run_id, timeout=rt.mode.timeouts.ping)
    except Exception:
        return []


def sweep_all(
    runtimes: list[ModeRuntime],
    run_id: Optional[str],
    keep_runs: Optional[dict[str, set[str]]] = None,
    timeout: Optional[float] = None,
) -> tuple[int, list[str]]:
    """Sweeps every distinct engine of ``runtimes``: ``run_id``'s containers, or (None) those of runs
    that hold no live lease there (``keep_runs``: engine url -> live run ids). Bounded per engine
    by the longest remove timeout of its modes."""
    removed, stuck, seen = 0, [], set()
    for rt in runtimes:
        url = rt.endpoint.base_url
        if url in seen:
            continue
        seen.add(url)
        limit = timeout or max(r.mode.timeouts.remove for r in runtimes if r.endpoint.base_url == url)
        try:
            keep = frozenset((keep_runs or {}).get(url, set()))
            n, left = driver_for(rt.mode).sweep(rt.client, run_id, signals.remaining_budget(limit), keep)
            removed += n
            stuck += left
        except Exception:
            pass
    return removed, stuck
