"""The CI gate: does any host's newest set start a change beyond the minimum effect? One sentence."""

from __future__ import annotations

from typing import Optional

from analysis.history.build import Found, History


def newest_changes(history: History) -> list[Found]:
    return [f for f in history.changes if f.newest]


def describe(f: Found) -> str:
    c = f.change
    way = "slower" if c.ratio > 1 else "faster"
    return (
        f"{f.host} {f.mode} {f.metric} x{c.ratio:.3f} ({way}, 95% CI {c.low:.3f}-{c.high:.3f}) from {f.before} to "
        f"{f.at}; {f.attribution.sentence}"
    )


def gate_sentence(history: History) -> Optional[str]:
    """None when no host's newest set starts a change; else the sentence a CI log needs."""
    found = newest_changes(history)
    if not found:
        return None
    worst = max(found, key=lambda f: abs(f.change.ratio - 1))
    more = f" (and {len(found) - 1} more series)" if len(found) > 1 else ""
    return f"new change beyond ±{history.settings.min_effect:.0%} at the newest set: {describe(worst)}{more}."
