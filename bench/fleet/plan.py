"""The fleet's plan: which hosts run the benchmark, which modes each runs, and which are left out and why.

A host is a swarm node as the manager lists it (hostname, OS, engine, state, availability), with what
its own engine says when it can be reached from here (the local swarm: every node's socket; a real
swarm: none, and then the task's own preflight speaks). Every host left out gets one sentence and the
others go on: a name nobody knows, a node down or drained, a mode whose runtime the node lacks, a
Windows node whose build the harness image does not match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from bench.engine import windows

LINUX_SOCKET = "/var/run/docker.sock"
# The modes a default fleet run asks for: runc everywhere, runsc where the node has it (as the presets do).
OPTIONAL_MODES = ("runc", "runsc")
# Windows Server 2016 (build 14393) rejects named-pipe mounts; 1709 (16299) was the first to take them.
FIRST_NPIPE_BUILD = 16299


@dataclass(frozen=True)
class Host:
    """One node as the fleet sees it."""

    name: str  # the node's hostname: its results/<name>/ folder, as a local run there would file it
    node_id: str
    os: str  # "linux" or "windows"
    state: str  # swarm's node state: ready, down, unknown, disconnected
    availability: str  # active, pause, drain
    engine_version: str
    endpoint: Optional[str] = None  # the node's engine as reachable from here (None: only through the swarm)
    socket: str = LINUX_SOCKET  # the node's engine socket on the node itself (the task's bind mount)
    runtimes: Optional[tuple[str, ...]] = None  # None: not known from here
    build: Optional[int] = None  # Windows: the host's OS build

    @property
    def transport(self) -> str:
        """How the task reaches its own node's engine."""
        if self.os != "windows":
            return "unix-socket"
        return "npipe" if self.build is None or self.build >= FIRST_NPIPE_BUILD else "tcp-tls"


@dataclass(frozen=True)
class Skipped:
    host: str
    reason: str  # one sentence


@dataclass(frozen=True)
class Plan:
    hosts: tuple[Host, ...]
    modes: dict[str, tuple[str, ...]]  # host -> the modes its run gets (empty: the run's own presets)
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)


def host_of(node: dict[str, Any]) -> Host:
    desc = node.get("Description") or {}
    return Host(
        name=str(desc.get("Hostname") or node["ID"]),
        node_id=str(node["ID"]),
        os=str((desc.get("Platform") or {}).get("OS") or "linux").lower(),
        state=str((node.get("Status") or {}).get("State") or "unknown"),
        availability=str((node.get("Spec") or {}).get("Availability") or "active"),
        engine_version=str((desc.get("Engine") or {}).get("EngineVersion") or ""),
    )


def with_engine_facts(host: Host, info: dict[str, Any], endpoint: str, socket: str) -> Host:
    """The host completed by its own engine's GET /info."""
    from dataclasses import replace

    build = windows.build_of(info) if host.os == "windows" else None
    return replace(
        host, endpoint=endpoint, socket=socket, runtimes=tuple(sorted(info.get("Runtimes") or {})), build=build
    )


def _runtime_of(mode: str, runtimes_by_mode: dict[str, Optional[str]]) -> str:
    return runtimes_by_mode.get(mode) or mode


def choose(
    hosts: list[Host],
    wanted_hosts: tuple[str, ...] = (),
    modes: tuple[str, ...] = (),
    runtimes_by_mode: Optional[dict[str, Optional[str]]] = None,
    windows_image_build: Optional[int] = None,
) -> Plan:
    """The plan: ``wanted_hosts`` (all when empty) that can run; ``modes`` asked for explicitly must
    each be there (the node is left out otherwise), with none asked for each node runs the default modes
    its engine has. ``windows_image_build``: the build the Windows harness image was made for."""
    runtimes_by_mode = runtimes_by_mode or {}
    known = {h.name: h for h in hosts}
    skipped = [
        Skipped(name, f"the fleet has no host named {name!r} (the swarm's nodes are {', '.join(sorted(known))}).")
        for name in wanted_hosts
        if name not in known
    ]
    chosen, plan_modes = [], {}
    for host in hosts:
        if wanted_hosts and host.name not in wanted_hosts:
            continue
        reason = _unfit(host, modes, runtimes_by_mode, windows_image_build)
        if reason:
            skipped.append(Skipped(host.name, reason))
            continue
        chosen.append(host)
        plan_modes[host.name] = modes or _default_modes(host, runtimes_by_mode)
    return Plan(tuple(chosen), plan_modes, tuple(skipped))


def _default_modes(host: Host, runtimes_by_mode: dict[str, Optional[str]]) -> tuple[str, ...]:
    if host.os == "windows" or host.runtimes is None:
        return ()  # the run's presets choose, as a local run there would
    return tuple(m for m in OPTIONAL_MODES if _runtime_of(m, runtimes_by_mode) in host.runtimes)


def _unfit(
    host: Host, modes: tuple[str, ...], runtimes_by_mode: dict[str, Optional[str]], image_build: Optional[int]
) -> Optional[str]:
    if host.state != "ready":
        return (
            f"node {host.name} is {host.state}, so its benchmark was not started; bring it back and run the "
            f"fleet again with --host {host.name}."
        )
    if host.availability != "active":
        return (
            f"node {host.name} has availability {host.availability}, so no task can be placed on it; set it "
            "active to include it."
        )
    if host.os == "linux" and host.runtimes is not None:
        missing = [m for m in modes if _runtime_of(m, runtimes_by_mode) not in host.runtimes]
        if missing:
            m = missing[0]
            return (
                f"node {host.name} has no {_runtime_of(m, runtimes_by_mode)} runtime, which mode {m} needs "
                f"(its engine has {', '.join(host.runtimes)}): register it there or leave --mode {m} out."
            )
    if host.os == "windows" and image_build is not None and host.build is not None and host.build != image_build:
        return (
            f"node {host.name} runs Windows build {host.build} but the harness image was built for {image_build}, "
            f"and a process-isolated task must match its host's build: build the harness image for "
            f"nanoserver:{windows.tag_for_build(host.build)} (see docs/fleet.md)."
        )
    return None
