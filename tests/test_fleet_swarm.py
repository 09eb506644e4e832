"""The fleet through Swarm jobs on the real local swarm (3 node dockerds in namespaces the project owns),
one swarm shared by the tests of this module (each test starts from a healthy one: a test that killed a
node leaves it to the next to bring the swarm back). A node's dockerd killed mid-job: that host's set ends
`interrupted` with what arrived, the other hosts complete, the fleet report names the lost host. A host
difference planted on one node (its runc wrapped with a 50 ms sleep on create, inside that node's own
mount namespace only): the fleet report names it the outlier and attributes it to the host. The host's
own engine and /etc/docker/daemon.json are never touched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.engine import swarm
from bench.engine.swarm.teardown import leftovers
from helpers import REPO, host_dockerd_pid, read, run_leased, set_format, write_config

pytestmark = [pytest.mark.engine, pytest.mark.slow]
ISOBENCH = str(Path(sys.executable).parent / "isobench")
HOSTS = ("isb-manager", "isb-worker-runc", "isb-worker-runsc")
PLANT = "/run/isobench-plant"  # in the node's mount namespace: /run there is the node's own tmpfs


@pytest.fixture(scope="module")
def fleet_swarm():
    if os.geteuid() != 0:
        pytest.skip("the swarm needs root")
    for tool in ("ip", "dockerd", "containerd", "runsc", "unshare", "nsenter", "mmdebstrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"the fleet on the local swarm needs {tool}")
    swarm.main("down", lambda _: None)
    try:
        yield
    finally:
        swarm.main("down", lambda _: None)
        assert leftovers() == []


@pytest.fixture
def healthy(fleet_swarm):
    """The shared swarm, healthy (brought up again when a test before this one killed a node)."""
    if swarm.health(swarm.load_state()) is not None:
        swarm.main("down", lambda _: None)
        assert swarm.main("up", lambda _: None) == 0
    return swarm.load_state()


def _fleet(results: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [ISOBENCH, "fleet", "run", "--results", str(results), *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _report(results: Path) -> str:
    proc = subprocess.run(
        [ISOBENCH, "fleet", "report", str(results)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return (results / "fleet" / "report" / "fleet.md").read_text()


def _sets(results: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in results.glob("isb-*/*.jsonl")}


def _wait_for_records(results: Path, host: str, n: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = list((results / host).glob("*.jsonl"))
        if found and sum(1 for _ in open(found[0])) > n:
            return
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, f"{host}'s set did not reach {n} records within {timeout} s"
        time.sleep(0.5)


def test_an_unknown_host_and_a_node_without_the_modes_runtime_are_one_sentence_each_and_the_other_goes_on(
    healthy, tmp_path
):
    results = tmp_path / "results"
    options = ["--rounds", "3", "--min-rounds", "3", "--warmup", "1", "--mode", "runsc"]
    hosts = ["--host", "isb-manager", "--host", "isb-nosuch", "--host", "isb-worker-runsc"]
    proc = _fleet(results, *options, *hosts)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 2 and "Traceback" not in out, out
    lines = [line.strip() for line in out.splitlines()]
    assert (
        "isb-nosuch: the fleet has no host named 'isb-nosuch' (the swarm's nodes are isb-manager, isb-worker-runc, "
        "isb-worker-runsc)." in lines
    ), out
    (no_runtime,) = [x for x in lines if x.startswith("isb-manager: ")]
    assert no_runtime.startswith("isb-manager: node isb-manager has no runsc runtime, which mode runsc needs (its ")
    assert no_runtime.endswith("): register it there or leave --mode runsc out."), no_runtime
    sets = _sets(results)
    assert set(sets) == {"isb-worker-runsc"}, out
    rs = read(sets["isb-worker-runsc"])
    assert rs.end.status == "complete" and {s.mode for s in rs.samples} == {"runsc"}
    report = _report(results)
    assert f"left out: {no_runtime}" in report and "left out: isb-nosuch: the fleet has no host" in report, report
    # The format a local run with the same options writes, plus the header's `fleet`: the Ansible carrier's
    # fetched set is held to the same (tests/test_fleet_ansible.py), so the two carriers file one format.
    local = tmp_path / "local"
    cfg = write_config(tmp_path / "b.toml", "")
    run_leased("run", "--config", str(cfg), "--results", str(local), *options, timeout=600)
    head, kinds = set_format(sets["isb-worker-runsc"])
    ref_head, ref_kinds = set_format(next(local.rglob("*.jsonl")))
    assert head == ref_head | {"fleet"} and kinds == ref_kinds, (head ^ ref_head, kinds, ref_kinds)


def test_a_node_killed_mid_job_ends_its_set_interrupted_and_the_others_complete(healthy, tmp_path):
    results = tmp_path / "results"
    proc = _fleet(results, "--rounds", "25", "--min-rounds", "25", "--warmup", "0", "--mode", "runc")
    try:
        _wait_for_records(results, "isb-worker-runc", 15, proc, timeout=900)
        victim = healthy.node("worker-runc").pid
        assert victim is not None and victim != host_dockerd_pid()
        os.kill(victim, signal.SIGKILL)
        out, _ = proc.communicate(timeout=1200)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "Traceback" not in out, out
    sets = _sets(results)
    assert set(sets) == set(HOSTS), out
    lost = read(sets["isb-worker-runc"])
    assert lost.end.status == "interrupted" and lost.end.written_by == "fleet", lost.end
    assert "went down mid-run" in lost.end.reason and len(lost.samples) >= 14
    for host in ("isb-manager", "isb-worker-runsc"):
        assert read(sets[host]).end.status == "complete", (host, out)
    report = _report(results)
    assert "lost: isb-worker-runc: its set ends interrupted (node isb-worker-runc went down" in report, report
    print("\n" + "\n".join(line for line in out.splitlines() if line.startswith("  isb-")))
    print("\n".join(line for line in report.splitlines() if "lost:" in line))


def _plant(node_pid: int, delay_s: float) -> None:
    """runc wrapped, for this node's dockerd only: in its mount namespace (``ip netns exec`` made / a
    slave there, so nothing propagates to the host), /usr/sbin/runc becomes a script that sleeps before
    `create` and execs a copy of the real runc. It goes with the node's namespace at `swarm down`."""
    runc = shutil.which("runc")
    assert runc is not None
    wrapper = f'#!/bin/sh\ncase " $* " in *" create "*) sleep {delay_s};; esac\nexec {PLANT}/runc.real "$@"\n'
    script = (
        f"mkdir -p {PLANT} && cp {runc} {PLANT}/runc.real && cat > {PLANT}/runc && chmod 755 {PLANT}/runc "
        f"&& mount --bind {PLANT}/runc {runc}"
    )
    subprocess.run(
        ["nsenter", "-t", str(node_pid), "-m", "--", "sh", "-c", script],
        input=wrapper,
        text=True,
        check=True,
        timeout=30,
    )


@pytest.mark.bench
def test_a_planted_host_difference_is_named_and_attributed_to_the_host(healthy, tmp_path):
    """A detection on this host's noise (the three "hosts" share two cores, so load moving between the
    nodes' turns reads as a host difference): a benchmark, `make bench-fleet-plant`, not part of make test."""
    planted = healthy.node("worker-runc").pid
    assert planted is not None and planted != host_dockerd_pid()
    runc = str(shutil.which("runc"))
    _plant(planted, 0.05)
    try:
        with open("/proc/self/mountinfo") as fh:
            assert not any(f" {runc} " in line for line in fh), "the plant reached the host's mount namespace"
        results = tmp_path / "results"
        proc = _fleet(results, "--rounds", "30", "--min-rounds", "30", "--warmup", "1", "--mode", "runc")
        out, _ = proc.communicate(timeout=1800)
    finally:
        subprocess.run(["nsenter", "-t", str(planted), "-m", "--", "umount", runc], capture_output=True, timeout=30)
    assert proc.returncode == 0, out
    report = _report(results)
    outliers = [line for line in report.splitlines() if "is the outlier" in line]
    named = [line for line in outliers if line.lstrip("- ").startswith("isb-worker-runc is the outlier")]
    assert named and "attributed to the host" in named[0], report
    print("\n" + "\n".join(line for line in report.splitlines() if "isb-" in line))


def test_status_shows_the_live_job_and_ctrl_c_stops_it_keeping_what_arrived(healthy, tmp_path):
    results = tmp_path / "results"
    proc = _fleet(results, "--rounds", "200", "--min-rounds", "200", "--warmup", "0", "--mode", "runc")
    try:
        _wait_for_records(results, "isb-manager", 12, proc, timeout=900)
        status = subprocess.run([ISOBENCH, "fleet", "status"], cwd=REPO, capture_output=True, text=True, timeout=120)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status.returncode == 0 and "node isb-manager  running" in status.stdout, status.stdout + status.stderr
    assert proc.returncode == 130 and "Traceback" not in out, out
    (only,) = _sets(results).values()
    rs = read(only)
    # SIGTERM reached the task's run, which ended its own set (the fleet's end record would say written_by)
    assert rs.end.status == "interrupted" and rs.end.written_by is None, rs.end
    assert len(rs.samples) >= 11
    after = subprocess.run([ISOBENCH, "fleet", "status"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "no fleet job runs on this swarm." in after.stdout, after.stdout
    # The fleet removed its services; each node's swarm agent then removes their task containers on its own
    # time (as for the service scenario's services): a few seconds.
    deadline = time.monotonic() + 30
    for name in ("manager", "worker-runc", "worker-runsc"):
        ep = healthy.node(name).endpoint
        while True:
            listed = subprocess.run(
                ["docker", "-H", ep, "ps", "-aq", "--filter", "label=isobench.fleet"], capture_output=True, text=True
            )
            if not listed.stdout.strip():
                break
            assert time.monotonic() < deadline, f"a harness task container stayed on {name}"
            time.sleep(0.5)
