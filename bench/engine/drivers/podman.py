"""Podman's Docker-compatible API service as an engine kind.

isobench runs the service itself: on endpoint "local", one ``podman system service --time=0
unix:///PATH`` per OCI runtime, each with its own store under STATE_DIR (Podman 4.3's compat API
ignores a container's HostConfig.Runtime, so the runtime is the service's default: ``--runtime``).
The services are started at preflight (untimed) and stopped on every exit path: ``close()`` (the
command's end, see bench.cli), an ``atexit`` hook, and the kernel's parent-death signal, which
ends a service even when isobench itself is killed with SIGKILL.

Set-up the service reads, written by isobench (nothing global is edited):
- ``containers.conf`` (CONTAINERS_CONF): runc and runsc as runtimes, cgroupfs, file events, and
  ``exit_command_delay`` short so an exec session's conmon does not linger 5 minutes after the run;
- runsc behind a two-line wrapper that adds ``--network=none`` (gVisor cannot set up its netstack
  in this sandbox; dockerd's daemon.json gives runsc the same flag);
- crun is not offered: it fails on this machine's hybrid cgroups.
The container's rlimits come from the mode (the presets' ``ulimits``), within conmon's hard limits.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import docker

from bench.core import outcomes
from bench.core.config import Mode
from bench.core.errors import UserError
from bench.engine import classify, endpoints, image, memory, sweep
from bench.engine.classify import Rule
from bench.engine.drivers.base import DOCKER_API, Offer, Offers, Refusal
from bench.engine.drivers.docker import engine_record
from bench.engine.endpoints import Endpoint
from bench.engine.events import EventCollector

if TYPE_CHECKING:
    from bench.engine.control.restart import EngineControl

STATE_DIR = Path("/var/lib/isobench/podman")  # stores (images, containers) kept between runs
RUN_DIR = Path("/run/isobench/podman")  # sockets and run state: gone with the service
RUNTIMES = ("runc", "runsc")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1

OFFERS = Offers(
    events=Offer(True, "GET /events filtered by the run's label: create, start, die, remove (kept as destroy)"),
    memory=Offer(True, "PSS of each container's conmon (-c CID) and its descendants, /proc smaps_rollup"),
    cold_restart=Offer(
        True, "isobench's own service: SIGTERM, then started again on the same socket and store (images survive)"
    ),
    runtime_per_container=Offer(
        False, "the compat API ignores HostConfig.Runtime: one service per runtime, checked by /info DefaultRuntime"
    ),
    isolation=Offer(False, "the compat API ignores HostConfig.Isolation (Linux has only the default)"),
    services=Offer(False, "no swarm: the service scenario cannot run on Podman"),
)

# What Podman answers differently from dockerd, checked before the shared rules (bench.engine.classify).
RULES: tuple[Rule, ...] = (
    Rule(
        r"error setting rlimit",
        outcomes.RUNTIME_ERROR,
        "the container's rlimits are above the hard limits conmon runs under: set the mode's ulimits "
        "(the podman presets send nofile 20000 and nproc 32768)",
    ),
    Rule(
        r"container state improper",
        outcomes.STATE_CONFLICT,
        "Podman refused the call in the container's present state (it was stopping or already exited): "
        "it is retried by the cleanup",
    ),
    Rule(
        r"image not known",
        outcomes.IMAGE_NOT_FOUND,
        "the image is not in Podman's store: the run loads isobench's test image itself; pull any other",
    ),
    Rule(r"no such container", outcomes.NOT_FOUND, "the container is gone (removed by Podman's own cleanup)"),
    Rule(
        r"crun",
        outcomes.RUNTIME_ERROR,
        "crun fails on this machine's hybrid cgroups: use the podman-runc or podman-runsc modes",
    ),
    Rule(
        r"not implemented|is not supported|unsupported",
        outcomes.API_UNSUPPORTED,
        "Podman's compat API does not implement this call or option: leave it out of the mode",
    ),
)


def _die_with_parent() -> None:
    """In the service's child before exec: SIGTERM when isobench's thread that started it ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


_SPAWNER: list[ThreadPoolExecutor] = []
_SPAWNER_LOCK = threading.Lock()


def _spawn(argv: list[str], **kwargs: Any) -> "subprocess.Popen[bytes]":
    """Popen from one thread that lives as long as isobench: the parent-death signal fires when the
    *thread* that forked the service ends, and a cold round restarts it from a short-lived worker."""
    with _SPAWNER_LOCK:
        if not _SPAWNER:
            _SPAWNER.append(ThreadPoolExecutor(1, thread_name_prefix="isobench-podman-spawner"))
        pool = _SPAWNER[0]

    def popen() -> "subprocess.Popen[bytes]":
        return subprocess.Popen(argv, preexec_fn=_die_with_parent, **kwargs)

    return pool.submit(popen).result()


def _conf(runtime_paths: dict[str, str], state: Path) -> str:
    runtimes = "\n".join(f'{name} = ["{path}"]' for name, path in runtime_paths.items())
    return (
        "# written by isobench (bench.engine.drivers.podman) for the services it runs\n"
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'tmp_dir = "{state}/tmp"\n'
        "# an exec session's conmon waits this long for the API before it exits (default 300 s)\n"
        "exit_command_delay = 2\n"
        f"[engine.runtimes]\n{runtimes}\n"
    )


def runtime_paths(state: Path) -> dict[str, str]:
    """runc as installed; runsc behind a wrapper that adds --network=none (written here, untimed)."""
    runc, runsc = shutil.which("runc"), shutil.which("runsc")
    out: dict[str, str] = {}
    if runc:
        out["runc"] = runc
    if runsc:
        wrapper = state / "runsc-network-none"
        text = f'#!/bin/sh\n# isobench: gVisor, no netstack\nexec {runsc} --network=none "$@"\n'
        if not wrapper.exists() or wrapper.read_text() != text:
            wrapper.write_text(text)
            wrapper.chmod(0o755)
        out["runsc"] = str(wrapper)
    return out


class PodmanService:
    """One ``podman system service`` on its own socket, for one runtime, with its own store."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.state = STATE_DIR / runtime
        self.run = RUN_DIR / runtime
        self.socket = self.run / f"api-{os.getpid()}.sock"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.argv: list[str] = []

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        podman = shutil.which("podman")
        if podman is None:
            raise UserError(
                "podman is not installed: run 'make engine ARGS=\"--mode podman-runc\"' or apt-get install podman."
            )
        for d in (self.state / "tmp", self.run):
            d.mkdir(parents=True, exist_ok=True)
        paths = runtime_paths(self.state)
        if self.runtime not in paths:
            raise UserError(
                f"the {self.runtime} runtime is not installed: Podman cannot run mode runtime {self.runtime!r}."
            )
        conf = self.state / "containers.conf"
        conf.write_text(_conf(paths, self.state))
        self.socket.unlink(missing_ok=True)
        self.argv = [podman, "--root", str(self.state / "root"), "--runroot", str(self.run / "runroot"),
                     "--runtime", self.runtime, "system", "service", "--time=0", self.url]  # fmt: skip
        log = open(self.state / "service.log", "ab")
        try:
            self.proc = _spawn(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={**os.environ, "CONTAINERS_CONF": str(conf)},
            )  # fmt: skip
        finally:
            log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = (self.state / "service.log").read_text(errors="replace").strip().splitlines()[-1:]
                self.stop()
                raise UserError(f"the Podman service for {self.runtime} exited at once: {' '.join(tail)}.")
            if self.socket.exists() and _pings(self.url):
                return
            time.sleep(0.05)
        self.stop()
        raise UserError(f"the Podman service for {self.runtime} did not answer within {timeout:g} s on {self.url}.")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; the socket goes too. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.socket.unlink(missing_ok=True)

    def record(self) -> dict[str, Any]:
        return {"pid": self.proc.pid if self.proc else None, "socket": str(self.socket), "runtime": self.runtime,
                "store": str(self.state / "root"), "argv": self.argv,
                "containers_conf": str(self.state / "containers.conf")}  # fmt: skip


class ServiceControl:
    """Cold rounds on isobench's own service for a runtime: stopped as at the run's end, then started
    again on the same socket with the same store; ``start`` returns once the service answers."""

    kind = "podman-service"

    def __init__(self, service: PodmanService) -> None:
        self.service = service

    def stop(self) -> None:
        self.service.stop()

    def start(self) -> Optional[Endpoint]:
        self.service.start()
        return None  # the same socket

    def after_start(self, client: docker.APIClient, image: str) -> dict[str, Any]:
        return {}  # the store survives the restart, and with it the test image

    def record(self) -> dict[str, Any]:
        return {"control": self.kind, "argv": self.service.argv, "socket": str(self.service.socket)}


def _pings(url: str) -> bool:
    try:
        client = docker.APIClient(base_url=url, version="auto", timeout=2)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


class PodmanDriver:
    kind = "podman"
    api = DOCKER_API
    offers = OFFERS
    # The compat attach initializes a created container (conmon and the runtime's create) "for Docker
    # compatibility" (pkg/api/handlers/compat/containers_attach.go), so its start does only the runtime's start.
    attach_inits = True

    def __init__(self) -> None:
        self.services: dict[str, PodmanService] = {}
        self._lock = threading.Lock()
        self._hooked = False

    def endpoint(self, mode: Mode) -> Endpoint:
        """endpoint "local": isobench's own service for the mode's runtime; any other: a user's service."""
        if mode.endpoint != "local":
            return endpoints.resolve(mode.endpoint_settings)
        runtime = mode.runtime or "runc"
        with self._lock:
            service = self.services.get(runtime)
            if service is None or service.proc is None or service.proc.poll() is not None:
                if not self._hooked:
                    atexit.register(self.close)
                    self._hooked = True
                service = PodmanService(runtime)
                service.start()
                self.services[runtime] = service
        return Endpoint(service.url, "unix", via=f"podman system service (isobench, --runtime {runtime})",
                        host_alias="127.0.0.1")  # fmt: skip

    def engine_record(self, version: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        rec = {"kind": self.kind, **engine_record(version, info)}
        by_socket = {s.url: s.record() for s in self.services.values()}
        rec["services"] = by_socket  # the services isobench runs: pid, socket, store, argv
        return rec

    def check_mode(self, mode: Mode, info: dict[str, Any]) -> Optional[Refusal]:
        default = info.get("DefaultRuntime")
        if mode.runtime and mode.runtime != default:
            return Refusal(
                outcomes.RUNTIME_UNKNOWN,
                f"mode {mode.name!r}: Podman's compat API ignores a container's runtime, and this service runs "
                f"{default!r}, not {mode.runtime!r}: use endpoint local (isobench starts one service per runtime), "
                f"or start the service with --runtime {mode.runtime}.",
            )
        return None

    def ensure_image(self, client: docker.APIClient, ref: str) -> None:
        """isobench's own store: the test image is imported there by the same reproducible recipe."""
        if ref.startswith("isobench/"):
            image.ensure_image(client, ref)

    def events(self, client_factory: Callable[[], docker.APIClient], label: str) -> EventCollector:
        return EventCollector(client_factory, label).start()

    def runtime_memory(self, cids: list[str]) -> dict[str, Any]:
        return memory.runtime_pss(cids)

    def control(self, mode: Mode, endpoint: Endpoint) -> tuple[Optional["EngineControl"], str]:
        """isobench's own service is restarted by isobench; a user's service through the mode's own
        engine_stop_cmd/engine_start_cmd (bench.engine.control.restart says so in one sentence)."""
        from bench.engine.control.restart import control_for

        service = self.services.get(mode.runtime or "runc")
        if mode.endpoint == "local" and service is not None and not (mode.engine_stop_cmd and mode.engine_start_cmd):
            return ServiceControl(service), ""
        return control_for(mode, endpoint)

    def sweep(
        self, client: docker.APIClient, run_id: Optional[str], timeout: float, keep_runs: frozenset[str]
    ) -> tuple[int, list[str]]:
        return sweep.sweep(client, run_id, timeout=timeout, keep_runs=keep_runs)

    def classify(self, exc: BaseException) -> tuple[str, str]:
        return classify.classify(exc, RULES + classify.RULES)

    def advice(self, category: str) -> Optional[str]:
        return next((r.advice for r in RULES if r.category == category), None) or classify.advice_for(category)

    def close(self) -> None:
        """Stops every service this process started (their containers were swept by the run)."""
        with self._lock:
            services, self.services = list(self.services.values()), {}
        for service in services:
            service.stop()
