"""Stopping and starting an engine, for the `cold` scenario.

One control per kind of engine, chosen from the mode's endpoint unless the
mode names its own commands (``engine_stop_cmd`` / ``engine_start_cmd``):

- ``vm``: the VM-hosted engine (bench.engine.control.vm): powered off, then booted again from
  the same boot image and certificates, on the same port (what
  ``docker-machine stop`` / ``start`` does for Toolbox).
- ``machine:NAME``: ``docker-machine stop NAME`` / ``docker-machine start NAME``;
  the endpoint is resolved again afterwards (the VM's address may change).
- a local engine on Linux: ``systemctl stop/start docker`` where systemd runs
  it; otherwise the running dockerd is sent SIGTERM and started again with the
  same command line, environment and log file (as scripts/setup-engine.sh or
  a user started it).
- a local engine on Windows: ``Stop-Service docker`` / ``Start-Service docker``.
- anything else (a remote tcp:// or ssh:// engine) has no control unless the
  mode gives its commands: the cold scenario is skipped for it, with the reason.

``stop`` returns once the engine process is gone (or the command finished);
``start`` once the start command returned. Whether the engine answers is the
caller's business: it times the start from the command to the first /_ping.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional, Protocol

import docker

from bench.core.config import Mode
from bench.core.errors import UserError
from bench.engine.classify import EngineControlError
from bench.engine.control.vm import qemu as vm
from bench.engine.control.vm.state import load_state
from bench.engine.endpoints import Endpoint, resolve

# Our own dockerd children, by pid: a stopped child stays a zombie (its /proc entry
# lingers) until reaped, so the wait for "gone" must reap what we started.
_CHILDREN: dict[int, subprocess.Popen] = {}


class EngineControl(Protocol):
    kind: str

    def stop(self) -> None: ...

    def start(self) -> Optional[Endpoint]:
        """Starts the engine; returns its endpoint when that may have changed."""
        ...

    def after_start(self, client: docker.APIClient, image: str) -> dict[str, Any]:
        """Untimed set-up once the engine answers (e.g. reloading the test image into
        an engine whose storage did not survive the restart). Returns facts to record."""
        ...

    def record(self) -> dict[str, Any]: ...


def _run(argv: list[str], what: str, timeout: float) -> None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise EngineControlError(f"{what}: {argv[0]} is not on PATH") from None
    if out.returncode != 0:
        first = ((out.stderr or out.stdout).strip().splitlines() or ["no output"])[0]
        raise EngineControlError(f"{what}: {' '.join(argv)} exited with {out.returncode}: {first[:300]}")


class _NoSetup:
    def after_start(self, client: docker.APIClient, image: str) -> dict[str, Any]:
        return {}


class CommandControl(_NoSetup):
    """The mode's own commands (argv lists, run without a shell)."""

    kind = "command"

    def __init__(self, stop_cmd: tuple[str, ...], start_cmd: tuple[str, ...], timeout: float = 600.0) -> None:
        self.stop_cmd, self.start_cmd, self.timeout = list(stop_cmd), list(start_cmd), timeout

    def stop(self) -> None:
        _run(self.stop_cmd, "engine_stop_cmd", self.timeout)

    def start(self) -> Optional[Endpoint]:
        _run(self.start_cmd, "engine_start_cmd", self.timeout)
        return None

    def record(self) -> dict[str, Any]:
        return {"control": self.kind, "stop": self.stop_cmd, "start": self.start_cmd}


class SystemdControl(CommandControl):
    kind = "systemd"

    def __init__(self, unit: str = "docker") -> None:
        # docker.socket would start the service again on the next request.
        super().__init__(
            ("systemctl", "stop", f"{unit}.socket", f"{unit}.service"), ("systemctl", "start", f"{unit}.service")
        )


class WindowsServiceControl(CommandControl):
    kind = "windows-service"

    def __init__(self, service: str = "docker") -> None:
        ps = ("powershell", "-NoProfile", "-NonInteractive", "-Command")
        super().__init__(ps + (f"Stop-Service -Name {service} -Force",), ps + (f"Start-Service -Name {service}",))


class DockerMachineControl(_NoSetup):
    """Docker Toolbox: the boot2docker VM stopped and started by docker-machine."""

    kind = "docker-machine"

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.name = mode.endpoint[len("machine:") :]

    def stop(self) -> None:
        _run(["docker-machine", "stop", self.name], "docker-machine stop", 600)

    def start(self) -> Optional[Endpoint]:
        _run(["docker-machine", "start", self.name], "docker-machine start", 600)
        return resolve(self.mode.endpoint_settings)  # "Started machines may have new IP addresses"

    def record(self) -> dict[str, Any]:
        return {"control": self.kind, "machine": self.name}


class VmControl:
    """The VM-hosted engine of bench.engine.control.vm: power off, boot again from the same image.

    Its storage lives in the VM's memory (as a boot2docker VM without a disk
    would), so the test image is imported again after each boot: untimed, and
    recorded as ``image_load_ns``.
    """

    kind = "vm"

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._last: Any = None

    def stop(self) -> None:
        self._last = load_state() or self._last
        vm.power_off(say=lambda m: None)

    def start(self) -> Optional[Endpoint]:
        last = self._last
        try:
            vm.restart(port=last.port if last else None, accel=last.accel if last else None, say=lambda m: None)
        except UserError as exc:
            raise EngineControlError(str(exc)) from None
        # The same port where it was free again; resolved anew in case it was not.
        return resolve(self.mode.endpoint_settings)

    def after_start(self, client: docker.APIClient, image: str) -> dict[str, Any]:
        from bench.engine.image import ensure_image

        t0 = time.perf_counter_ns()
        _, built = ensure_image(client, image)
        return {"image_loaded": built, "image_load_ns": time.perf_counter_ns() - t0}

    def record(self) -> dict[str, Any]:
        state = load_state()
        return {
            "control": self.kind,
            "accel": state.accel if state else None,
            "storage": "in the VM's memory: the image is loaded again after each boot (untimed)",
        }


class LocalDockerdControl(_NoSetup):
    """A dockerd running on this host outside systemd: SIGTERM, then the same command again."""

    kind = "dockerd"

    def __init__(self, pid: int) -> None:
        self._argv, self._env, self._cwd, self._log = _process_launch(pid)

    def stop(self) -> None:
        pid = find_dockerd()
        if pid is None:
            return  # already down
        self._argv, self._env, self._cwd, self._log = _process_launch(pid)
        os.kill(pid, signal.SIGTERM)
        while not _gone(pid):
            time.sleep(0.05)

    def start(self) -> Optional[Endpoint]:
        log = open(self._log, "ab") if self._log else subprocess.DEVNULL
        try:
            # A new session: dockerd must outlive this run, and not get the terminal's Ctrl-C.
            proc = subprocess.Popen(
                self._argv,
                env=self._env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if not isinstance(log, int):  # an opened file, not subprocess.DEVNULL
                log.close()
        _CHILDREN[proc.pid] = proc
        return None

    def record(self) -> dict[str, Any]:
        return {"control": self.kind, "argv": self._argv, "log": self._log}


def find_dockerd() -> Optional[int]:
    """The local dockerd's pid, from its pid file or the process table."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
        if not _gone(pid) and _comm(pid) == "dockerd":
            return pid
    except (OSError, ValueError):
        pass
    for entry in Path("/proc").iterdir():
        if (
            entry.name.isdigit()
            and _comm(int(entry.name)) == "dockerd"
            and not _gone(int(entry.name))
            and not _has_own_pidfile(int(entry.name))
        ):
            return int(entry.name)
    return None


def _has_own_pidfile(pid: int) -> bool:
    """A dockerd started with its own --pidfile (a test engine, a swarm node) is not the host's engine."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a.startswith(b"--pidfile") or a == b"-p" for a in argv)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _gone(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        _CHILDREN.pop(pid, None)
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie has exited


def _process_launch(pid: int) -> tuple[list[str], dict[str, str], str, Optional[str]]:
    """How a running process was started: argv, environment, working directory, and the
    regular file its stdout goes to (its log), if any."""
    proc = Path(f"/proc/{pid}")
    argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
    env = dict(
        kv.decode(errors="replace").split("=", 1) for kv in (proc / "environ").read_bytes().split(b"\0") if b"=" in kv
    )
    cwd = os.readlink(proc / "cwd")
    if not Path(cwd).is_dir():
        # Its directory was removed since (Linux shows "<path> (deleted)"), e.g. the checkout that
        # started it. dockerd does not use its working directory, and starting it again there would fail.
        cwd = "/"
    out = os.readlink(proc / "fd" / "1") if (proc / "fd" / "1").exists() else ""
    log = out if out.startswith("/") and Path(out).is_file() else None
    return argv, env, cwd, log


def _systemd_runs_docker() -> bool:
    if not Path("/run/systemd/system").is_dir():
        return False
    return subprocess.run(["systemctl", "is-active", "--quiet", "docker.service"], check=False).returncode == 0


def control_for(mode: Mode, endpoint: Endpoint) -> tuple[Optional[EngineControl], str]:
    """The mode's engine control, or (None, why the cold scenario cannot run for it)."""
    if mode.engine_stop_cmd and mode.engine_start_cmd:
        return CommandControl(mode.engine_stop_cmd, mode.engine_start_cmd), ""
    how = "set engine_stop_cmd and engine_start_cmd to the commands that stop and start it"
    if mode.engine != "docker":  # never a dockerd control for another engine kind on the same host
        return None, f"isobench stops and starts only Docker engines by itself, and this is {mode.engine}: {how}"
    if mode.endpoint == "vm":
        return VmControl(mode), ""
    if mode.endpoint.startswith("machine:"):
        return DockerMachineControl(mode), ""
    if endpoint.scheme == "npipe" and platform.system() == "Windows" and mode.endpoint == "local":
        return WindowsServiceControl(), ""
    if endpoint.scheme == "unix" and platform.system() == "Linux":
        if _systemd_runs_docker():
            return SystemdControl(), ""
        pid = find_dockerd()
        if pid is None:
            return None, f"no dockerd process on this host serves {endpoint.base_url}: {how}"
        if not os.access(f"/proc/{pid}/environ", os.R_OK):
            return None, f"restarting the local dockerd (pid {pid}) needs root: run as root, or {how}"
        try:
            return LocalDockerdControl(pid), ""
        except OSError as exc:
            return None, f"cannot read how dockerd (pid {pid}) was started ({exc.strerror}): {how}"
    return None, f"isobench cannot stop and start the engine at {endpoint.base_url} by itself: {how}"
