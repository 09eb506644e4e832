"""One run at a time per engine: the lease (bench.engine.lease) on the real engine, and its rules without one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.engine import lease
from bench.engine.lease import Holder
from helpers import (
    REPO,
    labelled_containers,
    lost_samples,
    popen_bench,
    popen_run,
    read,
    run_bench,
    wait_for_lines,
    write_config,
)

RUNC = '[[mode]]\npreset = "runc"\n'
IMAGE = "isobench/busybox:latest"


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def remove_quietly(engine, *cids: str) -> None:
    """Removes the containers a test planted; one already gone (swept, as the test meant) is no error."""
    for cid in cids:
        try:
            engine.remove_container(cid, force=True)
        except Exception:
            pass


# -- without an engine ------------------------------------------------------------------


def _holder(**kw: object) -> Holder:
    base = dict(
        run_id="r1", host="h", pid=1, pid_start="", boot_id="", started="t", expires_ns=0, generation=1, guest=False
    )
    base.update(kw)
    return Holder(**base)  # type: ignore[arg-type]


def test_a_foreign_lease_lives_until_it_expires():
    now = time.time_ns()
    assert _holder(boot_id="another-machine", expires_ns=now + 10**9).is_live(now)
    assert not _holder(boot_id="another-machine", expires_ns=now - 1).is_live(now)


def test_on_this_machine_the_process_decides_not_the_clock():
    me = Holder.me("r1", ttl_s=-60, generation=1, guest=False)  # expired by the clock
    assert me.is_live()  # ... but this process is alive
    dead = Holder(**{**me.__dict__, "pid_start": "1"})  # same pid, another start time: a reused pid
    assert not dead.is_live()


def test_an_exited_run_its_parent_has_not_reaped_holds_no_lease():
    """A killed run stays a zombie until its parent (a shell, a test runner) collects it: its lease is free."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = lease._pid_start(child.pid)
    deadline = time.monotonic() + 10
    while lease._pid_start(child.pid) and time.monotonic() < deadline:  # exited, not yet waited for
        time.sleep(0.02)
    zombie = Holder(**{**Holder.me("r1", ttl_s=60, generation=1, guest=False).__dict__, "pid": child.pid})
    zombie = Holder(**{**zombie.__dict__, "pid_start": started})
    assert started and not zombie.is_live()
    child.wait()


def test_labels_round_trip():
    me = Holder.me("r1", ttl_s=60, generation=7, guest=True)
    back = Holder.from_container({"Id": "abc", "Labels": me.labels()})
    assert back == Holder(**{**me.__dict__, "container": "abc"})
    assert Holder.from_container({"Id": "x", "Labels": {"isobench.lease": "r", "isobench.lease.pid": "NaN"}}) is None


# -- on the real engine -------------------------------------------------------------------


@pytest.mark.engine
def test_a_second_run_is_refused_and_the_first_loses_nothing(engine, tmp_path):
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=12, warmup=0)
    first = popen_run(cfg, tmp_path / "first", "--no-summary")
    try:
        path = wait_for_lines(tmp_path / "first", 1 + 6, timeout=90)
        second = run_bench(
            "run", "--config", str(cfg), "--results", str(tmp_path / "second"), "--quiet", "--no-summary", timeout=60
        )
    finally:
        finish(first)
    rs = read(path)
    assert second.returncode == 2, second.stderr
    sentence = second.stderr.strip().splitlines()[-1]
    assert f"run {rs.run_id} on " in sentence and f"pid {first.pid}" in sentence and "--allow-concurrent" in sentence
    assert "Traceback" not in second.stderr and not list((tmp_path / "second").rglob("*.jsonl"))
    assert first.returncode == 0 and rs.end.status == "complete"
    assert all(s.ok for s in rs.samples) and len(rs.samples) == 12 * 6
    assert lost_samples(rs) == 0 and labelled_containers(engine, rs.run_id) == []
    assert [h for h in lease.holders(engine)] == []  # released at exit


@pytest.mark.engine
def test_allow_concurrent_runs_both_and_marks_both(engine, tmp_path):
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=12, warmup=0)
    first = popen_run(cfg, tmp_path / "first", "--no-summary")
    try:
        path = wait_for_lines(tmp_path / "first", 1 + 6, timeout=90)
        second = run_bench(
            "run",
            "--config",
            str(cfg),
            "--results",
            str(tmp_path / "second"),
            "--quiet",
            "--allow-concurrent",
            "--no-summary",
            "--rounds",
            "3",
            timeout=120,
        )
    finally:
        finish(first)
    a, b = read(path), read(next((tmp_path / "second").rglob("*.jsonl")))
    assert second.returncode == 0 and first.returncode == 0, second.stderr
    assert a.end.status == b.end.status == "complete"
    assert all(s.ok for s in a.samples + b.samples)
    assert b.header.concurrent is True
    (beside,) = [rec["concurrent_with"] for rec in b.header.leases.values()]
    assert beside["run_id"] == a.run_id and beside["pid"] == first.pid
    assert a.header.concurrent is False and a.end.concurrent_with == [b.run_id]
    for rs in (a, b):  # the report says so
        rep = subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(rs.path), "--out", str(tmp_path / f"rep-{rs.run_id}")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert rep.returncode == 0, rep.stderr
        assert "CONCURRENT" in rep.stdout
        assert "CONCURRENT" in (tmp_path / f"rep-{rs.run_id}" / "report.md").read_text()
    assert lease.holders(engine) == []


@pytest.mark.engine
def test_a_killed_runs_lease_is_free_and_its_containers_are_swept(engine, tmp_path):
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=30, warmup=0)
    first = popen_run(cfg, tmp_path / "first", "--no-summary")
    try:
        path = wait_for_lines(tmp_path / "first", 1 + 6 * 2, timeout=90)
        time.sleep(0.15)  # inside a cycle: its container is left behind
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        finish(first)
    killed = read(path)
    assert [h.run_id for h in lease.holders(engine)] == [killed.run_id]  # SIGKILL released nothing
    held = len(labelled_containers(engine, killed.run_id))
    proc = run_bench(
        "run",
        "--config",
        str(cfg),
        "--results",
        str(tmp_path / "second"),
        "--quiet",
        "--no-summary",
        "--rounds",
        "1",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    after = read(next((tmp_path / "second").rglob("*.jsonl")))
    assert after.header.swept_at_start == held
    assert labelled_containers(engine, killed.run_id) == [] and lease.holders(engine) == []


@pytest.mark.engine
def test_a_remote_holders_lease_expires_by_its_clock(engine, tmp_path):
    """A run on another host (another boot id): refused while its lease is unexpired, its containers
    kept by the sweep; once expired, taken over and swept."""
    foreign = Holder(
        run_id="elsewhere01",
        host="other-host",
        pid=4242,
        pid_start="1",
        boot_id="another-boot",
        started="2026-01-01T00:00:00+00:00",
        expires_ns=time.time_ns() + int(6e9),
        generation=3,
        guest=False,
    )
    sentinel = engine.create_container(IMAGE, command=["x"], name="isobench-lease.3", labels=foreign.labels())
    theirs = engine.create_container(IMAGE, command=["x"], labels={"isobench.run": "elsewhere01"})
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=1, warmup=0)
    try:
        refused = run_bench("run", "--config", str(cfg), "--results", str(tmp_path / "a"), "--quiet", "--no-summary")
        assert refused.returncode == 2 and "run elsewhere01 on other-host, pid 4242" in refused.stderr
        kept = run_bench("sweep")
        assert kept.returncode == 0 and "kept those of 1 live run(s) (elsewhere01)" in kept.stdout
        assert engine.inspect_container(theirs["Id"])
        time.sleep(max(0.0, (foreign.expires_ns - time.time_ns()) / 1e9) + 0.5)
        proc = run_bench("run", "--config", str(cfg), "--results", str(tmp_path / "b"), "--quiet", "--no-summary")
        assert proc.returncode == 0, proc.stderr
        rs = read(next((tmp_path / "b").rglob("*.jsonl")))
        assert rs.header.swept_at_start == 1 and labelled_containers(engine, "elsewhere01") == []
        assert lease.holders(engine) == []  # the expired generation went with the takeover
    finally:
        remove_quietly(engine, sentinel["Id"], theirs["Id"])


@pytest.mark.engine
def test_sweep_force_removes_a_live_runs_containers(engine, tmp_path):
    me = Holder.me("liverun0001", ttl_s=60, generation=1, guest=False)  # this test process: alive
    sentinel = engine.create_container(IMAGE, command=["x"], name="isobench-lease.1", labels=me.labels())
    theirs = engine.create_container(IMAGE, command=["x"], labels={"isobench.run": "liverun0001"})
    try:
        assert "kept those of 1 live run(s)" in run_bench("sweep").stdout
        forced = run_bench("sweep", "--force")
        assert forced.returncode == 0 and "removed 1" in forced.stdout
        assert labelled_containers(engine, "liverun0001") == []
    finally:
        remove_quietly(engine, sentinel["Id"], theirs["Id"])


@pytest.mark.engine
def test_resume_retakes_the_lease(engine, tmp_path):
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=6, warmup=0)
    first = popen_run(cfg, tmp_path / "first", "--no-summary")
    try:
        path = wait_for_lines(tmp_path / "first", 1 + 6, timeout=90)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        finish(first)
    run_id = read(path).run_id
    resumer = popen_bench("run", "--resume", str(path), "--quiet", "--no-summary")
    try:
        deadline = time.monotonic() + 60
        seen: list[Holder] = []
        while time.monotonic() < deadline and not seen:
            seen = [h for h in lease.holders(engine) if h.pid == resumer.pid]
            time.sleep(0.1)
    finally:
        out, err = finish(resumer)
    assert resumer.returncode == 0, err
    assert seen and seen[0].run_id == run_id and not seen[0].guest
    assert read(path).end.status == "complete" and lease.holders(engine) == []
    assert os.path.exists(path)
