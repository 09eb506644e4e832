"""Finding, stopping and reaping the processes of a node, and removing its cgroups.

A node's processes are found four ways, so that a dockerd killed -9 mid-`up` still leaves
nothing behind: its dockerd by pid file (checked against its command line), anything in its
network namespace (dockerd, its containerd, the shims), anything in its private mount namespace,
and anything in its cgroup parent (the containers: they have namespaces of their own). The
host's dockerd (/var/run/docker.pid), this process and its parent are never candidates.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable, Optional

from bench.engine.swarm import layout, netns
from bench.engine.swarm.layout import NodeSpec

HOST_PIDFILE = Path("/var/run/docker.pid")
# Executables a node starts; a command line naming the state dir counts only for these, so a
# shell that merely tails a node's log is never killed.
NODE_BINARIES = {
    "dockerd",
    "containerd",
    "containerd-shim",
    "containerd-shim-runc-v2",
    "runc",
    "runsc",
    "docker-init",
    "docker-proxy",
}


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie has exited: dead for our purposes (wait_gone and reap collect our own)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def is_node_dockerd(pid: int, spec: NodeSpec) -> bool:
    argv = _argv(pid)
    return bool(argv) and os.path.basename(argv[0]) == "dockerd" and str(spec.config) in argv


def dockerd_pid(spec: NodeSpec) -> Optional[int]:
    """The node's dockerd if it runs: by its pid file, else by its command line (the pid file is
    written a little after start, and is gone after a crash)."""
    try:
        pid = int(spec.pidfile.read_text().strip())
        if is_node_dockerd(pid, spec) and alive(pid):
            return pid
    except (OSError, ValueError):
        pass
    for pid in _all_pids():
        if is_node_dockerd(pid, spec) and alive(pid):
            return pid
    return None


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def mount_ns(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def cgroup_dirs(spec: NodeSpec) -> list[Path]:
    """The node's cgroup parent in every mounted hierarchy (cgroup v1 has one per controller)."""
    dirs = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] in (["cgroup"], ["cgroup2"]):
            d = Path(left.split()[4]) / spec.cgroup_parent
            if d.is_dir():
                dirs.append(d)
    return dirs


def cgroup_pids(spec: NodeSpec) -> set[int]:
    found: set[int] = set()
    for top in cgroup_dirs(spec):
        for procs in top.rglob("cgroup.procs"):
            try:
                found |= {int(p) for p in procs.read_text().split()}
            except (OSError, ValueError):
                continue
    return found


def _protected() -> set[int]:
    keep = {os.getpid(), os.getppid(), 1}
    try:
        keep.add(int(HOST_PIDFILE.read_text().strip()))
    except (OSError, ValueError):
        pass
    return keep


def node_pids(spec: NodeSpec, mnt: Optional[str] = None) -> set[int]:
    """Every live process that belongs to the node (see the module docstring)."""
    found = cgroup_pids(spec)
    if (netns.NETNS_DIR / spec.netns).exists():
        found |= set(netns.pids(spec.netns))
    state = str(spec.dir)
    for pid in _all_pids():
        argv = _argv(pid)
        if argv and os.path.basename(argv[0]) in NODE_BINARIES and any(state in a for a in argv):
            found.add(pid)
        elif mnt is not None and mount_ns(pid) == mnt:
            found.add(pid)
    return {p for p in found - _protected() if alive(p)}


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def wait_gone(pids: Iterable[int], timeout: float) -> set[int]:
    """Waits until none of ``pids`` is alive (reaping those that are our children); returns those left."""
    left, deadline = set(pids), time.monotonic() + timeout
    while left:
        for pid in list(left):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not alive(pid):
                left.discard(pid)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return left


def remove_cgroups(spec: NodeSpec, wait_s: float = 5.0) -> list[str]:
    """Removes the node's (empty) cgroup trees, deepest first; returns the directories that stayed.
    A cgroup whose last task is still exiting refuses rmdir (EBUSY) for a moment after the process
    is gone (seen here on cgroup v1 after a task container was killed): tried again for ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        stayed = []
        for top in cgroup_dirs(spec):
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    stayed.append(str(d))
        if not stayed or time.monotonic() > deadline:
            return stayed
        time.sleep(0.1)


def reap(pids: Iterable[int]) -> None:
    """Collects the exit status of exited children (daemons this process started), so none stays a zombie."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def all_nodes_pids(mnts: dict[str, Optional[str]]) -> dict[str, set[int]]:
    return {s.name: node_pids(s, mnts.get(s.name)) for s in layout.NODES}
