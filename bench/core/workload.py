"""Workloads (`[[workload]]`): what a mode runs and how its readiness is judged.

A workload is an image, its command and a readiness probe. A mode names one (`workload = "web"`) or
several (`workload = ["web", "db"]`: the mode is crossed with each, one mode per workload, named
`MODE@WORKLOAD`). The workload is part of a mode's identity: the header records it, and compare refuses
sets whose modes ran different workloads (analysis.compare).

Probes (how `ready` ends):

- ``log``: a regular expression searched in each line of the container's output, read from an attach
  stream opened before start (today's ready line is ``^ready$``);
- ``exec``: a command run inside the container until it exits 0, every ``interval_s``;
- ``tcp``, ``http``: a port (and a URL path) checked from inside the container's network namespace by a
  command run inside the container (``via``; busybox's ``nc``/``wget`` by default), never by the host
  sending traffic to a container address.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Optional

from bench.core.errors import UserError

PROBES = ("log", "exec", "tcp", "http")
DEFAULT_PATTERN = "^ready$"
DEFAULT_INTERVAL_S = 0.05
# Inside the container, from its own network namespace: busybox's nc sends nothing (stdin is empty)
# and exits 0 once connected; for http it sends a GET and the status line must be 2xx (busybox's own
# wget is not used: the static Debian build crashes on some hosts).
TCP_VIA = ("/bin/busybox", "nc", "-w", "1", "127.0.0.1", "{port}")
HTTP_VIA = (
    "/bin/busybox", "sh", "-c",
    "printf 'GET {path} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' | /bin/busybox nc -w 2 127.0.0.1 {port}"
    " | /bin/busybox head -n 1 | /bin/busybox grep -q '^HTTP/1\\.[01] 2'",
)  # fmt: skip


@dataclass(frozen=True)
class Probe:
    """How a workload's readiness is judged (see the module doc)."""

    kind: str = "log"
    pattern: str = DEFAULT_PATTERN  # log
    command: tuple[str, ...] = ()  # exec; tcp and http: the command that checks (``via``), filled in
    port: int = 0  # tcp, http
    path: str = "/"  # http
    interval_s: float = DEFAULT_INTERVAL_S  # exec, tcp, http: between polls

    @property
    def polled(self) -> bool:
        """Probes that run a command in the container until it exits 0."""
        return self.kind != "log"

    def argv(self) -> tuple[str, ...]:
        """The command a polled probe runs inside the container."""
        return tuple(a.replace("{port}", str(self.port)).replace("{path}", self.path) for a in self.command)

    def describe(self) -> str:
        """The probe in a few words, for messages: `log /^ready$/`, `tcp :8080`, `exec ['/bin/true']`."""
        if self.kind == "log":
            return f"log /{self.pattern}/"
        if self.kind == "exec":
            return f"exec {list(self.command)}"
        return f"{self.kind} :{self.port}{self.path if self.kind == 'http' else ''}"


@dataclass(frozen=True)
class Workload:
    name: str
    image: str
    command: tuple[str, ...]
    probe: Probe = Probe()

    def to_record(self) -> dict[str, Any]:
        rec = asdict(self)
        rec["command"] = list(self.command)
        rec["probe"]["command"] = list(self.probe.command)
        return rec

    @classmethod
    def from_record(cls, rec: Optional[dict[str, Any]]) -> Optional["Workload"]:
        if not rec:
            return None
        probe = dict(rec.get("probe") or {})
        probe["command"] = tuple(probe.get("command") or ())
        return cls(name=rec["name"], image=rec["image"], command=tuple(rec["command"]), probe=Probe(**probe))


def _fail(source: str, where: str, what: str) -> UserError:
    return UserError(f"{source}: {where} {what}.")


def read_probe(data: Any, where: str, source: str) -> Probe:
    """A workload's `ready` table, checked: one sentence naming the key on any mistake."""
    if data is None:
        return Probe()
    if not isinstance(data, dict):
        raise _fail(source, where, f'must be a table such as {{ probe = "log", pattern = "^ready$" }}, not {data!r}')
    table = dict(data)
    kind = table.pop("probe", "log")
    if kind not in PROBES:
        raise _fail(source, f"{where}.probe", f"is {kind!r}: use one of {', '.join(PROBES)}")
    allowed = {"log": ("pattern",), "exec": ("command", "interval_s"),
               "tcp": ("port", "interval_s", "via"), "http": ("port", "path", "interval_s", "via")}[kind]  # fmt: skip
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _fail(
            source, f"{where}.{unknown[0]}", f"is not a key of a {kind} probe: its keys are {', '.join(allowed)}"
        )
    interval = table.get("interval_s", DEFAULT_INTERVAL_S)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= 60:
        raise _fail(source, f"{where}.interval_s", f"is {interval!r}: give seconds between polls, above 0, at most 60")
    if kind == "log":
        return Probe(kind, pattern=_pattern(table.get("pattern", DEFAULT_PATTERN), where, source))
    if kind == "exec":
        return Probe(kind, command=_argv(table.get("command"), f"{where}.command", source), interval_s=float(interval))
    port = table.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _fail(source, f"{where}.port", f"is {port!r}: give the container's port, a whole number from 1 to 65535")
    path = table.get("path", "/")
    if not isinstance(path, str) or not re.fullmatch(r"/[A-Za-z0-9._~%/?=&+-]*", path):
        raise _fail(source, f"{where}.path", f"is {path!r}: give a URL path starting with / (no spaces or quotes)")
    default_via = TCP_VIA if kind == "tcp" else HTTP_VIA
    via = _argv(table.get("via", list(default_via)), f"{where}.via", source)
    return Probe(kind, command=via, port=port, path=path, interval_s=float(interval))


def _pattern(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, f"{where}.pattern", f"must be a regular expression (a non-empty string), not {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise _fail(source, f"{where}.pattern", f"is not a regular expression ({exc})") from None
    return value


def _argv(value: Any, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, where, f"must be a non-empty list of strings (argv form), not {value!r}")
    return tuple(value)


_WORKLOAD_KEYS = ("name", "image", "command", "ready")


def read_workloads(raw: Any, source: str) -> dict[str, Workload]:
    """The `[[workload]]` tables by name."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise UserError(f"{source}: workload must be an array of tables ([[workload]]), not {type(raw).__name__}.")
    out: dict[str, Workload] = {}
    for i, data in enumerate(raw):
        where = f"workload[{i}]"
        if not isinstance(data, dict):
            raise _fail(source, where, "must be a table")
        unknown = sorted(set(data) - set(_WORKLOAD_KEYS))
        if unknown:
            raise _fail(source, f"{where}.{unknown[0]}", f"is not a workload key: use {', '.join(_WORKLOAD_KEYS)}")
        name, image = data.get("name"), data.get("image")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise _fail(source, f"{where}.name", f"is {name!r}: give a name of letters, digits, '_', '.' or '-'")
        if name in out:
            raise _fail(source, f"{where}.name", f"{name!r} is used twice: give each workload its own name")
        if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
            raise _fail(source, f"workload {name!r}", f"has image {image!r}: give an image reference")
        command = _argv(data.get("command"), f"workload {name!r} command", source)
        out[name] = Workload(name, image, command, read_probe(data.get("ready"), f"workload {name!r} ready", source))
    return out


def workload_names(value: Any, known: dict[str, Workload], where: str, source: str) -> tuple[str, ...]:
    """A mode's `workload` key: one name, or a list (the mode crossed with each)."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _fail(source, where, f"is {value!r}: name a [[workload]] (or a list of them)")
    for n in names:
        if n not in known:
            choices = ", ".join(known) or "none are defined: add a [[workload]] table"
            raise _fail(source, where, f"names workload {n!r}, which is not defined: use one of {choices}")
    return tuple(names)
