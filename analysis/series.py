"""The order of a series of result sets: by the factor that differs, not by argument order.

One set per Docker version (or Windows build, or package version) reads at a
glance only in version order. The factor is the first of ORDER_FACTORS whose
value differs across the sets; ``--order-by KEY`` names one. Versions sort
naturally (20.10.9 before 20.10.24); ties, and series where no known factor
differs, go by the time each run started.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from bench.core.errors import UserError
from bench.results.records import Header, Record, field_names

# Where a series' factor usually lives, in the order they are tried: per-mode keys
# (engine.*) are looked up in every mode the sets share.
ORDER_FACTORS = (
    "engine.version",
    "host.currentbuild",
    "host.ubr",
    "engine.kernel",
    "host.kernel",
    "engine.components.containerd",
    "engine.components.runc",
    "packages.docker",
    "packages.isobench",
    "python.version",
)
_PART = re.compile(r"(\d+)|(\D+)")


def get(d: Any, path: str) -> Any:
    """The value at a dotted path ("host.kernel", "modes.runc.engine.version") in a header or one of its
    sections; None where any step is missing."""
    for part in path.split("."):
        if isinstance(d, Record):
            d = getattr(d, part) if part in field_names(type(d)) else None
        elif isinstance(d, Mapping):
            d = d.get(part)
        else:
            return None
    return d


def version_key(value: Any) -> tuple:
    """Natural order: digit runs compare as numbers, so 20.10.9 < 20.10.24 < 24.0.
    Numbers sort before text at the same position (1.0 < 1.0rc1 is not claimed: rare here)."""
    return tuple((0, int(num), "") if num else (1, 0, text) for num, text in _PART.findall(str(value)))


def _candidates(headers: list[Header], key: str) -> list[str]:
    """Full header paths for ``key``: itself, then per shared mode for mode-level keys."""
    if key.startswith("modes.") or not key.startswith("engine."):
        return [key]
    modes = sorted(set.intersection(*(set(h.modes) for h in headers)))
    return [f"modes.{m}.{key}" for m in modes]


def _values(headers: list[Header], path: str) -> Optional[list[Any]]:
    values = [get(h, path) for h in headers]
    return values if all(v is not None for v in values) else None


def _by(headers: list[Header], sets: list[str], values: list[Any]) -> list[str]:
    order = sorted(range(len(sets)), key=lambda i: (version_key(values[i]), headers[i].created_ns, i))
    return [sets[i] for i in order]


def order_sets(headers: dict[str, Header], sets: list[str], order_by: Optional[str] = None) -> tuple[list[str], str]:
    """(sets in series order, what ordered them). Two sets keep the order given (OLD NEW)
    unless ``order_by`` is set."""
    hs = [headers[s] for s in sets]
    if order_by:
        for path in _candidates(hs, order_by):
            values = _values(hs, path)
            if values is not None:
                return _by(hs, sets, values), path
        lacking = [s for s in sets if all(get(headers[s], p) is None for p in _candidates(hs, order_by))]
        raise UserError(
            f"--order-by {order_by}: {', '.join(lacking) or 'some set'} has no value for it: pass a "
            "header key every set has, such as engine.version, host.currentbuild or packages.docker."
        )
    if len(sets) < 3:
        return sets, "the order given"
    for key in ORDER_FACTORS:
        for path in _candidates(hs, key):
            values = _values(hs, path)
            if values is not None and len({repr(v) for v in values}) > 1:
                return _by(hs, sets, values), path
    return _by(hs, sets, [""] * len(sets)), "start time (no version differs)"
