"""Built-in modes per host OS.

A mode in the config may name one with ``preset = "..."`` and override any
field; a config with no modes at all gets the host's presets.
"""

from __future__ import annotations

import platform
from typing import Any

# Busybox sh as PID 1 ignores SIGTERM unless it installs a handler, so the
# command traps TERM and exits: `stop` then measures a real stop, not the
# grace period. `sleep & wait` keeps the shell responsive to the trap.
LINUX_COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 1 & wait $!; done"]
LINUX_EXEC = ["/bin/true"]
# The `run` cycle shape's command: the ready line, then exit (as `docker run --rm IMAGE CMD` runs it).
LINUX_RUN = ["/bin/sh", "-c", "echo ready"]
LINUX_IMAGE = "isobench/busybox:latest"

# nanoserver has cmd.exe; `ping -t` keeps the container alive. Stop on Windows
# sends CTRL_SHUTDOWN to the container, which ends cmd and ping.
WINDOWS_COMMAND = ["cmd", "/S", "/C", "echo ready && ping -t 127.0.0.1 > nul"]
WINDOWS_EXEC = ["cmd", "/C", "exit 0"]
# The image is picked by host build at preflight (see bench.engine.windows); this is
# a placeholder the preflight replaces when the mode does not set an image.
WINDOWS_IMAGE = "mcr.microsoft.com/windows/nanoserver:auto"

_LINUX: dict[str, dict[str, Any]] = {
    "runc": {"role": "native", "runtime": "runc", "isolation": "default"},
    # gVisor: a user-space kernel per sandbox, the Linux counterpart of Hyper-V isolation.
    "runsc": {"role": "hyperv", "runtime": "runsc", "isolation": "default"},
    # An engine inside a qemu VM over tcp+TLS (bench.engine.control.vm): what Docker Toolbox is.
    "vm-engine": {
        "role": "toolbox",
        "endpoint": "vm",
        "isolation": "default",
        "tls_max_version": "1.2",
        "timeouts": {"create": 120, "start": 180, "ready": 120, "exec": 120, "stop": 120, "remove": 120, "ping": 30},
    },
}
_LINUX_COMMON: dict[str, Any] = {
    "image": LINUX_IMAGE,
    "command": LINUX_COMMAND,
    "exec": LINUX_EXEC,
    "run_command": LINUX_RUN,
    "stop_grace_s": 5,
}

_WINDOWS: dict[str, dict[str, Any]] = {
    "process": {"role": "native", "isolation": "process"},
    "hyperv": {"role": "hyperv", "isolation": "hyperv"},
}
_WINDOWS_COMMON: dict[str, Any] = {
    "image": WINDOWS_IMAGE,
    "command": WINDOWS_COMMAND,
    "exec": WINDOWS_EXEC,
    "run_command": ["cmd", "/S", "/C", "echo ready"],
    "stop_grace_s": 10,
    # Windows engines refuse a read-only root filesystem.
    "read_only": False,
    # Hyper-V starts take seconds: a utility VM boots per container.
    "timeouts": {"create": 120, "start": 180, "ready": 120, "exec": 60, "stop": 60, "remove": 120},
}


# The service scenario (issue #13), taken only when named (--mode swarm-runc), never by default.
# On the local swarm (endpoint "swarm": `isobench swarm up`) the runtime belongs to the node, so
# placement picks it by the node label the harness sets.
_LINUX_SWARM: dict[str, dict[str, Any]] = {
    "swarm-runc": {
        "role": "native",
        "endpoint": "swarm",
        "swarm": True,
        "placement": ["node.labels.isobench.runtime==runc"],
    },
    "swarm-runsc": {
        "role": "hyperv",
        "endpoint": "swarm",
        "swarm": True,
        "placement": ["node.labels.isobench.runtime==runsc"],
    },
}
# A Windows Server 2016+ cluster: isolation is per service, placement by OS (point endpoint at the
# manager, with its TLS settings, and list the nodes' engines in node_endpoints).
_WINDOWS_SWARM: dict[str, dict[str, Any]] = {
    "swarm-process": {
        "role": "native",
        "swarm": True,
        "isolation": "process",
        "placement": ["node.platform.os==windows"],
    },
    "swarm-hyperv": {
        "role": "hyperv",
        "swarm": True,
        "isolation": "hyperv",
        "placement": ["node.platform.os==windows"],
    },
}


# Podman's Docker-compatible API service (bench.engine.drivers.podman), taken only when named: isobench
# starts one service per OCI runtime on its own unix socket (Podman 4.3's compat API ignores a
# container's HostConfig.Runtime, so the runtime is the service's default). The ulimits keep the
# container within the hard limits conmon runs under here (nofile 20000, nproc 32768): Podman's own
# defaults are above them, and runc then fails with "error setting rlimit". Each has its own role, so
# the claims' role rankings stay the Docker modes' and the report ranks the Podman modes by name.
PODMAN_ULIMITS: dict[str, tuple[int, int]] = {"nofile": (20000, 20000), "nproc": (32768, 32768)}
_LINUX_PODMAN: dict[str, dict[str, Any]] = {
    "podman-runc": {"role": "podman-native", "engine": "podman", "runtime": "runc", "ulimits": PODMAN_ULIMITS},
    "podman-runsc": {"role": "podman-gvisor", "engine": "podman", "runtime": "runsc", "ulimits": PODMAN_ULIMITS},
}


def on_request() -> dict[str, dict[str, Any]]:
    """Presets a run uses only when named: the swarm service modes and the Podman modes."""
    linux = {
        name: {"name": name, **_LINUX_COMMON, **fields} for name, fields in {**_LINUX_SWARM, **_LINUX_PODMAN}.items()
    }
    windows = {name: {"name": name, **_WINDOWS_COMMON, **fields} for name, fields in _WINDOWS_SWARM.items()}
    return {**linux, **windows}


def host_os() -> str:
    return "windows" if platform.system() == "Windows" else "linux"


def presets_for(os_name: str) -> dict[str, dict[str, Any]]:
    """Preset name -> full mode fields for that OS."""
    table, common = (_WINDOWS, _WINDOWS_COMMON) if os_name == "windows" else (_LINUX, _LINUX_COMMON)
    return {name: {"name": name, **common, **fields} for name, fields in table.items()}


def all_presets() -> dict[str, dict[str, Any]]:
    """Every preset, whatever the host: a Linux host may point a mode at a Windows engine."""
    return {**presets_for("linux"), **presets_for("windows"), **on_request()}
