"""The argument types both halves of `isobench` share: one sentence naming the bad value."""

from __future__ import annotations

import argparse

import pytest

from bench.core.arguments import positive_float, positive_int, unit_float, whole_number


@pytest.mark.parametrize(
    "kind, text, words",
    [
        (whole_number, "x", "'x' is not a whole number"),
        (whole_number, "1.5", "'1.5' is not a whole number"),
        (whole_number, "-1", "'-1' must not be negative"),
        (positive_int, "0", "'0' must be greater than 0"),
        (positive_int, "-5", "'-5' must be greater than 0"),
        (positive_float, "0", "'0' must be greater than 0"),
        (positive_float, "nan", "'nan' must be greater than 0"),
        (positive_float, "fast", "'fast' is not a number"),
        (unit_float, "1", "'1' must be from 0 to below 1 (0.05 is 5%)"),
        (unit_float, "-0.1", "must be from 0 to below 1"),
    ],
)
def test_a_bad_value_is_named_in_one_sentence(kind, text: str, words: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        kind(text)


def test_good_values_pass_through() -> None:
    assert whole_number("0") == 0 and positive_int("12") == 12
    assert positive_float("0.5") == 0.5 and unit_float("0") == 0.0 and unit_float("0.05") == 0.05
