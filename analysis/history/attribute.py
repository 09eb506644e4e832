"""What changed between the two sets either side of a change: the factor, when exactly one did.

The factors are compare's (analysis.compare.FACTORS for the host, MODE_FACTORS for the mode), plus
the runtime the mode asked for and its image; the sentence says honestly when none or several differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.compare import FACTORS, MODE_FACTORS
from analysis.identity import short
from analysis.series import get
from bench.results.records import Header

EXTRA_MODE_KEYS = ("requested.runtime", "requested.isolation", "image.id")
# The runtime (isolation) a mode asked for and the one the engine reported running it with are one choice
# recorded twice: when both differ, they are one factor, named by what was asked.
ONE_CHOICE = {"runtime_reported": "requested.runtime", "isolation_reported": "requested.isolation"}


@dataclass(frozen=True)
class Attribution:
    factor: str  # the one factor that changed; "" when none or several did
    differing: tuple[tuple[str, str, str], ...]  # (key, before, after) for every factor that differs
    sentence: str


def factor_values(header: Header, mode: str) -> dict[str, str]:
    """Every factor's value in one set for one mode (missing ones left out)."""
    out = {}
    for key in FACTORS:
        value = get(header, key)
        if value is not None:
            out[key] = short(value)
    record = header.modes.get(mode) or {}
    for key in MODE_FACTORS + EXTRA_MODE_KEYS:
        value = get(record, key)
        if value is not None:
            out[f"{mode}: {key}"] = short(value)
    return out


def _asked(key: str) -> str:
    """For a mode's reported runtime or isolation, the key of what the mode asked for ("" otherwise)."""
    prefix, _, name = key.rpartition(": ")
    return f"{prefix}: {ONE_CHOICE[name]}" if prefix and name in ONE_CHOICE else ""


def attribute(before: Header, after: Header, mode: str) -> Attribution:
    a, b = factor_values(before, mode), factor_values(after, mode)
    differing = tuple((k, a.get(k, "-"), b.get(k, "-")) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
    seen = {k for k, _, _ in differing}
    differing = tuple(d for d in differing if _asked(d[0]) not in seen)
    if len(differing) == 1:
        key, old, new = differing[0]
        return Attribution(key, differing, f"{key} changed: {old} -> {new}")
    if not differing:
        return Attribution(
            "",
            differing,
            "no recorded factor differs between the two sets (host, engine and runtime "
            "versions, kernel, image): the cause is not in the headers",
        )
    keys = ", ".join(k for k, _, _ in differing)
    return Attribution("", differing, f"{len(differing)} factors differ ({keys}): the change cannot be put on one")
