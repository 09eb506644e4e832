"""The service scenario's pure parts, without an engine: a task's marks and samples, task errors,
engine times, the config, the round order, and the analysis's quantile intervals and SLO mark."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from analysis.service import min_n_for_slo, quantile_ci, replicas_apart, slo_verdict
from bench.core.config import parse_config
from bench.core.errors import UserError
from bench.core.phases import TASK_METRICS
from bench.core.service import parse_replicas, rounds_order
from bench.engine.service.taskerr import classify_task
from bench.engine.service.times import parse_ns
from bench.measure.service.trace import Outcome, TaskTrace, marks, task_samples

MS = 1_000_000
BASE = {
    "round": 3,
    "pos": 1,
    "mode": "swarm-runsc",
    "warmup": False,
    "scenario": "service",
    "level": 4,
    "level_unit": "replicas",
    "group": 7,
}


def stamp(ms: int) -> str:
    """An engine timestamp ``ms`` after 2026-11-28T15:00:00Z."""
    s, rest = divmod(ms, 1000)
    return f"2026-11-28T15:00:{s:02d}.{rest:03d}000000Z"


T0 = parse_ns(stamp(0))


def trace(states: dict[str, int], line_ms=None, node="n2") -> TaskTrace:
    t = TaskTrace("task1", node_id=node)
    for state, ms in states.items():
        t.observe({"Slot": 2, "NodeID": node, "Status": {"State": state, "Timestamp": stamp(ms)}}, T0 + (ms + 30) * MS)
    t.line_ns = None if line_ms is None else T0 + line_ms * MS
    return t


def durations(samples):
    return {s.phase: s.duration_ns / MS for s in samples if s.ok}


def test_the_metrics_add_up_and_ready_waits_for_running():
    t = trace({"pending": 5, "assigned": 60, "starting": 200, "running": 500}, line_ms=480)
    m = marks(t, T0, {}, "n1")
    got = durations(task_samples(t, BASE, m, {}))
    assert got == {"create_to_schedule": 60, "schedule_to_run": 440, "run_to_ready": 0, "service_startup": 500}
    later = trace({"assigned": 60, "running": 500}, line_ms=520)
    assert durations(task_samples(later, BASE, marks(later, T0, {}, "n1"), {}))["run_to_ready"] == 20


def test_offsets_correct_each_state_by_the_node_that_stamped_it():
    # the leader n1 runs 10 ms ahead, the task's node n2 30 ms behind
    t = trace({"assigned": 70, "running": 470}, line_ms=520)
    m = marks(t, T0, {"n1": 10 * MS, "n2": -30 * MS}, "n1")
    assert (m.assigned - T0) / MS == 60 and (m.running - T0) / MS == 500 and (m.ready - T0) / MS == 520


def test_a_skipped_assigned_takes_the_next_stamp_and_marks_stay_in_order():
    t = trace({"starting": 150, "running": 400}, line_ms=410)
    m = marks(t, T0, {}, "n1")
    assert m.assigned_from == "starting" and (m.assigned - T0) / MS == 150
    early = trace({"assigned": 20, "running": 300}, line_ms=310)
    m = marks(early, T0 + 50 * MS, {}, "n1")  # an offset error put assigned before create
    assert m.assigned == T0 + 50 * MS and m.clamped == ["assigned"]


def test_a_task_that_never_ran_fails_its_first_metric_and_startup():
    t = trace({"pending": 5, "assigned": 60})
    m = marks(t, T0, {}, "n1")
    why = Outcome("node_down", "the task's node went down", T0 + 9000 * MS)
    samples = task_samples(t, BASE, m, {"task": t.id}, why)
    assert [s.phase for s in samples] == list(TASK_METRICS)
    assert [(s.ok, s.error) for s in samples] == [
        (True, None),
        (False, "node_down"),
        (False, "not_run"),
        (False, "node_down"),
    ]
    assert samples[1].duration_ns == (9000 - 60) * MS and samples[3].duration_ns == 9000 * MS
    assert all(s.slot == 2 and s.level == 4 and s.group == 7 for s in samples)


def test_an_interrupted_task_has_no_duration():
    t = trace({"pending": 5})
    samples = task_samples(t, BASE, marks(t, T0, {}, "n1"), {}, Outcome("interrupted", "run interrupted", T0))
    assert samples[0].error == "interrupted" and samples[0].duration_ns is None


@pytest.mark.parametrize(
    "state, err, down, timeout, category",
    [
        (
            "pending",
            "no suitable node (scheduling constraints not satisfied on 3 nodes)",
            False,
            60,
            "no_suitable_node",
        ),
        ("rejected", "No such image: isobench/nothing:latest", False, None, "image_not_found"),
        ("failed", "starting container failed: OCI runtime create failed: runsc: boom", False, None, "runtime_error"),
        (
            "rejected",
            "hcsshim::CreateComputeSystem x: No hypervisor is present on this system. (0xc0351000)",
            False,
            None,
            "no_hypervisor",
        ),  # fmt: skip
        (
            "failed",
            "The container operating system does not match the host operating system.",
            False,
            None,
            "os_mismatch",
        ),  # fmt: skip
        ("starting", "", True, None, "node_down"),
        ("failed", "task: non-zero exit (1)", False, None, "exit_code"),
        ("starting", "", False, 60, "timeout"),
        ("shutdown", "", False, None, "task_failed"),
    ],
)
def test_task_errors_are_categorised(state, err, down, timeout, category):
    task = {"Status": {"State": state, "Err": err}}
    got, message = classify_task(task, down, timeout, "worker-runsc")
    assert got == category and (err in message or not err)


def test_engine_times_with_offsets_and_zero():
    assert parse_ns("2026-11-28T16:00:00.5+01:00") == parse_ns("2026-11-28T15:00:00.500Z")
    assert parse_ns("2026-11-28T15:00:00.123456789Z") % 1_000_000_000 == 123456789
    assert parse_ns("0001-01-01T00:00:00Z") is None and parse_ns("") is None and parse_ns("yesterday") is None


def test_service_config_and_presets():
    cfg = parse_config({"service": {"replicas": [8, 1, 4, 4], "poll_s": 0.05}}, "x.toml").select(["swarm-runsc"])
    assert cfg.service.replicas == (1, 4, 8) and cfg.service.poll_s == 0.05
    (mode,) = cfg.modes
    assert mode.swarm and mode.endpoint == "swarm" and mode.role == "hyperv" and mode.runtime is None
    assert mode.placement == ("node.labels.isobench.runtime==runsc",)
    default = parse_config({}, "x.toml", host_os="linux")
    assert not any(m.swarm for m in default.modes), "swarm presets are on request only"


@pytest.mark.parametrize(
    "data, words",
    [
        ({"service": {"replicas": [0]}}, "x.toml: config.service.replicas must be a non-empty list"),
        ({"service": {"poll_s": 2}}, "x.toml: config.service.poll_s is 2: use 0.01 to 1 seconds"),
        ({"service": {"start": "boot"}}, "x.toml: config.service.start is 'boot': use one of create, scale"),
        ({"service": {"replica": [1]}}, "unknown key config.service.replica: did you mean 'replicas'?"),
        (
            {"mode": [{"preset": "swarm-runc", "runtime": "runc"}]},
            "mode 'swarm-runc' sets runtime 'runc' and swarm = true",
        ),
        ({"mode": [{"preset": "runc", "placement": ["node.role==manager"]}]}, "sets placement or node_endpoints"),
    ],
)
def test_service_config_mistakes_are_one_sentence(data, words):
    with pytest.raises(UserError) as err:
        parse_config(data, "x.toml")
    assert words in str(err.value)


def test_replicas_flag():
    assert parse_replicas("8,1,4") == (1, 4, 8)
    with pytest.raises(UserError, match="every replica count must be at least 1"):
        parse_replicas("0,1")


def test_rounds_take_turns_over_every_n():
    order = rounds_order((1, 4, 8), 9, random.Random(3))
    assert sorted(order[:3]) == sorted(order[3:6]) == sorted(order[6:]) == [1, 4, 8]
    assert rounds_order((1, 4, 8), 9, random.Random(3)) == order  # seeded


def test_quantile_intervals_cover_and_open_where_the_data_cannot_bound():
    rng = np.random.default_rng(1)
    covered = sum(
        low <= 1.0 <= high
        for low, high in (quantile_ci(rng.exponential(1 / np.log(2), 200), 0.5)[1:] for _ in range(400))
    )
    assert 0.92 <= covered / 400 <= 0.99  # the exponential's median is 1 here
    est, low, high = quantile_ci(np.arange(1.0, 51.0), 0.99)
    assert np.isnan(high) and low <= est <= 50
    assert min_n_for_slo() == 299
    assert slo_verdict(np.full(298, 100.0), 5000) == "inconclusive (n<299)"
    assert slo_verdict(np.full(299, 100.0), 5000) == "met"
    assert slo_verdict(np.full(40, 6000.0), 5000) == "missed"


def test_compare_keeps_replica_counts_apart():
    frame = pd.DataFrame(
        {
            "phase": pd.Categorical(["service_startup", "service_startup", "startup"]),
            "scenario": pd.Categorical(["service", "service", "warm"]),
            "level": [4.0, 8.0, np.nan],
        }
    )
    assert list(replicas_apart(frame)["phase"]) == ["service_startup N=4", "service_startup N=8", "startup"]


def test_a_service_run_of_plain_modes_is_one_sentence_before_anything_starts(tmp_path):
    from helpers import run_bench

    proc = run_bench("run", "--scenario", "service", "--mode", "runc", "--results", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "isobench: --scenario service runs swarm services only, and mode runc is not a swarm mode: choose --mode "
        "swarm-runc --mode swarm-runsc (the local swarm), or give a mode swarm = true and placement."
    )
    unknown = run_bench("run", "--scenario", "service", "--mode", "swarm-nope", "--results", str(tmp_path), timeout=60)
    assert unknown.returncode == 2 and "swarm-runc, swarm-runsc" in unknown.stderr
    assert not list(tmp_path.rglob("*.jsonl"))
