"""The phases of one cycle and the metrics derived from them.

Kept apart so the writer, the executors and the analysis agree on one list.
"""

from __future__ import annotations

# In cycle order. `ready` is measured from the moment the start call returns
# to the moment the container's first line arrives on an attach stream that was
# opened before start: the part of startup the API call does not show.
PHASES: tuple[str, ...] = ("create", "start", "ready", "exec", "stop", "remove")

# The `run` cycle shape: what `docker run --rm IMAGE CMD` does (the command exits after its first
# line; `wait` runs from sending POST /wait until the engine reports the exit).
RUN_PHASES: tuple[str, ...] = ("create", "start", "ready", "wait", "remove")
CYCLE_SHAPES: dict[str, tuple[str, ...]] = {"full": PHASES, "run": RUN_PHASES}
# Every phase a warm or cold cycle can record, in the order reports list them.
ALL_PHASES: tuple[str, ...] = PHASES + ("wait",)

# Derived metrics: name -> the phases summed. Not stored in result sets (raw
# data stays raw); computed by whoever reads them.
DERIVED: dict[str, tuple[str, ...]] = {
    "startup": ("create", "start", "ready"),
    "cycle": PHASES,
    "run_cycle": RUN_PHASES,
}

# Phase rows that only appear when something needed repair.
CLEANUP = "cleanup"

# Scenarios (each a module of bench.scenarios). `warm`: the engine is up and has run containers
# before (the default).
# `cold`: the engine is stopped and started first (a VM booted, a dockerd restarted),
# then one cycle runs: its samples carry scenario "cold" and two extra phases.
WARM, COLD = "warm", "cold"
# Before a cold cycle's six phases: the engine stopped (informational) and then
# started, from the start command until /_ping answers.
ENGINE_PHASES: tuple[str, ...] = ("engine_stop", "engine_up")
# Derived for cold cycles only: from "start the engine" to the first container's ready line.
COLD_DERIVED: dict[str, tuple[str, ...]] = {
    "cold_startup": ("engine_up", "create", "start", "ready"),
}

# First start (bench/scenarios/first_start.py, issue #20): before each cycle the image is removed from the
# engine, then pulled (`pull`, timed, from a registry the run starts on loopback, or `docker load` where
# none can run), then the cycle as warm. `first_start` = pull + startup.
FIRST_START, PULL = "first-start", "pull"
# size (bench/scenarios/size.py): each mode x each image size (isobench image --size), interleaved in each
# round; samples carry `level` = the image's size in MiB and `group` = the cycle's number in the run.
SIZE = "size"
# Its derived `first_start` is its analysis's (analysis/scenarios/first_start.py: ScenarioAnalysis.derived).

# Scale scenarios (bench.schedule.burst, .rate, .density): many containers at once on one engine.
# Their samples carry `level` (burst size N, arrival rate in starts/s, or containers running),
# `group` (the id of the group the container belongs to: one burst, one rate run, one density step),
# `level_unit` (what `level` counts: bench.results.records.LEVEL_UNITS) and
# `slot` (its place in that group).
BURST, RATE, DENSITY = "burst", "rate", "density"
SCALE_SCENARIOS: tuple[str, ...] = (BURST, RATE, DENSITY)
# What `--scenario scale` runs: bursts, then rate runs (when rates are given), then density steps.
SCALE = "scale"
# A scale container's phases: startup, then its removal (forced: the container is running).
SCALE_PHASES: tuple[str, ...] = ("create", "start", "ready", "remove")
# A rate arrival's container waits from its scheduled arrival until its create request is sent:
# `dispatch` (near zero unless the harness cannot keep the schedule).
DISPATCH = "dispatch"
RATE_PHASES: tuple[str, ...] = (DISPATCH,) + SCALE_PHASES
# One sample per group: `makespan` (a burst: the barrier's release to the last container ready;
# a rate run: the first scheduled arrival to the last container ready), `step` (a density step:
# the time to bring its idle containers up; its detail holds them and the memory facts) and
# `teardown` (the end of a density run: every container removed, and the engine checked empty).
MAKESPAN, STEP, TEARDOWN = "makespan", "step", "teardown"
GROUP_PHASES: tuple[str, ...] = (MAKESPAN, STEP, TEARDOWN)
# Derived for rate arrivals: from the scheduled arrival to the ready line (open loop: a slow engine
# lengthens it, never delays the arrivals).
RATE_DERIVED: dict[str, tuple[str, ...]] = {"arrival_startup": (DISPATCH, "create", "start", "ready")}

# The service scenario (bench.schedule.service, issue #13): a Swarm service's startup, measured the
# way Kubernetes' ClusterLoader2 measures pod startup. Samples carry scenario "service", `level`
# (the replica count N), `group` (the service: its sequence number in the run) and `slot` (the
# task's slot; null on a service's own samples).
SERVICE = "service"
# Per task: create (or scale-up) -> assigned, assigned -> running, running -> ready (its first line
# read and swarm reporting it running), and create -> ready.
TASK_METRICS: tuple[str, ...] = ("create_to_schedule", "schedule_to_run", "run_to_ready", "service_startup")
# Per service: create -> every task ready; scale to 0 -> no task left running; DELETE -> nothing of
# it left on any node. ("service_remove", not "remove": that is a container cycle's phase.)
SERVICE_PHASES: tuple[str, ...] = ("makespan", "scale_down", "service_remove")
# Swarm's task states up to running, in order (Status.State; swarm keeps only a task's latest).
TASK_STATES: tuple[str, ...] = (
    "new",
    "allocated",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
    "running",
)
# States the manager stamps (the leader's clock); the later ones are stamped by the task's node.
MANAGER_STATES: tuple[str, ...] = ("new", "allocated", "pending", "assigned")
