"""What a task that never became ready died of, from swarm's own words (the task's Status.Err and
Status.Message), as a stable category beside the raw text.

Swarm reports a task's failure in its status, not as an API error: "no suitable node (scheduling
constraints not satisfied on 3 nodes)" on a pending task, "No such image: ..." on a rejected one,
"starting container failed: ..." with the runtime's or HCS's words on a failed one. The runtime and
Windows (HCS) texts are the ones bench.engine.classify already knows from container cycles.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from bench.core import outcomes
from bench.engine.classify import match_rule

_IMAGE = re.compile(r"no such image|image .* not found|manifest unknown|pull access denied|repository does not exist")
_EXIT = re.compile(r"non-zero exit \((-?\d+)\)")


def status_text(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    return str(status.get("Err") or status.get("Message") or "").strip()


def classify_task(
    task: dict[str, Any], node_down: bool = False, timeout_s: Optional[float] = None, node: Optional[str] = None
) -> tuple[str, str]:
    """(category, message) for a task that did not become ready. ``node_down``: the manager lists
    the task's node as down; ``timeout_s``: the task was still in progress when the wait ended."""
    status = task.get("Status") or {}
    state = str(status.get("State") or "unknown")
    text = status_text(task)
    low = text.lower()
    where = f" on node {node}" if node else ""
    if "no suitable node" in low:
        return outcomes.NO_SUITABLE_NODE, text
    if _IMAGE.search(low):
        return outcomes.IMAGE_NOT_FOUND, text
    rule = match_rule(text)
    if rule is not None:
        return rule.category, text
    if node_down and state not in ("failed", "rejected", "complete"):
        return outcomes.NODE_DOWN, f"node {node or '?'} went down while the task was {state}" + (
            f" ({text})" if text else ""
        )
    exit_code = _EXIT.search(low)
    if exit_code:
        return outcomes.EXIT_CODE, text
    if state in ("failed", "rejected", "orphaned", "shutdown", "complete", "remove"):
        return outcomes.TASK_FAILED, f"task {state}{where}" + (f": {text}" if text else "")
    if timeout_s is not None:
        return outcomes.TIMEOUT, f"task still {state}{where} after {timeout_s:g} s" + (f" ({text})" if text else "")
    return outcomes.TASK_FAILED, f"task {state}{where}" + (f": {text}" if text else "")
