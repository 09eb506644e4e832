"""What the host is: the facts a result set must carry so runs on different hosts never mix.

Nothing here reads environment values or secrets: only OS, CPU, memory and
package versions.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("isobench", "docker", "pyperf", "rich", "pandas", "scipy", "matplotlib", "requests", "urllib3")


def _os_release() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                if key in ("PRETTY_NAME", "ID", "VERSION_ID"):
                    out[key.lower()] = value.strip('"')
    except OSError:
        pass
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return None
    return None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def host_facts() -> dict[str, Any]:
    """The header's ``host`` block."""
    facts: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "os_release": platform.release(),
        "os_version": platform.version(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
    }
    if facts["os"] == "Linux":
        facts["kernel"] = platform.release()
        facts["distribution"] = _os_release()
        facts["virtualisation_hint"] = _virt_hint()
    elif facts["os"] == "Windows":
        from bench.engine import windows  # Windows-only facts: build, UBR, edition, Defender, power plan

        facts.update(windows.host_facts())
    return facts


def _virt_hint() -> str | None:
    """'hypervisor' when the CPU says it runs under one: nested virtualisation changes results."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "hypervisor" if " hypervisor" in line else "bare-metal"
    except OSError:
        pass
    return None


def python_facts() -> dict[str, Any]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable_bits": 64 if sys.maxsize > 2**32 else 32,
    }
