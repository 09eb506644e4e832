"""Image sizes as a user writes them (`10M`, `100M`, `1G`): binary units, checked in one place."""

from __future__ import annotations

import re

from bench.core.errors import UserError

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_SIZE = re.compile(r"([1-9][0-9]*)([KMG])")
MAX_BYTES = 16 << 30


def parse_size(text: str, where: str = "--size") -> int:
    """``10M`` -> 10 MiB in bytes; anything else is one sentence naming it."""
    m = _SIZE.fullmatch(text.strip())
    if m is None or int(m.group(1)) * UNITS[m.group(2)] > MAX_BYTES:
        raise UserError(
            f"{where} {text!r} is not an image size: give a whole number and a unit K, M or G (binary: 1M = 1 MiB), "
            "at most 16G, e.g. 10M,100M,1G."
        )
    return int(m.group(1)) * UNITS[m.group(2)]


def parse_sizes(text: str, where: str = "--size") -> tuple[str, ...]:
    """``10M,100M,1G`` -> the sizes' labels, checked, in the order given, without repeats."""
    labels = [t.strip() for t in text.split(",")]
    for label in labels:
        parse_size(label, where)
    return tuple(dict.fromkeys(labels))
