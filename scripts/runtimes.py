"""Registers planted OCI runtimes with the host's dockerd, and takes them out again.

Shared by plant-runtime.sh (a delay before runc's create) and plant-cpu.sh (a CPU burner and a sleeper).
dockerd re-reads its runtimes on SIGHUP, so it is never restarted.

  runtimes.py add STATE_DIR NAME=PATH...   add (or restore) these runtimes; reload and wait until dockerd
                                           lists them; exit 0 whether or not daemon.json had to change
  runtimes.py remove STATE_DIR NAME...     take only these out (runtimes another script added meanwhile
                                           stay); a daemon.json that did not exist before ``add`` and is
                                           now empty is removed; reload

STATE_DIR remembers whether daemon.json existed before the first ``add``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DAEMON_JSON = Path("/etc/docker/daemon.json")
PID_FILE = Path("/var/run/docker.pid")
NO_DAEMON_JSON = "no-daemon.json"  # marker in STATE_DIR: daemon.json did not exist before the first add


def _read() -> dict:
    if DAEMON_JSON.exists() and DAEMON_JSON.stat().st_size:
        return json.loads(DAEMON_JSON.read_text())
    return {}


def _write(cfg: dict) -> None:
    tmp = DAEMON_JSON.with_name(DAEMON_JSON.name + ".isobench-tmp")
    tmp.write_text(json.dumps(cfg, indent=2))
    os.replace(tmp, DAEMON_JSON)


def _reload() -> None:
    try:
        os.kill(int(PID_FILE.read_text().strip()), signal.SIGHUP)
    except (OSError, ValueError):
        pass  # no dockerd running: it reads daemon.json when it starts


def _listed(names: list[str]) -> bool:
    out = subprocess.run(
        ["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True, timeout=10
    ).stdout
    return all(f'"{name}"' in out for name in names)


def add(state: Path, pairs: list[str]) -> int:
    want = dict(pair.split("=", 1) for pair in pairs)
    state.mkdir(parents=True, exist_ok=True)
    if not DAEMON_JSON.exists() and not (state / NO_DAEMON_JSON).exists():
        (state / NO_DAEMON_JSON).touch()
    cfg = _read()
    runtimes = cfg.setdefault("runtimes", {})
    if all(runtimes.get(name) == {"path": path} for name, path in want.items()):
        return 0
    runtimes.update({name: {"path": path} for name, path in want.items()})
    _write(cfg)
    _reload()
    for _ in range(50):
        if _listed(list(want)):
            return 0
        time.sleep(0.2)
    print(f"runtimes.py: dockerd did not pick up {', '.join(want)}", file=sys.stderr)
    return 1


def remove(state: Path, names: list[str]) -> int:
    if DAEMON_JSON.exists():
        cfg = _read()
        runtimes = cfg.get("runtimes", {})
        for name in names:
            runtimes.pop(name, None)
        if not runtimes:
            cfg.pop("runtimes", None)
        if not cfg and (state / NO_DAEMON_JSON).exists():
            DAEMON_JSON.unlink()
        else:
            _write(cfg)
    _reload()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("add", "remove"):
        print("usage: runtimes.py add STATE_DIR NAME=PATH... | remove STATE_DIR NAME...", file=sys.stderr)
        return 2
    action, state, rest = argv[0], Path(argv[1]), argv[2:]
    try:
        return add(state, rest) if action == "add" else remove(state, rest)
    except json.JSONDecodeError as exc:
        print(f"runtimes.py: {DAEMON_JSON} is not valid JSON ({exc}): mend it, then run again", file=sys.stderr)
    except subprocess.TimeoutExpired:
        print("runtimes.py: dockerd did not answer `docker info` within 10 s: check the engine", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
