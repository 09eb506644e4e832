"""The order of the sides within each round: balanced for carry-over.

A side that leaves work behind in the engine (the CLI's `docker run --rm` returns when the
container is removed, but the daemon's clean-up may still run) slows whichever side comes
next. Rotating one fixed order does not spread that: every rotation keeps the same
neighbours, so one side would always follow the CLI. A Williams design does within a round:
over its rows, every side follows every other side equally often (once for an even number of
sides, twice for an odd number, whose design is the square and its mirror), and every side
comes first equally often. Rounds run back to back, so each round opens with a spacer cycle
(untimed, discarded): the first side of a round follows the spacer, never the last side of the
round before, whose pairs the design does not balance."""

from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")


def williams_rows(n: int) -> list[list[int]]:
    """The rows of a Williams design for ``n`` treatments: row i is the first row shifted by i."""
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(x + i) % n for x in first] for i in range(n)]
    return rows if n % 2 == 0 or n == 1 else rows + [row[::-1] for row in rows]


def round_order(round_no: int, sides: Sequence[T]) -> list[T]:
    """The sides of round ``round_no``, in the design's row for that round."""
    rows = williams_rows(len(sides))
    return [sides[k] for k in rows[round_no % len(rows)]]


def whole_replicates(rounds: int, n_sides: int) -> int:
    """``rounds`` rounded up to whole replicates of the design, so every pair is balanced; fewer rounds
    than the design has rows (a quick check) are left as they are, and cannot be balanced."""
    size = len(williams_rows(n_sides))
    return rounds if rounds < size else -(-rounds // size) * size
