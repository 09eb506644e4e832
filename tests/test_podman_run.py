"""Podman modes on the real machine: a short run beside a Docker mode, every phase timed, the header
saying what Podman lacks, and nothing left afterwards (services, sockets, containers)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter

import pytest

from bench.core.phases import PHASES
from bench.engine.drivers.podman import RUN_DIR, STATE_DIR
from helpers import only_result, read, run_bench, write_config

pytestmark = pytest.mark.engine

MODES = """
[[mode]]
preset = "runc"

[[mode]]
preset = "podman-runc"

[[mode]]
preset = "podman-runsc"
"""


def _podman_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(STATE_DIR) in line or str(RUN_DIR) in line]


@pytest.fixture(scope="module")
def podman_run(engine, tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: make test installs it (scripts/setup-podman.sh --always)")
    tmp = tmp_path_factory.mktemp("podman")
    cfg = write_config(tmp / "bench.toml", MODES, rounds=3, warmup=1, seed=11)
    proc = run_bench("run", "--config", str(cfg), "--results", str(tmp / "results"), "--no-summary", check=True)
    return proc, read(only_result(tmp / "results"))


def test_podman_modes_time_every_phase_in_the_same_rounds(podman_run):
    _, rs = podman_run
    assert rs.end is not None and rs.end.status == "complete", rs.end
    assert set(rs.header.modes) == {"runc", "podman-runc", "podman-runsc"}, rs.header.skipped
    counts = Counter((s.mode, s.phase) for s in rs.samples if not s.warmup)
    for mode in ("podman-runc", "podman-runsc"):
        for phase in PHASES:
            assert counts[(mode, phase)] == 3, (mode, phase, counts)
    podman = [s for s in rs.samples if s.mode.startswith("podman-")]
    assert all(s.ok and s.duration_ns > 0 for s in podman), [s for s in podman if not s.ok]
    rounds = {s.round for s in rs.samples if s.mode == "runc"}
    assert rounds == {s.round for s in podman}  # interleaved with the Docker mode, not a run of its own


def test_the_header_says_what_podman_lacks_and_where_its_views_come_from(podman_run):
    _, rs = podman_run
    for name, runtime in (("podman-runc", "runc"), ("podman-runsc", "runsc")):
        rec = rs.header.modes[name]
        assert rec["engine"]["kind"] == "podman" and rec["engine"]["default_runtime"] == runtime
        assert rec["engine_lacks"] == ["runtime_per_container", "isolation", "services"]
        assert rec["image"]["build"]["reproducible"] is True  # the same recipe, in Podman's own store
    assert rs.header.modes["runc"]["engine"]["kind"] == "docker"
    assert rs.header.modes["runc"]["engine_lacks"] == []
    # Podman's events reach the samples, its "remove" as destroy
    seen = Counter(s.engine["event"] for s in rs.samples if s.mode == "podman-runc" and s.engine)
    assert seen["create"] >= 3 and seen["start"] >= 3 and seen["destroy"] >= 3, seen


def test_nothing_is_left_afterwards(podman_run):
    _, rs = podman_run
    assert not _podman_processes()
    assert not list(RUN_DIR.glob("*/api-*.sock"))
    for runtime in ("runc", "runsc"):
        out = subprocess.run(
            ["podman", "--root", str(STATE_DIR / runtime / "root"), "--runroot", str(RUN_DIR / runtime / "runroot"),
             "ps", "-a", "--filter", f"label=isobench.run={rs.run_id}", "--format", "{{.ID}}"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "CONTAINERS_CONF": str(STATE_DIR / runtime / "containers.conf")},
        )  # fmt: skip
        assert out.returncode == 0 and out.stdout.strip() == "", out


def test_cold_rounds_restart_isobenchs_own_podman_service(engine, tmp_path):
    """The cold scenario stops isobench's service for the runtime and starts it again (from a short-lived
    worker thread: the service must not die with it), and times the engine's phases like dockerd's."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: make test installs it (scripts/setup-podman.sh --always)")
    cfg = write_config(
        tmp_path / "bench.toml", '[[mode]]\npreset = "podman-runc"\n', rounds=2, cold_rounds=2, warmup=0, seed=3
    )
    run_bench(
        "run", "--config", str(cfg), "--scenario", "cold", "--results", str(tmp_path / "r"), "--no-summary",
        check=True,
    )  # fmt: skip
    rs = read(only_result(tmp_path / "r"))
    assert rs.end is not None and rs.end.status == "complete", rs.end
    cold = [s for s in rs.samples if s.scenario == "cold" and not s.warmup]
    by_phase = Counter(s.phase for s in cold if s.ok)
    assert by_phase["engine_stop"] == 2 and by_phase["engine_up"] == 2, cold
    for phase in PHASES:  # the cycle after each restart: the service answered and ran the container
        assert by_phase[phase] == 2, (phase, by_phase)
    assert rs.header.cold["podman-runc"]["control"] == "podman-service", rs.header.cold
    assert not _podman_processes()


def test_podmans_attach_is_timed_as_part_of_start(podman_run):
    """Podman's compat attach initializes the container (conmon and the runtime's create: its `init`
    event), work dockerd does inside start: so each podman cycle's init falls inside its start sample."""
    _, rs = podman_run
    out = subprocess.run(
        ["podman", "--root", str(STATE_DIR / "runc" / "root"), "--runroot", str(RUN_DIR / "runc" / "runroot"),
         "events", "--stream=false", "--filter", "event=init", "--filter", f"label=isobench.run={rs.run_id}",
         "--format", "{{.ID}} {{.Time.UnixNano}}"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "CONTAINERS_CONF": str(STATE_DIR / "runc" / "containers.conf")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    inits = {cid[:12]: int(ns) for cid, ns in (line.split() for line in out.stdout.splitlines())}
    starts = [s for s in rs.samples if s.mode == "podman-runc" and s.phase == "start" and s.ok]
    assert starts and all(s.cid in inits for s in starts), (sorted(inits), [s.cid for s in starts])
    for s in starts:
        assert s.wall_ns is not None and s.duration_ns is not None
        assert s.wall_ns <= inits[s.cid] <= s.wall_ns + s.duration_ns, (s, inits[s.cid])
