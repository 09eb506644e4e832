"""Fault injection with real faults on the real engine: nothing lost, nothing leaked.

`make faults` runs this file and prints the fault table (see conftest.py).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest

from bench.core.phases import PHASES, RUN_PHASES
from helpers import (
    REPO,
    STOP_HOST_DOCKERD,
    host_dockerd_pid,
    killed_if_running,
    labelled_containers,
    lost_samples,
    only_result,
    popen_run,
    read,
    run_bench,
    start_dockerd,
    stop_dockerd,
    stop_process_group,
    wait_for_lines,
    write_config,
)

pytestmark = [pytest.mark.engine, pytest.mark.faults]

RUNC = '[[mode]]\npreset = "runc"\n'
TWO = RUNC + '\n[[mode]]\npreset = "runsc"\n'


def runtime_mode(name: str, runtime: str, timeouts: str) -> str:
    """A runc-preset mode ``name`` whose containers run on the test runtime ``runtime`` (see the
    register_runtime fixture); ``timeouts``: the keys of its inline timeouts table."""
    return f"""
[[mode]]
preset = "runc"
name = "{name}"
runtime = "{runtime}"
timeouts = {{ {timeouts} }}
"""


@pytest.mark.parametrize("stage", ["create", "start"])
def test_runtime_hangs(engine, register_runtime, tmp_path, results, fault_row, stage):
    """An OCI runtime whose `create` (or `start`) hangs far past the phase timeout, then fails.

    The hang (6 s) outlasts the start timeout and the cycle's own cleanup (1.5 + 3 s), so the
    container is left pending; the run's end retries it within the remove timeout (3 s more),
    by when the runtime has let go, whichever position the hung mode has in the last round."""
    row = fault_row(f"OCI runtime hangs on {stage}", "timeout samples, run goes on, nothing leaked")
    name = register_runtime(
        f"isobench-hang-{stage}", f'case " $* " in *" {stage} "*) sleep 6; exit 1;; esac\nexec runc "$@"'
    )
    cfg = write_config(
        tmp_path / "b.toml",
        RUNC + runtime_mode("hung", name, "start = 1.5, remove = 3"),
        rounds=2,
        warmup=0,
    )
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=240)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    hung = [s for s in rs.samples if s.mode == "hung"]
    starts = [s.error for s in hung if s.phase == "start"]
    assert starts == ["timeout", "timeout"]
    assert all(s.error == "not_run" for s in hung if s.phase in PHASES[2:])
    assert all(s.ok for s in rs.samples if s.mode == "runc")
    lost, leaked = row.observed_set(
        f"{starts.count('timeout')} start timeouts, runc {sum(s.ok for s in rs.samples if s.mode == 'runc')} ok, "
        f"end {rs.end.status}",
        rs,
        engine,
    )
    assert rs.end.status == "complete" and rs.end.leaked == [] and leaked == 0 and lost == 0


@pytest.fixture
def local_dockerd(engine):
    if os.geteuid() != 0 or host_dockerd_pid() is None:
        pytest.skip("needs root and a local dockerd to stop and start")
    yield
    if host_dockerd_pid() is None:
        start_dockerd()


def test_engine_restarts_mid_run(local_dockerd, engine, tmp_path, results, fault_row):
    row = fault_row("dockerd stopped mid-run, back 3 s later", "engine_unavailable samples, reconnect, run completes")
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=25, warmup=0, reconnect_s=60)
    proc = popen_run(cfg, results)
    with killed_if_running(proc):
        wait_for_lines(results, 1 + 6 * 4)
        stop_dockerd()
        time.sleep(3)
        start_dockerd()
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    rs = read(only_result(results))
    errors = {s.error for s in rs.samples if not s.ok}
    unavailable = sum(1 for s in rs.samples if s.error == "engine_unavailable")
    lost, leaked = row.observed_set(
        f"{unavailable} engine_unavailable samples ({', '.join(sorted(errors))}), end {rs.end.status}, "
        f"{sum(1 for s in rs.samples if s.ok and s.phase == 'remove')} cycles ok",
        rs,
        engine,
    )
    assert unavailable >= 1 and rs.end.status == "complete"
    assert sum(1 for s in rs.samples if s.phase == "create") == 25
    assert leaked == 0 and lost == 0


def test_engine_stays_away(local_dockerd, engine, tmp_path, results, fault_row):
    row = fault_row(
        "dockerd stopped mid-run for good",
        "end record `failed`, every sample readable; what the dead engine holds is swept once it is back",
    )
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=50, warmup=0, reconnect_s=4)
    proc = popen_run(cfg, results)
    try:
        wait_for_lines(results, 1 + 6 * 3)
        stop_dockerd()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        start_dockerd()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    rs = read(only_result(results))
    assert rs.end.status == "failed" and "unavailable" in rs.end.reason
    held = len(labelled_containers(engine, rs.run_id))
    # the engine is back: the next run sweeps whatever it held
    proc2 = run_bench("run", "--config", str(cfg), "--results", str(tmp_path / "again"), "--quiet", "--rounds", "1")
    assert proc2.returncode == 0, proc2.stderr
    swept = read(only_result(tmp_path / "again")).header.swept_at_start
    lost, leaked = row.observed_set(
        f"exit 1, end failed after {rs.end.measured_cycles} cycles; {len(rs.samples)} samples readable; "
        f"{held} container(s) held by the dead engine, {swept} swept by the next run",
        rs,
        engine,
    )
    assert lost == 0 and leaked == 0 and swept >= held


@pytest.mark.parametrize(
    "sig, code, inherited",
    [(signal.SIGINT, 130, "default"), (signal.SIGTERM, 143, "default"), (signal.SIGINT, 130, "ignored")],
)
def test_signal_mid_cycle(engine, tmp_path, results, fault_row, sig, code, inherited):
    row = fault_row(
        f"{signal.Signals(sig).name} mid-cycle" + (" (SIGINT inherited ignored)" if inherited == "ignored" else ""),
        f"`interrupted` end record, exit {code}, nothing left",
    )
    cfg = write_config(tmp_path / "b.toml", TWO, rounds=200, warmup=0)
    proc = popen_run(cfg, results, sigint_ignored=inherited == "ignored")
    with killed_if_running(proc):
        wait_for_lines(results, 20)
        time.sleep(0.2)  # somewhere inside a cycle
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    rs = read(only_result(results))
    leaked = len(labelled_containers(engine, rs.run_id))
    lost = lost_samples(rs)
    interrupted = sum(1 for s in rs.samples if s.error == "interrupted")
    row.observed(f"exit {proc.returncode}, end {rs.end.status}, {interrupted} interrupted sample(s)", lost, leaked)
    assert proc.returncode == code and "Traceback" not in err
    assert rs.end.status == "interrupted" and leaked == 0 and lost == 0


def test_sigkill_then_sweep_and_resume(engine, tmp_path, results, fault_row):
    row = fault_row("SIGKILL of the harness", "next run sweeps leftovers; --resume continues the set")
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=8, warmup=0)
    proc = popen_run(cfg, results)
    with killed_if_running(proc):
        path = wait_for_lines(results, 1 + 6 * 3)
        time.sleep(0.15)
        proc.kill()
        proc.wait(timeout=30)
    before = read(path)
    assert before.end is None
    done_rounds = {s.round for s in before.samples}
    left = len(labelled_containers(engine, before.run_id))
    proc = run_bench("run", "--resume", str(path), "--quiet", timeout=240)
    assert proc.returncode == 0, proc.stderr
    after = read(path)
    assert after.run_id == before.run_id and after.header == before.header
    assert after.samples[: len(before.samples)] == before.samples
    (resume,) = after.resumes
    assert resume.previous_end is None and resume.gap_from_ns == max(s.wall_ns for s in before.samples)
    assert resume.swept_at_resume == left
    measured_rounds = {s.round for s in after.samples if not s.warmup}
    assert len(measured_rounds) == 8 and min(measured_rounds - done_rounds) > max(done_rounds)
    assert after.end.status == "complete"
    leaked = len(labelled_containers(engine, before.run_id))
    lost = lost_samples(after)
    row.observed(
        f"{left} leftover(s) swept at resume, {len(done_rounds)} + {len(measured_rounds - done_rounds)} rounds, "
        f"end {after.end.status}",
        lost,
        leaked,
    )
    assert leaked == 0 and lost == 0
    again = run_bench("run", "--resume", str(path), "--quiet")
    assert again.returncode == 2 and "already complete" in again.stderr


def test_results_dir_not_writable(engine, tmp_path, fault_row):
    row = fault_row("results directory unwritable", "exit 2 with one sentence, before any container")
    blocker = tmp_path / "results"
    blocker.write_text("a file where the directory should be")
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=1, warmup=0)
    proc = run_bench("run", "--config", str(cfg), "--results", str(blocker / "sub"))
    row.observed(f"exit {proc.returncode}: {proc.stderr.strip()[:70]}", 0, 0)
    assert proc.returncode == 2 and "is not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert "runc: ok" not in proc.stderr  # preflight (and its trial container) never ran


def test_results_dir_full(engine, tmp_path, fault_row):
    row = fault_row("results directory full", "exit 2 with one sentence, before any container")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mnt / "filler").write_bytes(b"\0" * 60_000)
        cfg = write_config(tmp_path / "b.toml", RUNC, rounds=1, warmup=0)
        proc = run_bench("run", "--config", str(cfg), "--results", str(mnt))
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    row.observed(f"exit {proc.returncode}: {proc.stderr.strip()[:70]}", 0, 0)
    assert proc.returncode == 2 and "No space left" in proc.stderr and "Traceback" not in proc.stderr


def test_security_defaults(engine, tmp_path, results, fault_row, monkeypatch):
    """No privileged containers, no network, read-only root; no secrets in the result set;
    the HTML report escapes what it shows."""
    row = fault_row("security defaults", "unprivileged, no network, read-only root; no secrets stored; HTML escaped")
    from bench.core.config import parse_config
    from bench.engine.spec import create_kwargs

    mode = parse_config({"mode": [{"preset": "runc"}]}, "t").modes[0]
    kw = create_kwargs(engine, mode, "isobench/busybox:latest", "security-test")
    cid = engine.create_container(**kw)["Id"]
    try:
        hc = engine.inspect_container(cid)["HostConfig"]
    finally:
        engine.remove_container(cid, force=True)
    assert hc["Privileged"] is False and hc["NetworkMode"] == "none" and hc["ReadonlyRootfs"] is True
    assert mode.tls_verify is True

    secret = "s3cr3t-" + os.urandom(6).hex()
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (certs / name).write_text(f"-----BEGIN {secret}-----\n")
    cfg = write_config(
        tmp_path / "b.toml",
        RUNC + '\n[[mode]]\npreset = "runc"\nname = "<script>alert(1)</script>"\n'
        f'\n[[mode]]\npreset = "runc"\nname = "remote"\nendpoint = "tcp://127.0.0.1:1"\ntls_cert_dir = "{certs}"\n',
        rounds=2,
        warmup=0,
    )
    env = dict(os.environ, ISOBENCH_TEST_SECRET=secret, DOCKER_PASSWORD=secret)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--config", str(cfg), "--results", str(results), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    path = only_result(results)
    text = path.read_text()
    assert secret not in text and "BEGIN" not in text
    assert str(certs) in text  # the path is recorded, never the contents
    rep = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(path), "--out", str(tmp_path / "rep")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    row.observed(
        "Privileged false, NetworkMode none, ReadonlyRootfs true; secret absent; <script> escaped",
        0,
        len(labelled_containers(engine)),
    )


def test_plain_tcp_and_bad_tls_are_refused(engine, tmp_path, fault_row):
    row = fault_row("plain tcp without opt-in", "refused with one sentence")
    cfg = write_config(tmp_path / "b.toml", '[[mode]]\npreset = "runc"\nendpoint = "tcp://127.0.0.1:2375"\n')
    proc = run_bench("doctor", "--config", str(cfg))
    row.observed(f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1][:80]}", 0, 0)
    assert proc.returncode == 2 and "allow_plain_tcp = true" in proc.stderr and "Traceback" not in proc.stderr


def test_sigint_while_the_engine_restarts(engine, tmp_path, results, fault_row):
    """Cold scenario: Ctrl-C while the engine is down or coming up. The set ends `interrupted`
    and the engine is brought back before the harness exits."""
    row = fault_row("SIGINT during a cold restart", "`interrupted` end record, exit 130, engine running again")
    if os.geteuid() != 0:
        pytest.skip("needs root to restart dockerd")
    import json

    stop = ["sh", "-c", STOP_HOST_DOCKERD]
    start = [
        "sh",
        "-c",
        "sleep 2; kill -0 $(cat /var/run/docker.pid 2>/dev/null) 2>/dev/null || "
        "setsid dockerd >>/var/log/isobench-dockerd.log 2>&1 </dev/null &",
    ]
    cfg = write_config(
        tmp_path / "b.toml",
        RUNC + f"engine_stop_cmd = {json.dumps(stop)}\nengine_start_cmd = {json.dumps(start)}\n",
        rounds=1,
        warmup=0,
        scenario="cold",
        cold_rounds=3,
    )
    proc = popen_run(cfg, results, sigint_ignored=True)
    with killed_if_running(proc):
        wait_for_lines(results, 1)
        time.sleep(1.5)  # the stop takes about a second: this lands in engine_stop or engine_up
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    up = subprocess.run([sys.executable, "-m", "bench", "ping"], cwd=REPO, capture_output=True, timeout=60)
    if up.returncode != 0:
        start_dockerd()
    rs = read(only_result(results))
    interrupted = [s for s in rs.samples if s.error == "interrupted"]
    lost, leaked = lost_samples(rs), len(labelled_containers(engine, rs.run_id))
    row.observed(
        f"exit {proc.returncode}, end {rs.end.status}, interrupted in "
        f"{', '.join(s.phase for s in interrupted)}, engine {'up' if up.returncode == 0 else 'DOWN'}",
        lost,
        leaked,
    )
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert rs.end.status == "interrupted" and lost == 0 and leaked == 0
    assert [s.phase for s in interrupted] in (["engine_stop"], ["engine_up"], ["create"], ["start"])
    assert up.returncode == 0, "the harness left the engine down"


NEVER = 'case " $* " in *" create "*) exec sleep 100017;; esac\nexec runc "$@"'


def test_runtime_that_never_returns(engine, register_runtime, tmp_path, results, fault_row):
    """An OCI runtime whose `create` never returns: each start times out, its container cannot be removed,
    and yet the run ends on its own within its stated bound (the longest remove timeout + 5 s after the
    last round), listing what it left."""
    row = fault_row("OCI runtime never returns", "timeouts recorded, runc loses nothing, exits within its bound")
    name = register_runtime("isobench-never", NEVER)
    cfg = write_config(
        tmp_path / "b.toml",
        RUNC + runtime_mode("never", name, "create = 3, start = 3, ready = 3, exec = 3, stop = 3, remove = 3"),
        rounds=4,
        warmup=0,
    )
    run_id = None
    try:
        proc = popen_run(cfg, results)
        out, err = proc.communicate(timeout=240)
        exited_ns = time.time_ns()
        rs = read(only_result(results))
        run_id = rs.run_id
        # the last cycle ends when its last step does (its own cleanup included): a sample's wall_ns is
        # when that step began, so a last cycle of the hung mode (start's 3 s timeout, then its cleanup)
        # would otherwise count its own steps into the tail
        last_sample_ns = max(s.wall_ns + (s.duration_ns or 0) for s in rs.samples)
        after_end_s = (exited_ns - rs.end.ended_ns) / 1e9
        tail_s = (exited_ns - last_sample_ns) / 1e9
        starts = [s.error for s in rs.samples if s.mode == "never" and s.phase == "start"]
        row.observed(
            f"exit {proc.returncode}, {starts.count('timeout')} start timeouts, {len(rs.end.leaked)} "
            f"containers held by the runtime, exited {tail_s:.1f} s after its last cycle",
            lost_samples(rs),
            0,
        )
        assert proc.returncode == 0 and rs.end.status == "complete", err
        assert starts == ["timeout"] * 4
        assert all(s.ok for s in rs.samples if s.mode == "runc") and lost_samples(rs) == 0
        assert len(rs.end.leaked) == 4 and "could not be removed" in err
        # The bound: the end cleanup (3 s remove + 5 s sweep) + 3 s to write the end record and exit.
        assert tail_s < 3 + 5 + 3, f"{tail_s:.1f} s from the last cycle to exit"
        assert after_end_s < 3
    finally:
        subprocess.run(["pkill", "-f", "^sleep 100017$"], check=False)
        time.sleep(1)
        if run_id:
            run_bench("sweep", "--run-id", run_id)
    assert run_id and labelled_containers(engine, run_id) == []


def test_ctrl_c_with_the_output_piped_to_a_dying_reader(engine, tmp_path, results, fault_row):
    """`make bench | tee log` and Ctrl-C: the whole process group gets SIGINT, the reader dies first, and
    the harness's writes meet a closed pipe. That is an interruption, not an internal error."""
    row = fault_row("Ctrl-C to `run | tee` (the pipe dies)", "`interrupted` end record, exit 130, nothing left")
    cfg = write_config(tmp_path / "b.toml", RUNC, rounds=200, warmup=0)
    cmd = (
        f"{sys.executable} -m bench run --config {cfg} --results {results} 2>&1 | (trap 'exit 130' INT; cat >/dev/null)"
    )
    proc = subprocess.Popen(
        ["bash", "-c", cmd], cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_lines(results, 1 + 6 * 3)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rs = read(only_result(results))
    leaked, lost = len(labelled_containers(engine, rs.run_id)), lost_samples(rs)
    row.observed(f"end {rs.end.status}: {rs.end.reason}", lost, leaked)
    assert rs.end.status == "interrupted" and "internal error" not in rs.end.reason
    assert leaked == 0 and lost == 0


def test_a_second_sigint_ends_a_stuck_cleanup_within_seconds(engine, register_runtime, tmp_path, results, fault_row):
    """The first Ctrl-C starts a clean stop; when that cleanup waits on a runtime that never returns
    (removes bounded at 30 s here), a second Ctrl-C ends the process within a few seconds, and the set
    stays readable."""
    row = fault_row("second SIGINT during a stuck cleanup", "exit within 5 s of it, readable set")
    name = register_runtime("isobench-never2", NEVER.replace("100017", "100018"))
    cfg = write_config(
        tmp_path / "b.toml",
        runtime_mode("never", name, "start = 2, remove = 30"),
        rounds=20,
        warmup=0,
    )
    run_id = None
    try:
        proc = popen_run(cfg, results, sigint_ignored=True)
        wait_for_lines(results, 1 + 7)  # one cycle: six phases and its failed cleanup
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        rs = read(only_result(results))
        run_id = rs.run_id
        row.observed(
            f"exit {proc.returncode} {took:.1f} s after the second SIGINT; end "
            f"{rs.end.status if rs.end else 'none'}; {len(rs.samples)} samples readable",
            lost_samples(rs),
            0,
        )
        assert proc.returncode == 130 and took < 5.5 and "Traceback" not in err, err
        assert lost_samples(rs) == 0
    finally:
        subprocess.run(["pkill", "-f", "^sleep 100018$"], check=False)
        time.sleep(1)
        if run_id:
            run_bench("sweep", "--run-id", run_id)
    assert run_id and labelled_containers(engine, run_id) == []


def test_a_container_that_never_prints_its_ready_line(engine, tmp_path, results, fault_row):
    """start answered, then nothing on the attach stream: the failure is ready's (a timeout after its own
    timeout), start keeps its measured time, and the container is removed. Before, ready's timeout was
    written as a start timeout and start's time was lost (start's sample was held back until after ready)."""
    row = fault_row("the command never prints its ready line", "start ok, ready timeout, container removed")
    body = '[[mode]]\npreset = "runc"\ncommand = ["/bin/sh", "-c", "sleep 30"]\ntimeouts = { ready = 2 }\n'
    cfg = write_config(tmp_path / "b.toml", body, rounds=1, warmup=0)
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=120)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    got = {s.phase: s for s in rs.samples}
    start, ready = got["start"], got["ready"]
    lost, leaked = row.observed_set(
        f"start ok ({start.duration_ns / 1e6:.0f} ms), ready {ready.error} after "
        f"{ready.duration_ns / 1e9:.0f} s, then {sorted({got[p].error for p in PHASES[3:]})}",
        rs,
        engine,
    )
    assert start.ok and 0 < start.duration_ns < 2e9
    assert not ready.ok and ready.error == "timeout" and "at ready" in ready.message
    assert all(got[p].error == "not_run" and "ready failed" in (got[p].message or "") for p in PHASES[3:])
    assert got["cleanup"].ok and lost == 0 and leaked == 0


@contextmanager
def tiny_tmpfs(path, size: str = "64k"):
    """A small tmpfs at ``path`` (a results folder that fills), unmounted whatever happens."""
    path.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_results_disk_fills_mid_run(engine, tmp_path, fault_row):
    """The results folder (a 64 KiB tmpfs) fills after a dozen rounds. Before: three chained OSError
    tracebacks (append's flush, close's end record, the file's close) and exit 1. Now: preflight warns,
    the cycle that did not fit is cut back, every container goes, one sentence naming the folder, its free
    space and --resume, exit 4; the set reads as cut off with every complete record, and resumes elsewhere."""
    row = fault_row(
        "results folder fills mid-run (64 KiB tmpfs)",
        "one sentence, exit 4, nothing left; the set reads; --resume elsewhere continues it",
    )
    cfg = write_config(tmp_path / "b.toml", TWO, rounds=40, warmup=0)
    with tiny_tmpfs(tmp_path / "tiny") as tiny:
        proc = run_bench("run", "--config", str(cfg), "--results", str(tiny), "--quiet", timeout=240)
        path = only_result(tiny)
        moved = tmp_path / "big" / path.name
        moved.parent.mkdir()
        shutil.copy(path, moved)
    said = [line for line in proc.stderr.splitlines() if line.startswith("isobench:")]
    rs = read(moved)
    cycles = len({(s.round, s.mode) for s in rs.samples})
    lost, leaked = lost_samples(rs), len(labelled_containers(engine, rs.run_id))
    again = run_bench("run", "--resume", str(moved), "--quiet", timeout=300)
    after = read(moved)
    rounds_after = len({s.round for s in after.samples})
    row.observed(
        f"exit {proc.returncode}: {said[0][:150] if said else proc.stderr[-150:]}…; {cycles} whole cycles kept "
        f"({len(rs.samples)} samples, end {rs.end.status if rs.end else 'none: cut off'}); resumed elsewhere: "
        f"exit {again.returncode}, {rounds_after} rounds, end {after.end.status if after.end else None}",
        lost,
        leaked,
    )
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, proc.stderr
    assert "warning: the results folder" in proc.stderr and "less than twice" in proc.stderr
    assert len(said) == 1 and "is full" in said[0] and "free on its filesystem" in said[0]
    assert f"isobench run --resume {path}" in said[0] and str(path.parent) in said[0]
    assert lost == 0 and leaked == 0 and cycles >= 4
    assert rs.end is None or (rs.end.status == "failed" and rs.end.stop == "results_disk_full")
    assert all(n == 6 for n in Counter((s.round, s.mode) for s in rs.samples).values())
    assert again.returncode == 0, again.stderr
    assert after.samples[: len(rs.samples)] == rs.samples and rounds_after == 40
    assert after.end.status == "complete" and lost_samples(after) == 0


class LoopDockerd:
    """A dockerd of the test's own whose data root is a small ext4 file on a loop device: its own socket,
    exec root and pid file, no bridge and no iptables (the host's engine is never touched). ``stop``
    removes the dockerd, unmounts and detaches the loop device and deletes its files, on every path."""

    def __init__(self, size_mib: int = 48) -> None:
        # short paths: unix socket paths under the exec root must stay under 108 bytes
        self.root = Path(f"/tmp/isb-disk-{os.getpid()}")
        self.data, self.image = self.root / "data", self.root / "disk.img"
        self.sock = f"unix://{self.root / 'd.sock'}"
        self.size_mib = size_mib
        self.loop: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        self._filler: Optional[threading.Thread] = None

    def start(self) -> "LoopDockerd":
        for d in (self.data, self.root / "exec"):
            d.mkdir(parents=True, exist_ok=True)
        subprocess.run(["truncate", "-s", f"{self.size_mib}M", str(self.image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True, capture_output=True)
        self.loop = subprocess.run(
            ["losetup", "--find", "--show", str(self.image)], check=True, capture_output=True, text=True
        ).stdout.strip()
        subprocess.run(["mount", self.loop, str(self.data)], check=True)
        argv = ["dockerd", "-H", self.sock, f"--data-root={self.data}", f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'd.pid'}", "--bridge=none", "--iptables=false", "--ip-masq=false",
                "--storage-driver=vfs"]  # fmt: skip
        with open(self.root / "dockerd.log", "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        import docker

        deadline = time.monotonic() + 60
        while True:
            try:  # the client asks the API version as it is made: only once the socket answers
                self.client = docker.APIClient(base_url=self.sock, timeout=60)
                return self
            except Exception:
                assert self.proc.poll() is None and time.monotonic() < deadline, self.log_tail()
                time.sleep(0.3)

    def log_tail(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-2000:]

    def fill(self) -> None:
        """Fills the data root and keeps it full (as root: the reserved blocks too) until ``stop``: a filler
        that takes back every block the engine frees, as another writer on a shared disk would. Filling once
        is not enough: the cycle in flight removes its container's layer, and the next create would fit."""
        self._filling = threading.Event()
        self._filling.set()

        def fill() -> None:
            with open(self.data / "filler", "wb", buffering=0) as fh:
                while self._filling.is_set():
                    try:
                        fh.write(b"\0" * 65536)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC, exc
                        time.sleep(0.001)

        self._filler = threading.Thread(target=fill, daemon=True)
        self._filler.start()

    def free(self) -> None:
        """Stops the filler and deletes its file: the data root has room again."""
        if self._filler is not None:
            self._filling.clear()
            self._filler.join(10)
            self._filler = None
        (self.data / "filler").unlink(missing_ok=True)

    def stop(self) -> None:
        self.free()
        stop_process_group(self.proc)
        subprocess.run(["umount", "-R", str(self.root / "exec")], capture_output=True)
        subprocess.run(["umount", str(self.data)], capture_output=True)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def gone(self) -> bool:
        """Nothing of it is left on the host: no process, no mount, no loop device on its file."""
        mounts = Path("/proc/mounts").read_text()
        loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        alive = self.proc is not None and self.proc.poll() is None
        return not alive and str(self.root) not in mounts and str(self.image) not in loops


def test_engine_data_root_fills(engine, tmp_path, results, fault_row):
    """The engine's data root (an ext4 file on a loop device, under a dockerd of the test's own) fills
    mid-run. Before: every remaining cycle failed as `api_error` until the rounds ran out, exit 0. Now:
    `engine_disk_full` samples, and after 3 in a row the run stops with one sentence naming the engine
    and its data root, exit 5; once space is freed the engine runs containers again."""
    if os.geteuid() != 0 or not shutil.which("losetup") or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root, losetup and mkfs.ext4 for a loop-mounted data root")
    row = fault_row(
        "engine data root fills mid-run (loop-mounted ext4)",
        "engine_disk_full samples; after 3 in a row one sentence naming engine and data root, exit 5",
    )
    from bench.engine.image import ensure_image

    d = LoopDockerd()
    try:
        d.start()
        ensure_image(d.client)
        cfg = write_config(
            tmp_path / "b.toml", f'[[mode]]\npreset = "runc"\nendpoint = "{d.sock}"\n', rounds=50, warmup=0
        )
        proc = popen_run(cfg, results)
        with killed_if_running(proc):
            wait_for_lines(results, 1 + 6 * 2)
            d.fill()
            out, err = proc.communicate(timeout=180)
        rs = read(only_result(results))
        full = [s for s in rs.samples if s.error == "engine_disk_full"]
        left = len(labelled_containers(d.client, rs.run_id))
        d.free()
        cid = d.client.create_container("isobench/busybox:latest", ["true"])["Id"]
        d.client.start(cid)
        healthy = d.client.wait(cid, timeout=30)["StatusCode"] == 0
        d.client.remove_container(cid, force=True)
    finally:
        d.stop()
    said = [line for line in err.splitlines() if line.startswith("isobench:")]
    phases = ", ".join(sorted({s.phase for s in full}))
    row.observed(
        f"exit {proc.returncode}; {len(full)} engine_disk_full samples ({phases}) "
        f"after {rs.end.measured_cycles - len(full)} ok cycles; {said[0] if said else err[-300:]}; engine "
        f"{'runs containers' if healthy else 'BROKEN'} once freed; dockerd, mount and loop device "
        f"{'removed' if d.gone() else 'LEFT'}",
        lost_samples(rs),
        left,
    )
    assert proc.returncode == 5 and "Traceback" not in err, err
    assert len(full) == 3 and all(s.phase in ("create", "start") for s in full)
    assert "no space left on device" in full[0].message.lower()
    assert len(said) == 1 and str(d.data) in said[0] and d.sock in said[0] and "3 cycles in a row" in said[0]
    assert rs.end.status == "failed" and rs.end.stop == "engine_disk_full"
    # the phases after the one that failed were not run: five after a create, four after a start
    not_run = sum(5 if s.phase == "create" else 4 for s in full)
    assert rs.end.counts["runc"]["_errors"] == {"engine_disk_full": 3, "not_run": not_run}
    assert lost_samples(rs) == 0 and left == 0 and healthy and d.gone()


# Prints its ready line, then holds far more than its 8 MiB limit: the kernel's OOM killer ends it.
OOM_COMMAND = "echo ready; sleep {pause}; x=$(head -c 200000000 /dev/zero | tr '\\\\0' a); sleep 600"


def test_the_oom_killer_ends_containers(engine, tmp_path, fault_row):
    """Containers limited to 8 MiB that allocate past the limit once ready. Before: a warm cycle's failure
    was `exit_code` (137) and density stopped only at density_max with every container dead. Now: the
    failed phase is `oom_killed` with the engine's verdict (State.OOMKilled), and density's stop names it."""
    row = fault_row(
        "the OOM killer ends containers (8 MiB limit)",
        "oom_killed samples, run completes; density's stop names the OOM killer; nothing left",
    )
    warm = write_config(
        tmp_path / "w.toml",
        f'[[mode]]\npreset = "runc"\ncycle = "run"\nmemory_mib = 8\n'
        f'run_command = ["/bin/sh", "-c", "{OOM_COMMAND.format(pause=0)}"]\n',
        rounds=2,
        warmup=0,
    )
    proc = run_bench("run", "--config", str(warm), "--results", str(tmp_path / "w"), "--quiet", "--no-summary")
    rs = read(only_result(tmp_path / "w"))
    waits = [s for s in rs.samples if s.phase == "wait"]
    dense = write_config(
        tmp_path / "d.toml",
        f'[[mode]]\npreset = "runc"\nmemory_mib = 8\ncommand = ["/bin/sh", "-c", "{OOM_COMMAND.format(pause=0.5)}"]\n',
        rounds=1,
        warmup=0,
    )
    args = ("--scenario", "density", "--density-step", "2", "--density-max", "8", "--quiet", "--no-summary")
    proc2 = run_bench("run", "--config", str(dense), "--results", str(tmp_path / "d"), *args)
    ds = read(only_result(tmp_path / "d"))
    (teardown,) = [s for s in ds.samples if s.phase == "teardown"]
    stop = teardown.detail["stop_reason"]
    leaked = len(labelled_containers(engine, rs.run_id)) + len(labelled_containers(engine, ds.run_id))
    # the run shape's phases (helpers.lost_samples counts the full shape's six)
    lost = sum(len(RUN_PHASES) - n for n in Counter(s.round for s in rs.samples if s.phase in RUN_PHASES).values())
    row.observed(
        f"warm: exit {proc.returncode}, wait {[s.error for s in waits]}; density: exit {proc2.returncode}, "
        f"stopped at {teardown.detail['running']} running: {stop[:150]}",
        lost,
        leaked,
    )
    assert proc.returncode == 0 and rs.end.status == "complete", proc.stderr
    assert [s.error for s in waits] == ["oom_killed", "oom_killed"]
    assert "State.OOMKilled" in waits[0].message and "memory limit 8 MiB" in waits[0].message
    assert proc2.returncode == 0 and "Traceback" not in proc2.stderr, proc2.stderr
    assert stop.startswith("oom_killed: the kernel's OOM killer ended") and teardown.detail["running"] < 8
    assert leaked == 0 and lost == 0 and sum(s.phase in RUN_PHASES for s in rs.samples) == 2 * len(RUN_PHASES)
    assert all(s.ok for s in rs.samples if s.phase == "cleanup")  # the killed container was removed
