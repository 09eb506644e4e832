"""The cold scenario on the real local engine: dockerd stopped and started before each cycle.

These tests restart the shared dockerd; the suite runs serially, and each test leaves
the engine answering (checked at the end of each)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bench.engine.control.restart import find_dockerd
from helpers import (
    REPO,
    STOP_HOST_DOCKERD,
    host_dockerd_pid,
    labelled_containers,
    only_result,
    read,
    run_bench,
    start_dockerd,
    write_config,
)

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture
def local_dockerd(engine):
    if os.geteuid() != 0 or find_dockerd() is None or os.path.isdir("/run/systemd/system"):
        pytest.skip("needs root and a dockerd started outside systemd (as make test starts it)")
    yield engine
    if host_dockerd_pid() is None:
        start_dockerd()  # a failed test must not leave the rest of the suite without an engine


def test_cold_rounds_restart_the_local_engine(local_dockerd, tmp_path, results):
    before = find_dockerd()
    cfg = write_config(
        tmp_path / "b.toml",
        '[[mode]]\npreset = "runc"\n\n[[mode]]\npreset = "runsc"\n',
        rounds=2,
        warmup=0,
        scenario="both",
        cold_rounds=2,
    )
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr
    after = find_dockerd()
    assert after is not None and after != before  # a real restart happened, and dockerd is back
    rs = read(only_result(results))
    assert rs.header.cold["runc"]["control"] == "dockerd" and rs.header.cold["runsc"]["control"] == "dockerd"
    cold = [s for s in rs.samples if s.scenario == "cold"]
    warm = [s for s in rs.samples if s.scenario == "warm"]
    assert {s.round for s in warm} == {0, 1} and {s.round for s in cold} == {2, 3}
    assert all(s.ok for s in rs.samples), [(s.phase, s.message) for s in rs.samples if not s.ok]
    for rnd in (2, 3):
        for mode in ("runc", "runsc"):
            cyc = {s.phase: s for s in cold if s.round == rnd and s.mode == mode}
            assert list(cyc) == ["engine_stop", "engine_up", "create", "start", "ready", "exec", "stop", "remove"]
            up = cyc["engine_up"]
            # from the start command to the first /_ping: longer than the command itself
            assert 0 < up.detail["command_ns"] < up.duration_ns and up.detail["pings"] >= 1
    assert rs.end.status == "complete" and not labelled_containers(local_dockerd, rs.run_id)

    rep = subprocess.run(
        [".venv/bin/python", "-m", "analysis", "report", str(only_result(results)), "--out", str(tmp_path / "rep")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rep.returncode == 0, rep.stderr
    import pandas as pd

    cs = pd.read_csv(tmp_path / "rep" / "cold_summary.csv").set_index(["mode", "phase"])
    for mode in ("runc", "runsc"):
        per_cycle = []
        for rnd in (2, 3):
            cyc = {s.phase: s.duration_ns for s in cold if s.round == rnd and s.mode == mode}
            per_cycle.append(sum(cyc[p] for p in ("engine_up", "create", "start", "ready")) / 1e6)
        assert cs.loc[(mode, "cold_startup"), "median"] == pytest.approx(sum(per_cycle) / 2, rel=1e-6)
    assert "cold starts" in rep.stdout


def test_an_engine_that_does_not_start_is_a_sample_and_is_brought_back(local_dockerd, tmp_path, results):
    """The mode's own commands: the first start fails (a sample with the reason, the
    cycle's phases not_run), the scheduler brings the engine back, the next round runs."""
    flag = tmp_path / "failed-once"
    stop = ["sh", "-c", STOP_HOST_DOCKERD]
    start = [
        "sh",
        "-c",
        f"if [ -e {flag} ]; then setsid dockerd >>/var/log/isobench-dockerd.log 2>&1 </dev/null & "
        f"else touch {flag}; echo 'no such engine' >&2; exit 3; fi",
    ]
    cfg = tmp_path / "b.toml"
    write_config(cfg, "", rounds=1, warmup=0, scenario="cold", cold_rounds=2, reconnect_s=60)
    with open(cfg, "a") as fh:
        fh.write('[[mode]]\npreset = "runc"\n')
        # JSON strings are valid TOML basic strings
        fh.write(f"engine_stop_cmd = {json.dumps(stop)}\nengine_start_cmd = {json.dumps(start)}\n")
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    assert rs.header.cold["runc"]["control"] == "command"
    first = {s.phase: s for s in rs.samples if s.round == 0}
    assert first["engine_up"].error == "engine_control" and "exited with 3" in (first["engine_up"].message or "")
    assert "no such engine" in (first["engine_up"].message or "")
    assert all(first[p].error == "not_run" for p in ("create", "start", "ready", "exec", "stop", "remove"))
    second = [s for s in rs.samples if s.round == 1]
    assert len(second) == 8 and all(s.ok for s in second)
    assert rs.end.status == "complete" and find_dockerd() is not None
