"""The timed requests' lean path (bench.measure.wire) on the real engine, and the `run` cycle shape."""

from __future__ import annotations

import subprocess
import sys

import docker
import pytest

from bench.engine import classify
from bench.engine.endpoints import Endpoint
from bench.measure.wire import Wire
from helpers import IMAGE, REPO, labelled_containers, only_result, read, run_bench, write_config

pytestmark = pytest.mark.engine


@pytest.fixture
def wire(engine):
    w = Wire(Endpoint("unix:///var/run/docker.sock", "unix"), engine.api_version, 30)
    w.connect()
    yield w
    w.close()


def test_a_cycle_over_one_keep_alive_connection(engine, wire):
    body = {"Image": IMAGE, "Cmd": ["/bin/sh", "-c", "echo ready"], "Labels": {"isobench.run": "wire-test"},
            "HostConfig": {"NetworkMode": "none"}}  # fmt: skip
    cid = wire.send(wire.request("POST", "/containers/create", None, body)).json()["Id"]
    try:
        first = wire.sock
        started = wire.send(wire.request("POST", f"/containers/{cid}/start"))
        assert started.status == 204 and started.body == b""  # answered at once: 204 has no body to wait for
        waited = wire.send(wire.request("POST", f"/containers/{cid}/wait"))
        assert waited.json()["StatusCode"] == 0
        assert wire.sock is first  # one connection for all of it
        assert wire.send(wire.request("DELETE", f"/containers/{cid}")).status == 204
    finally:
        try:
            engine.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass


def test_engine_errors_keep_their_category(engine, wire):
    with pytest.raises(docker.errors.NotFound) as missing:
        wire.send(wire.request("POST", "/containers/isobench-no-such-container/start"))
    assert classify.classify(missing.value)[0] == "not_found" and "no-such-container" in str(missing.value.explanation)
    bad = {"Image": IMAGE, "Cmd": ["x"], "HostConfig": {"Isolation": "hyperv"}}
    with pytest.raises(docker.errors.APIError) as rejected:
        wire.send(wire.request("POST", "/containers/create", None, bad))
    assert classify.classify(rejected.value)[0] == "isolation_rejected"


def test_the_run_cycle_shape(engine, tmp_path, results):
    """`--cycle run`: create, start, ready, wait, remove, as `docker run --rm` does; the report reads it."""
    cfg = write_config(tmp_path / "b.toml", '[[mode]]\npreset = "runc"\n', rounds=3, warmup=0)
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", "--cycle", "run",
                     "--no-summary")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    assert [s.phase for s in rs.samples if s.round == 0] == ["create", "start", "ready", "wait", "remove"]
    assert all(s.ok for s in rs.samples) and rs.header.harness["cycle_shapes"] == {"runc": "run"}
    assert rs.header.harness["timing_paths"]["runc"].startswith("raw HTTP/1.1")
    assert labelled_containers(engine, rs.run_id) == []
    rep = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(rs.path), "--out", str(tmp_path / "rep")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rep.returncode == 0, rep.stderr
    summary = (tmp_path / "rep" / "summary.csv").read_text()
    assert ",wait," in summary and ",run_cycle," in summary and ",startup," in summary
