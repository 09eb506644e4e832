"""CPU accounting of the engine stack and of containers, from the kernel's cgroups (Linux).

A cgroup's CPU counter includes every process that ever ran in it, however short-lived: a
`runc create` that lived 20 ms is counted, which sampling /proc could miss. So the engine stack
(dockerd, containerd, the shims, the runtime's create/start processes: all forked below dockerd,
and a child starts in its parent's cgroup) is accounted as the cgroup it lives in:

- a dockerd that `scripts/setup-engine.sh` started runs in ``isobench-engine`` from its first
  instruction (the script writes its shell's pid into the cgroup before exec'ing dockerd);
- a dockerd already running in the root cgroup is moved there at the start of a run, with
  containerd and every process below them that is still in dockerd's cgroup (containers are in
  their own cgroups and stay there). Moving is reversible (write the pids to the root's
  cgroup.procs) and changes nothing but accounting: the cpuacct hierarchy has no limits;
- a dockerd that systemd (or anything else) already put in a cgroup of its own is read there.

``isobench-engine`` is the engine's home: it is left in place after a run (it holds dockerd).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union
from urllib.parse import unquote

PROC = Path("/proc")
MOUNTINFO = PROC / "self" / "mountinfo"
HOME = "isobench-engine"
# /proc/net/unix: a listening socket carries __SO_ACCEPTCON in its flags
_ACCEPTCON = 0x10000


@dataclass(frozen=True)
class Hierarchy:
    """Where CPU is counted: a cgroup v1 cpuacct mount, or the v2 unified hierarchy."""

    root: Path
    v2: bool

    def usage_ns(self, cgroup: str) -> Optional[int]:
        """The cgroup's CPU time (user + system, ns) so far; None when it is gone or unreadable."""
        d = self.root / cgroup.lstrip("/")
        try:
            if not self.v2:
                return int((d / "cpuacct.usage").read_text())
            for line in (d / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
        except (OSError, ValueError):
            pass
        return None

    def describe(self) -> str:
        return f"cgroup v2 cpu.stat usage_usec ({self.root})" if self.v2 else f"cgroup v1 cpuacct.usage ({self.root})"


def hierarchy(mountinfo: Path = MOUNTINFO) -> Union[Hierarchy, str]:
    """The cpuacct (v1) or unified (v2) hierarchy's mount, or why there is none."""
    unified = None
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError as exc:
        return f"{mountinfo} cannot be read ({exc.strerror})"
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        if rest[0] == "cgroup" and "cpuacct" in rest[2].split(","):
            return Hierarchy(Path(fields[4]), v2=False)
        if rest[0] == "cgroup2":
            unified = Path(fields[4])
    if unified is not None:
        return Hierarchy(unified, v2=True)
    return "no cpuacct (cgroup v1) or unified (cgroup v2) hierarchy is mounted"


def cgroup_of(pid: int, h: Hierarchy) -> Optional[str]:
    """The process's cgroup in ``h`` ("/" for the root), or None when it is gone."""
    try:
        text = (PROC / str(pid) / "cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if (h.v2 and controllers == "") or (not h.v2 and "cpuacct" in controllers.split(",")):
            return path
    return None


def children(ppids: dict[int, int], roots: Iterable[int]) -> list[int]:
    """``roots`` and every process below them, from a pid -> parent pid map."""
    below: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        below.setdefault(ppid, []).append(pid)
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(below.get(pid, ()))
    return out


def parent_map() -> dict[int, int]:
    """Every process's parent pid (processes that vanish while read are left out)."""
    out = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        out[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return out


def socket_path(base_url: str) -> Optional[str]:
    """The filesystem path of a unix:// (or docker-py's http+unix://) endpoint."""
    for prefix in ("unix://", "http+unix://"):
        if base_url.startswith(prefix):
            return unquote(base_url[len(prefix) :])
    return None


def listening_pid(path: str) -> Optional[int]:
    """The process listening on a unix socket (its inode in /proc/net/unix, then whose fd it is)."""
    inodes = set()
    try:
        for line in (PROC / "net" / "unix").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & _ACCEPTCON:
                inodes.add(f"socket:[{parts[6]}]")
    except (OSError, ValueError):
        return None
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or not inodes:
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class EngineHome:
    """The cgroup(s) whose CPU counter is the engine stack's."""

    h: Hierarchy
    cgroups: tuple[str, ...]
    method: str
    moved: tuple[int, ...] = ()

    def usage_ns(self) -> Optional[int]:
        values = [self.h.usage_ns(c) for c in self.cgroups]
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    def record(self) -> dict[str, object]:
        return {"method": self.method, "counter": self.h.describe(), "cgroups": list(self.cgroups),
                "moved_pids": list(self.moved)}  # fmt: skip


def place_engine(dockerd: int, h: Hierarchy) -> Union[EngineHome, str]:
    """The engine stack's cgroup, moving a dockerd that runs in the root cgroup (and containerd and
    everything below them that shares its cgroup) into ``isobench-engine`` first. Or why not."""
    where = cgroup_of(dockerd, h)
    if where is None:
        return f"dockerd (pid {dockerd}) is gone"
    if where.rstrip("/").endswith(HOME):
        return EngineHome(
            h, (where,), f"isobench's engine cgroup {where} (setup-engine.sh or an earlier run put dockerd there)"
        )
    stack = [p for p in children(parent_map(), [dockerd]) if cgroup_of(p, h) == where]
    if where != "/":  # systemd's docker.service, or an operator's own: read it where it is
        return EngineHome(h, (where,), f"dockerd's own cgroup ({where}): the engine service's")
    target = h.root / HOME
    try:
        target.mkdir(exist_ok=True)
        moved = []
        for pid in stack:
            try:
                (target / "cgroup.procs").write_text(str(pid))
                moved.append(pid)
            except ProcessLookupError:
                continue  # a short-lived child that ended meanwhile
    except OSError as exc:
        return f"dockerd runs in the root cgroup and cannot be moved into {target} ({exc.strerror}): run as root"
    return EngineHome(h, ("/" + HOME,), f"dockerd, containerd and their children moved into /{HOME}", tuple(moved))


def container_cgroup(h: Hierarchy, cid: str) -> Optional[str]:
    """A container's cgroup: cgroupfs' /docker/<id>, or systemd's docker-<id>.scope (None if neither)."""
    for candidate in (f"/docker/{cid}", f"/system.slice/docker-{cid}.scope"):
        if (h.root / candidate.lstrip("/")).is_dir():
            return candidate
    return None


def proc_cpu_ns(pid: int) -> Optional[int]:
    """A long-lived process's CPU so far (utime + stime from /proc/<pid>/stat, including its ended
    threads), at the clock tick's resolution; None when it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
        ticks = int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
