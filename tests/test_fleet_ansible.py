"""The fleet's Ansible carrier (bench/fleet/ansiblejob.py, playbooks in bench/fleet/playbooks/): for real,
against the project's own sshd on a loopback port in front of this host (the nodes of the local swarm run
no sshd), with an inventory that also names a host nobody knows. The fetched set has the format of a local
run's (and so of the Swarm carrier's: both write through bench.fleet.sink) plus the one `fleet` header key;
the unknown host is one sentence and the other host goes on; Ctrl-C stops the host's run, which ends its own
set, and what arrived is kept; nothing is left on the host (working folder, ~/.ansible, containers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.fleet.ansiblejob import Events, _sentence, inventory_hosts
from helpers import (
    REPO,
    labelled_containers,
    read,
    run_leased,
    set_format,
    write_config,
)

ansible_runner = pytest.importorskip("ansible_runner", reason="the Ansible carrier needs '.[fleet]'")

ISOBENCH = str(Path(sys.executable).parent / "isobench")
REMOTE_DIRS = "/tmp/isobench-fleet-*"
RUN_OPTIONS = ["--rounds", "3", "--min-rounds", "3", "--warmup", "1", "--mode", "runc"]


def isobench(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """The `isobench` command as a user runs it (`fleet` is one of its commands, not of `python -m bench`)."""
    argv = [ISOBENCH, *args]
    return subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def _inventory(path: Path, sshd: dict, *others: str) -> Path:
    path.write_text(
        "[bench]\n"
        f"loopback ansible_host=127.0.0.1 ansible_port={sshd['port']} ansible_user=root "
        f"ansible_ssh_private_key_file={sshd['key']} "
        f"ansible_ssh_common_args='-o UserKnownHostsFile={sshd['known_hosts']} -o IdentitiesOnly=yes'\n"
        + "".join(f"{o} ansible_user=root\n" for o in others)
        # this host's own python3 (interpreter discovery could find a pyenv shim of the controller's user)
        + "[bench:vars]\nansible_python_interpreter=/usr/bin/python3\nisobench_python=/usr/bin/python3\n"
    )
    return path


def _leftovers() -> list[str]:
    import glob

    return glob.glob(REMOTE_DIRS) + ([] if not os.path.exists("/root/.ansible") else ["/root/.ansible"])


def test_inventory_hosts_and_one_sentence_refusals(tmp_path: Path) -> None:
    from bench.core.errors import UserError

    inv = tmp_path / "inv.ini"
    inv.write_text("a ansible_host=127.0.0.1\n[g]\nb\nc\n[g:vars]\nx=1\n")
    before = _leftovers()
    assert inventory_hosts(inv) == ["a", "b", "c"]
    assert _leftovers() == before  # ansible-inventory's own files went to a folder of ours
    with pytest.raises(UserError, match="is not a file"):
        inventory_hosts(tmp_path / "nope.ini")
    (tmp_path / "empty.ini").write_text("# nothing\n")
    with pytest.raises(UserError, match="names no host"):
        inventory_hosts(tmp_path / "empty.ini")
    ev = Events()
    ev({"event": "runner_on_unreachable", "event_data": {"task": "t", "res": {"msg": "Task failed: no route.\n"}}})
    ev({"event": "runner_on_failed", "event_data": {"task": "make the venv", "res": {"stderr": "a\nno ensurepip"}}})
    assert ev.unreachable == "no route" and ev.failed == ("make the venv", "no ensurepip")
    assert _sentence("") == "no message"


def test_a_host_the_inventory_does_not_name_is_one_sentence(tmp_path: Path) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("a ansible_host=127.0.0.1\n")
    proc = isobench("fleet", "run", "--inventory", str(inv), "--host", "zz", "--results", str(tmp_path), timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "zz: the inventory names no host 'zz' (it names a)." in proc.stdout


@pytest.fixture(scope="module")
def sshd(engine, loopback_sshd):
    return loopback_sshd


@pytest.mark.engine
@pytest.mark.slow
def test_fleet_over_ansible_fetches_the_set_in_the_local_format(sshd, engine, tmp_path: Path) -> None:
    inv = _inventory(tmp_path / "inv.ini", sshd, "nosuch.invalid")
    results = tmp_path / "results"
    before = _leftovers()
    proc = isobench(
        "fleet", "run", "--inventory", str(inv), "--results", str(results), *RUN_OPTIONS,
        timeout=900, env={"HOME": sshd["home"]},
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    lost = [x for x in lines if x.startswith("  nosuch.invalid: none")]
    assert len(lost) == 1 and "host nosuch.invalid could not be reached (" in lost[0], proc.stdout
    assert lost[0].endswith("so its benchmark was not started"), lost[0]
    (fetched,) = [p for p in results.rglob("*.jsonl")]
    rs = read(fetched)
    assert rs.end.status == "complete" and rs.header.fleet["carrier"] == "ansible"
    assert rs.header.fleet["host"] == "loopback" and fetched.parent.name == rs.header.host["hostname"]
    assert {s.phase for s in rs.samples} >= {"create", "start", "stop", "remove"}
    manifest = json.loads(next((results / "fleet").glob("*.json")).read_text())
    assert [(h["host"], h["status"]) for h in manifest["hosts"]] == [
        ("loopback", "complete"),
        ("nosuch.invalid", "none"),
    ]
    # The reference: a local run with the same options writes what the fleet fetched, but for `fleet`.
    local = tmp_path / "local"
    cfg = write_config(tmp_path / "b.toml", "")
    run_leased("run", "--config", str(cfg), "--results", str(local), *RUN_OPTIONS, timeout=600)
    head, kinds = set_format(fetched)
    ref_head, ref_kinds = set_format(next(local.rglob("*.jsonl")))
    assert head == ref_head | {"fleet"} and kinds == ref_kinds
    assert _leftovers() == before and labelled_containers(engine) == []


@pytest.mark.engine
@pytest.mark.slow
def test_ctrl_c_stops_the_hosts_run_and_keeps_what_arrived(sshd, engine, tmp_path: Path) -> None:
    inv = _inventory(tmp_path / "inv.ini", sshd)
    results = tmp_path / "results"
    before = set(_leftovers())
    proc = subprocess.Popen(
        [ISOBENCH, "fleet", "run", "--inventory", str(inv), "--results", str(results),
         "--rounds", "400", "--min-rounds", "400", "--warmup", "0", "--mode", "runc", "--budget", "300"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HOME": sshd["home"]},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 400
        while not _remote_samples(20):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, out + err
    (fetched,) = list(results.rglob("*.jsonl"))
    rs = read(fetched)
    # The run on the host ended its own set (SIGTERM), so its end record is the run's, not the fleet's.
    assert rs.end.status == "interrupted" and rs.end.written_by is None, rs.end
    assert len(rs.samples) >= 20
    assert set(_leftovers()) == before and labelled_containers(engine) == []


def _remote_samples(n: int) -> bool:
    """The host's run has written at least ``n`` samples into its working folder."""
    import glob

    for path in glob.glob(f"{REMOTE_DIRS}/results/*/*.jsonl"):
        if sum(1 for _ in open(path)) > n:
            return True
    return False


def test_a_second_ctrl_c_while_the_play_winds_down_still_stops_the_host(tmp_path: Path, monkeypatch) -> None:
    """The first Ctrl-C cancels the playbook and waits up to 30 s for it; a second one cuts that wait but
    the host is still told to stop (its run would otherwise go on until its own deadline)."""
    from bench.fleet import ansiblejob

    class Thread:
        def __init__(self) -> None:
            self.joins = 0

        def is_alive(self) -> bool:
            return True

        def join(self, timeout: float) -> None:
            self.joins += 1
            if self.joins <= 2:  # the first signal in the main wait, the second in the 30 s wind-down
                raise KeyboardInterrupt

    monkeypatch.setattr(ansiblejob, "_bin", lambda name: f"/usr/bin/{name}")
    carrier = ansiblejob.AnsibleCarrier(tmp_path / "inventory", tmp_path, [], tmp_path / "bench.toml", print)
    plays: list[str] = []
    thread = Thread()
    monkeypatch.setattr(carrier, "_play", lambda playbook, *a: (plays.append(playbook), (thread, None, Events()))[1])
    stopped: list[str] = []
    monkeypatch.setattr(carrier, "_stop", lambda host, extravars: stopped.append(host))
    monkeypatch.setattr(carrier, "outcome", lambda *a: None)
    with pytest.raises(KeyboardInterrupt):
        carrier.run_one("node-1", "f" * 32, [], 60.0, tmp_path / "results", {})
    assert plays == ["fleet-run.yml"] and stopped == ["node-1"] and thread.joins == 2
