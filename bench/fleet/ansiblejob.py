"""The Ansible carrier: hosts named by an inventory, reached over SSH by Ansible (ansible-core, driven
through ansible-runner), for hosts that are in no swarm or cannot mount their engine into a task.

Per host, one after another (`--limit HOST`): the shipped playbook (bench/fleet/playbooks/fleet-run.yml)
copies isobench's wheel and its run-time wheels, makes a venv, runs `python -m bench run` with the
fleet's options and bench.toml, fetches the result set and removes its working folder. The fetched set
goes through the same writer as the Swarm carrier's records (bench.fleet.sink), so both carriers file
one format under results/<host>/; a set without its end record gets the fleet's `interrupted` one.
Every step's outcome is read from ansible-runner's events: an unreachable host or a failed step is one
sentence and the other hosts go on. Ctrl-C: the playbook is cancelled and fleet-stop.yml ends the host's
run by its pid (the run ends its own set), fetches what arrived and removes the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from bench.core.errors import UserError
from bench.fleet.sink import HostOutcome, HostSink

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
INVENTORY_S = 60.0
STOP_WAIT_S = 40  # the run's own end cleanup is bounded well inside this (as the Swarm task's stop grace)
STOP_PLAY_S = 180.0  # the stop playbook: connect, stop, fetch, remove
SETUP_SLACK_S = 300.0  # on top of the run's deadline: copy the wheels, make the venv, install, fetch
RUN_TASK = "run the benchmark"
JOIN_S = 0.5


def _bin(name: str) -> str:
    """Ansible's commands from this interpreter's environment first (the venv's bin is not always on PATH)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise UserError(
            f"the Ansible carrier needs {name} (ansible-core and ansible-runner): pip install -e '.[fleet]'."
        )
    return found


def inventory_hosts(inventory: Path) -> list[str]:
    """Every host the inventory names (all groups), as Ansible reads the file."""
    if not inventory.is_file():
        raise UserError(f"the inventory {inventory} is not a file: pass --inventory FILE (an Ansible inventory).")
    try:
        # Ansible's own files in a folder of ours, not ~/.ansible (nothing left behind here either).
        with tempfile.TemporaryDirectory(prefix="isobench-ansible-") as home:
            proc = subprocess.run(
                [_bin("ansible-inventory"), "-i", str(inventory), "--list"],
                capture_output=True, text=True, timeout=INVENTORY_S, stdin=subprocess.DEVNULL,
                env={**os.environ, "ANSIBLE_HOME": home, "ANSIBLE_LOCAL_TEMP": home},
            )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise UserError(f"ansible-inventory did not read {inventory} within {INVENTORY_S:.0f} s.") from None
    try:
        listed = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except json.JSONDecodeError:
        listed = {}
    hosts = set((listed.get("_meta") or {}).get("hostvars") or {})
    for group in listed.values():
        hosts.update(group.get("hosts") or () if isinstance(group, dict) else ())
    if not hosts:
        raise UserError(f"the inventory {inventory} names no host Ansible can read: see `ansible-inventory -i FILE`.")
    return sorted(hosts)


def _sentence(text: str) -> str:
    """One line of a message, without its closing stop, to sit inside a sentence of ours."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[-1] if lines else "no message"
    return line.removeprefix("Task failed: ")[:300].rstrip(".")


@dataclass
class Events:
    """What ansible-runner's events said of one host's play."""

    unreachable: Optional[str] = None
    failed: Optional[tuple[str, str]] = None  # (task, message) of the first step that failed
    run: Optional[dict[str, Any]] = None  # the run step's result: rc, stderr, msg
    seen: list[str] = field(default_factory=list)

    def __call__(self, event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        res = data.get("res") or {}
        kind = event.get("event", "")
        task = str(data.get("task") or "")
        if kind == "runner_on_unreachable" and self.unreachable is None:
            self.unreachable = _sentence(res.get("msg") or "unreachable")
        elif kind == "runner_on_failed" and not data.get("ignore_errors") and self.failed is None:
            self.failed = (task, _sentence(res.get("stderr") or res.get("msg") or "failed"))
        elif kind in ("runner_on_ok", "runner_on_failed") and task == RUN_TASK:
            self.run = res
        if kind.startswith("runner_on_"):
            self.seen.append(f"{task}: {kind[10:]}")
        return True  # keep every event in the artifacts too


class AnsibleCarrier:
    """Runs the playbook per host; each host's set goes to results_dir through the fleet's sink."""

    def __init__(
        self, inventory: Path, work: Path, wheels: list[Path], config: Path, say: Callable[[str], None]
    ) -> None:
        self.inventory, self.work, self.say = inventory, work, say
        self.config = config
        self.wheels = work / "wheels.tar"
        with tarfile.open(self.wheels, "w") as tar:  # wheels are zips already: no compression
            for w in wheels:
                tar.add(w, arcname=w.name)
        self.playbook_bin = _bin("ansible-playbook")

    def _play(
        self, playbook: str, host: str, extravars: dict[str, Any], cancel: threading.Event, timeout: float
    ) -> tuple[threading.Thread, Any, Events]:
        """One playbook run for one host, in a thread of its own, so that a Ctrl-C in the main thread only
        sets ``cancel`` (ansible-runner then ends ansible-playbook) instead of leaving it orphaned."""
        import ansible_runner

        events = Events()
        private = self.work / "runner" / f"{playbook.split('.')[0]}-{host}"
        private.mkdir(parents=True, exist_ok=True)
        envvars = {
            "ANSIBLE_HOME": str(self.work / "ansible-home"),  # nothing of Ansible's left in ~/.ansible here
            "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-tmp"),
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            # ansible-runner turns host key checking off unless told; a benchmark has no reason to trust
            # a host it does not know, so Ansible's own default (on) holds unless the caller's says otherwise.
            "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
            # ansible-playbook by this name from the venv first (ansible-runner looks it up on PATH)
            "PATH": f"{Path(self.playbook_bin).parent}:/usr/local/bin:/usr/bin:/bin",
        }
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(private), playbook=str(PLAYBOOKS / playbook), inventory=str(self.inventory.resolve()),
            limit=host, extravars=extravars, envvars=envvars, quiet=True,
            event_handler=events, cancel_callback=cancel.is_set, timeout=int(timeout),
            settings={"suppress_ansible_output": True},
        )  # fmt: skip
        return thread, runner, events

    def _extravars(self, host: str, fleet_id: str, run_args: list[str], deadline_s: float) -> dict[str, Any]:
        return {
            "isobench_dir": f"/tmp/isobench-fleet-{fleet_id[:8]}",
            "isobench_wheels": str(self.wheels),
            "isobench_config": str(self.config.resolve()),
            "isobench_args": run_args,
            "isobench_fetch": str(self.work / "fetched"),
            "isobench_deadline": int(deadline_s),
            "isobench_stop_wait": STOP_WAIT_S,
        }

    def run_one(
        self, host: str, fleet_id: str, run_args: list[str], deadline_s: float, results_dir: Path, fleet: dict
    ) -> HostOutcome:
        extravars = self._extravars(host, fleet_id, run_args, deadline_s)
        cancel = threading.Event()
        thread, runner, events = self._play("fleet-run.yml", host, extravars, cancel, deadline_s + SETUP_SLACK_S)
        try:
            while thread.is_alive():
                thread.join(JOIN_S)
        except BaseException:
            # Ctrl-C or SIGTERM: the playbook ends here; the run on the host goes on until it is told.
            cancel.set()
            try:
                thread.join(30)
            except BaseException:  # noqa: BLE001 - a second Ctrl-C cuts this wait, never the stop below
                pass
            self._stop(host, extravars)
            self.outcome(host, results_dir, fleet, events, "the fleet was interrupted before the run on it ended")
            raise
        if runner.status == "timeout":  # ansible-playbook ended here; the host's async run must be told
            self._stop(host, extravars)
        return self.outcome(host, results_dir, fleet, events, self._why(host, runner.status, events))

    def _stop(self, host: str, extravars: dict[str, Any]) -> None:
        self.say(f"  {host}: stopping its run and fetching what arrived")
        thread, _runner, _events = self._play("fleet-stop.yml", host, extravars, threading.Event(), STOP_PLAY_S)
        deadline = time.monotonic() + STOP_PLAY_S
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                thread.join(JOIN_S)
            except BaseException:  # noqa: BLE001 - a second Ctrl-C: the signals module's hard exit is armed
                continue

    @staticmethod
    def _why(host: str, status: str, ev: Events) -> str:
        """One sentence: why the host's set is not complete (used only when it is not)."""
        if ev.unreachable is not None:
            return f"host {host} could not be reached ({ev.unreachable}), so its benchmark was not started"
        if ev.failed is not None:
            return f"the step '{ev.failed[0]}' failed on {host} ({ev.failed[1]})"
        run = ev.run or {}
        if run.get("rc") not in (None, 0):
            said = run.get("stderr") or run.get("msg") or ""
            return f"the run on {host} exited with status {run.get('rc')} ({_sentence(said)})"
        if run.get("msg") and run.get("rc") is None:
            return f"the run on {host} did not end by its deadline ({_sentence(run['msg'])})"
        if status != "successful":
            return f"the playbook for {host} ended {status}"
        return f"the run on {host} ended without its end record"

    def outcome(self, host: str, results_dir: Path, fleet: dict, ev: Events, why: str) -> HostOutcome:
        """The fetched set written through the fleet's sink (the run's own file name, the header's host)."""
        sink = HostSink(host, results_dir, fleet)
        fetched = sorted((self.work / "fetched" / host).glob("*.jsonl"))
        if fetched:
            sink.take([{"fleet": "start", "file": fetched[-1].name}, *_records(fetched[-1])])
            for path in fetched:
                path.unlink()
        rc = (ev.run or {}).get("rc")
        if rc is not None:
            sink.take([{"fleet": "exit", "code": rc}])
        return sink.finish(why)


def _records(path: Path) -> list[dict[str, Any]]:
    """The set's records; a last line cut off mid-write (the run killed) is left out, as a reader would."""
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            break
    return out
