"""A timed phase whose untimed check or detail fails (the engine went away between the call's answer
and the check that reads its outcome) is that phase's failure, never an exception on the cycle's thread."""

from __future__ import annotations

import time

import pytest
import requests

from bench.core import outcomes
from bench.core.watchdog import PhaseClock
from bench.measure.docker import _PhaseTimer, _Recorder, _Stop

BASE = {"round": 0, "pos": 0, "mode": "runc", "warmup": False, "scenario": "warm"}


def _timer() -> tuple[_Recorder, _PhaseTimer]:
    clock = PhaseClock()
    rec = _Recorder(clock, BASE)
    return rec, _PhaseTimer(rec, clock)


def _engine_gone(_: object) -> None:
    raise requests.exceptions.ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file'))")


@pytest.mark.parametrize("where", ["check", "detail"])
def test_a_failing_check_or_detail_is_the_phases_failure(where: str) -> None:
    rec, timed = _timer()
    hooks = {"check": _engine_gone} if where == "check" else {"detail": lambda v, ns: _engine_gone(v)}
    with pytest.raises(_Stop):
        timed("exec", 5.0, lambda: "exec-id", go_on=True, **hooks)
    sample = rec.samples["exec"]
    assert sample.ok is False and sample.error == "engine_unavailable"
    assert sample.duration_ns is not None and sample.duration_ns >= 0


def test_a_passing_check_records_the_timed_call() -> None:
    rec, timed = _timer()
    assert timed("exec", 5.0, lambda: "exec-id", check=lambda _: None) == "exec-id"
    assert rec.samples["exec"].ok is True and rec.samples["exec"].error is None


def test_the_answer_is_decoded_after_the_clock_stops() -> None:
    """The JSON answer's parsing is no part of the phase's time: a decode that takes 50 ms leaves the
    recorded duration at the call's own (a few microseconds here), and the caller gets the decoded value."""
    rec, timed = _timer()

    def slow_decode(answer: str) -> dict[str, str]:
        time.sleep(0.05)
        return {"Id": answer}

    assert timed("create", 5.0, lambda: "cid", decode=slow_decode) == {"Id": "cid"}
    assert rec.samples["create"].ok is True
    assert rec.samples["create"].duration_ns < 20_000_000


def test_an_answer_that_does_not_decode_is_the_phases_failure() -> None:
    rec, timed = _timer()

    def bad_json(_: str) -> None:
        raise ValueError("Expecting value: line 1 column 1 (char 0)")

    with pytest.raises(_Stop):
        timed("wait", 5.0, lambda: "not json", decode=bad_json)
    sample = rec.samples["wait"]
    assert sample.ok is False and sample.error == outcomes.ERROR and "Expecting value" in sample.message
    assert sample.duration_ns is not None
