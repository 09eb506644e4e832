"""Deadlines that hold whatever the call does."""

from __future__ import annotations

import threading
import time

import pytest

from bench.core.watchdog import call_with_timeout, run_watched
from bench.engine.classify import CallTimeout


def test_a_blocked_call_times_out_on_time():
    release = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(CallTimeout) as info:
        call_with_timeout(lambda: release.wait(30), 0.3, "stuck")
    assert 0.25 < time.monotonic() - t0 < 2
    assert info.value.what == "stuck"
    release.set()


def test_results_and_errors_come_back():
    assert call_with_timeout(lambda: 42, 1, "x") == 42
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, 1, "x")


def test_each_phase_gets_its_own_deadline():
    seen = []

    def work(clock):
        clock.enter("fast", 1.0)
        time.sleep(0.05)
        seen.append("fast")
        clock.enter("slow", 0.2)
        time.sleep(5)
        seen.append("late")

    with pytest.raises(CallTimeout) as info:
        run_watched(work)
    assert info.value.what == "slow" and seen == ["fast"]


def test_an_abandoned_worker_cannot_go_on():
    progressed = threading.Event()

    def work(clock):
        clock.enter("one", 0.1)
        time.sleep(0.3)
        clock.enter("two", 5)  # raises Abandoned inside the worker
        progressed.set()

    with pytest.raises(CallTimeout):
        run_watched(work)
    time.sleep(0.5)
    assert not progressed.is_set()
