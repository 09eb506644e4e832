"""What running containers cost in memory, from the host's side (the density scenario).

- The host's available memory: ``MemAvailable`` from /proc/meminfo on Linux,
  ``GlobalMemoryStatusEx().ullAvailPhys`` on Windows. Its drop per container counts everything
  a container costs the host (page cache, kernel objects, the engine's own bookkeeping).
- The PSS (proportional set size: shared pages split among their users, so summing over
  processes never counts a page twice) of the runtime's processes, from
  /proc/<pid>/smaps_rollup: for each container the containerd shim (found by the ``-id <container
  id>`` on its command line) and everything below it: for runc the container's own processes, for
  gVisor runsc-sandbox (the sandboxed kernel, with the container's processes inside it) and
  runsc-gofer; for the VM engine the qemu process that holds every container of the VM.
- On Windows, Hyper-V isolation boots a utility VM per container, its memory committed up
  front (at least 512 MB on Windows Server 2016): the facts recorded are the engine's answer
  (isolation, memory limit) and, on the host itself, the vmmem/vmwp processes' working sets.

Only engines on this machine can be measured this way: a remote engine's facts say so.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

MIB = 1 << 20
# Microsoft's container documentation (Hyper-V isolation, Windows Server 2016): each utility VM
# needs at least 512 MB, committed when it boots.
HYPERV_UVM_MIN_BYTES = 512 * MIB
HYPERV_SOURCE = "Windows Server 2016 Hyper-V isolation: a utility VM per container, at least 512 MB committed up front"
PROC = Path("/proc")


def mem_available() -> Optional[int]:
    """Bytes the host could give new work without swapping (Linux MemAvailable; Windows ullAvailPhys)."""
    if platform.system() == "Windows":
        return _windows_available()
    try:
        with open(PROC / "meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _windows_available() -> Optional[int]:
    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    return int(status.ullAvailPhys) if ok else None


def pss(pid: int) -> Optional[int]:
    """A process's PSS in bytes (None if it is gone or unreadable)."""
    try:
        with open(PROC / str(pid) / "smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def processes() -> dict[int, tuple[int, str, list[str]]]:
    """pid -> (parent pid, name, argv) for every process this user can see (Linux)."""
    table: dict[int, tuple[int, str, list[str]]] = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = [a for a in (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0") if a]
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        name = os.path.basename(argv[0]) if argv else comm
        table[int(entry.name)] = (ppid, name, argv)
    return table


def _descendants(root: int, children: dict[int, list[int]]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _monitored(name: str, argv: list[str]) -> Optional[str]:
    """The container a runtime monitor watches: containerd's shim (``-id CID``, dockerd) or Podman's
    conmon (``-c CID``). An exec session's conmon (``--exec-attach``) is not the container's monitor."""
    flag = "-id" if "shim" in (argv[0] if argv else "") else "-c" if name == "conmon" else None
    if flag is None or flag not in argv or argv.index(flag) + 1 >= len(argv) or "--exec-attach" in argv:
        return None
    return argv[argv.index(flag) + 1]


def container_trees(cids: Iterable[str], table: dict[int, tuple[int, str, list[str]]]) -> dict[str, list[int]]:
    """Container id -> the pids of its monitor (containerd shim, or Podman's conmon) and everything below
    it. A shim serving several containers (containerd's shim grouping) is attributed to the first only."""
    children: dict[int, list[int]] = {}
    shims: dict[str, int] = {}
    for pid, (ppid, name, argv) in table.items():
        children.setdefault(ppid, []).append(pid)
        cid = _monitored(name, argv)
        if cid is not None:
            shims[cid] = pid
    trees: dict[str, list[int]] = {}
    seen: set[int] = set()
    for cid in cids:
        shim = shims.get(cid)
        if shim is not None and shim not in seen:
            seen.add(shim)
            trees[cid] = _descendants(shim, children)
    return trees


def runtime_pss(
    cids: list[str], extra_pids: Iterable[int] = (), read: Callable[[int], Optional[int]] = pss
) -> dict[str, Any]:
    """The PSS of the runtime's processes for ``cids`` (full container ids), plus ``extra_pids``
    (the VM's qemu), by process name."""
    table = processes()
    trees = container_trees(cids, table)
    by_name: dict[str, int] = {}
    total, count = 0, 0
    for pid in [p for tree in trees.values() for p in tree] + list(extra_pids):
        value = read(pid)
        if value is None:
            continue
        name = table[pid][1] if pid in table else str(pid)
        by_name[name] = by_name.get(name, 0) + value
        total += value
        count += 1
    return {
        "pss_bytes": total,
        "processes": count,
        "containers_found": len(trees),
        "containers": len(cids),
        "by_process": dict(sorted(by_name.items())),
    }


def windows_vm_processes(run: Callable[..., Any] = subprocess.run) -> dict[str, Any]:
    """The Hyper-V utility VMs' host processes (vmmem: the VM's memory; vmwp: its worker), with
    their working sets, from `tasklist` (Windows hosts only)."""
    try:
        out = run(["tasklist", "/FO", "CSV", "/NH"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"tasklist: {exc}"}
    return parse_tasklist(out.stdout or "")


def parse_tasklist(text: str) -> dict[str, Any]:
    """`tasklist /FO CSV /NH` lines ("Image Name","PID","Session Name","Session#","Mem Usage")."""
    found: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        cells = [c.strip('"') for c in line.strip().split('","')]
        if len(cells) < 5:
            continue
        name = cells[0].lower()
        key = "vmmem" if name.startswith("vmmem") else "vmwp" if name.startswith("vmwp") else None
        if key is None:
            continue
        digits = "".join(ch for ch in cells[4] if ch.isdigit())
        entry = found.setdefault(key, {"count": 0, "working_set_bytes": 0})
        entry["count"] += 1
        entry["working_set_bytes"] += int(digits or 0) * 1024
    return found


def hyperv_facts(engine_view: dict[str, Any], on_this_host: bool) -> dict[str, Any]:
    """What a Hyper-V-isolated container commits: the documented utility VM minimum, the memory
    limit the engine applied (0: its default), and on this host the utility VMs' processes."""
    facts: dict[str, Any] = {
        "utility_vm_per_container": True,
        "documented_minimum_bytes": HYPERV_UVM_MIN_BYTES,
        "source": HYPERV_SOURCE,
        "isolation": engine_view.get("isolation"),
        "memory_limit_bytes": engine_view.get("memory_limit_bytes"),
    }
    if on_this_host and platform.system() == "Windows":
        facts["host_processes"] = windows_vm_processes()
    return facts
