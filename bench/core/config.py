"""The benchmark configuration: run settings and modes, read from TOML.

Everything a user writes is checked here, so that a mistake ends the command
with one sentence naming the file, the key and the fix, never a traceback
from deep inside a run.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from bench.core import presets
from bench.core.errors import UserError
from bench.core.paths import DEFAULT_RESULTS
from bench.core.phases import CYCLE_SHAPES, ENGINE_PHASES, PHASES
from bench.core.scale import ScaleSettings, read_scale
from bench.core.service import ServiceSettings, read_service
from bench.core.sizes import parse_size, parse_sizes
from bench.core.workload import Workload, read_workloads, workload_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

ISOLATIONS = ("default", "process", "hyperv")
# The engine kinds a mode may name (`engine = "..."`); each has a driver in bench.engine.drivers, and
# tests/test_podman.py checks that the two lists agree (core cannot import the engine layer).
ENGINE_KINDS = ("docker", "podman")
# The ulimits a mode may set on its containers (HostConfig.Ulimits: name -> (soft, hard)).
ULIMIT_NAMES = ("nofile", "nproc", "core", "memlock", "stack")
ENDPOINT_SCHEMES = ("local", "unix://", "npipe://", "tcp://", "ssh://", "machine:", "context:", "env", "vm", "swarm")


@dataclass(frozen=True)
class Timeouts:
    """Seconds each engine call may take before the watchdog gives up on it."""

    create: float = 30.0
    start: float = 30.0
    ready: float = 30.0
    exec: float = 30.0
    stop: float = 30.0  # beyond the stop grace period
    remove: float = 30.0
    ping: float = 10.0
    # The cold scenario: stopping the engine, and starting it until /_ping answers.
    engine_stop: float = 120.0
    engine_up: float = 300.0


@dataclass(frozen=True)
class EndpointSettings:
    """Where an engine is and how to trust it: what endpoint resolution needs, and nothing about what
    runs there (so a client for a bare endpoint needs no image or command). ``name`` is only for
    messages ("mode 'runc': ...")."""

    endpoint: str = "local"
    tls_cert_dir: Optional[str] = None
    tls_verify: bool = True
    tls_max_version: Optional[str] = None
    tls_hostname: Optional[str] = None
    allow_plain_tcp: bool = False
    name: str = "default"


@dataclass(frozen=True)
class Mode:
    name: str
    role: str
    image: str
    command: tuple[str, ...]
    exec_command: tuple[str, ...]
    endpoint: str = "local"
    isolation: str = "default"
    runtime: Optional[str] = None  # None: the engine's default runtime
    ready_marker: str = "ready"
    stop_grace_s: int = 5
    timeouts: Timeouts = field(default_factory=Timeouts)
    tls_cert_dir: Optional[str] = None
    tls_verify: bool = True
    # "1.2" caps TLS at 1.2 with AES-GCM suites: a Go engine in a VM emulated by qemu's
    # TCG breaks ChaCha20, which Go prefers when the (virtual) CPU lacks AES-NI.
    tls_max_version: Optional[str] = None
    # Check the engine's certificate against this name rather than the address connected to.
    tls_hostname: Optional[str] = None
    allow_plain_tcp: bool = False
    network: str = "none"
    read_only: bool = True
    preset: Optional[str] = None
    # The cold scenario's engine control, when isobench cannot pick one from the
    # endpoint (see bench.engine.control.restart): argv lists, both or neither.
    engine_stop_cmd: tuple[str, ...] = ()
    engine_start_cmd: tuple[str, ...] = ()
    # The cycle shape: "full" (create, start, ready, exec, stop, remove) or "run" (create, start, ready,
    # wait, remove, what `docker run --rm` does), whose command is `run_command`: it prints the ready
    # line and exits.
    cycle: str = "full"
    run_command: tuple[str, ...] = ()
    # A memory limit per container in MiB (0: none): what a workload's limit is, and how a test meets the
    # kernel's OOM killer (the oom_killed category).
    memory_mib: int = 0
    # The service scenario (bench.core.service): the mode runs as swarm services through the manager
    # at `endpoint` (`swarm`: the local swarm of `isobench swarm up`); `placement` (swarm constraints)
    # picks the nodes; `node_endpoints` (node hostname -> endpoint, with this mode's TLS settings)
    # reaches the nodes' own engines on a real cluster.
    swarm: bool = False
    placement: tuple[str, ...] = ()
    node_endpoints: dict[str, str] = field(default_factory=dict)
    # The engine kind (bench.engine.drivers): "docker" (the Docker Engine API: dockerd, the VM, swarm
    # nodes) or "podman" (Podman's Docker-compatible API service, started by isobench on endpoint "local").
    engine: str = "docker"
    # Per-container rlimits sent in the create request, name -> (soft, hard). Podman's runc applies its
    # own defaults, above this machine's hard limits, unless the request names them (see presets).
    ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The workload (bench.core.workload) the mode runs: its image and command are the mode's, and its probe
    # judges `ready`. None: the mode's own image, command and first line (`ready_marker`).
    workload: Optional[Workload] = None

    @property
    def endpoint_settings(self) -> EndpointSettings:
        return EndpointSettings(
            endpoint=self.endpoint,
            tls_cert_dir=self.tls_cert_dir,
            tls_verify=self.tls_verify,
            tls_max_version=self.tls_max_version,
            tls_hostname=self.tls_hostname,
            allow_plain_tcp=self.allow_plain_tcp,
            name=self.name,
        )

    def to_record(self) -> dict[str, Any]:
        """The mode as the result-set header stores it (paths, never file contents)."""
        rec = asdict(self)
        rec["command"] = list(self.command)
        rec["exec_command"] = list(self.exec_command)
        rec["engine_stop_cmd"] = list(self.engine_stop_cmd)
        rec["engine_start_cmd"] = list(self.engine_start_cmd)
        rec["run_command"] = list(self.run_command)
        rec["placement"] = list(self.placement)
        rec["ulimits"] = {k: list(v) for k, v in self.ulimits.items()}
        rec["workload"] = self.workload.to_record() if self.workload else None
        return rec


@dataclass(frozen=True)
class RunSettings:
    rounds: int = 100
    warmup: int = 2
    min_rounds: int = 30
    budget_s: Optional[float] = 300.0
    # Stop early once every mode's startup median is known to this relative
    # half-width (95% CI); None disables the precision rule.
    precision: Optional[float] = None
    seed: Optional[int] = None
    results_dir: str = str(DEFAULT_RESULTS)
    # How long to keep reconnecting to an engine that went away before the run fails.
    reconnect_s: float = 120.0
    # "warm" (the default: the engine is up), "cold" (each cycle first stops and starts
    # the engine), or "both" (warm rounds, then cold rounds); "burst", "rate", "density", or
    # "scale" (bursts, rate runs when rates are given, density steps). See bench.core.phases.
    scenario: str = "warm"
    cold_rounds: int = 8  # the fewest paired rounds that can pass Holm over three pairs (claims.toml)
    # first-start: the user's own registry (host:port) to pull from; None: the run starts its own on loopback
    registry: Optional[str] = None
    # size (bench/scenarios/size.py): the image sizes (isobench/size:SIZE), each mode x each size per round;
    # size_first_start: each of those cycles a first start (samples then carry scenario "first-start")
    sizes: tuple[str, ...] = ("10M", "100M", "1G")
    size_first_start: bool = False
    # size: mode -> the largest size it runs (the VM engine under TCG: a 1G first start is ~2 minutes and
    # the 1G image must be carried into the guest first, so make bench-workloads stops it at 100M)
    size_max: dict[str, str] = field(default_factory=dict)

    def sizes_of(self, mode: str) -> tuple[str, ...]:
        """The sizes ``mode`` runs: every size, up to its ``size_max``."""
        cap = self.size_max.get(mode)
        return self.sizes if cap is None else tuple(s for s in self.sizes if parse_size(s) <= parse_size(cap))


@dataclass(frozen=True)
class Config:
    source: str
    run: RunSettings
    modes: tuple[Mode, ...]
    scale: ScaleSettings = field(default_factory=ScaleSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)

    def to_record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run": asdict(self.run),
            "modes": [m.to_record() for m in self.modes],
            "scale": self.scale.to_record(),
            "service": self.service.to_record(),
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> "Config":
        """The config a result set's header recorded (for --resume)."""
        try:
            modes = tuple(
                Mode(
                    **{
                        **m,
                        "command": tuple(m["command"]),
                        "exec_command": tuple(m["exec_command"]),
                        "engine_stop_cmd": tuple(m.get("engine_stop_cmd") or ()),
                        "engine_start_cmd": tuple(m.get("engine_start_cmd") or ()),
                        "run_command": tuple(m.get("run_command") or ()),
                        "placement": tuple(m.get("placement") or ()),
                        "ulimits": {k: (int(v[0]), int(v[1])) for k, v in (m.get("ulimits") or {}).items()},
                        "timeouts": Timeouts(**m["timeouts"]),
                        "workload": Workload.from_record(m.get("workload")),
                    }
                )
                for m in rec["modes"]
            )
            scale = ScaleSettings.from_record(rec.get("scale"))
            service = ServiceSettings.from_record(rec.get("service"))
            run = RunSettings(**{**rec["run"], "sizes": tuple(rec["run"].get("sizes") or RunSettings.sizes),
                                 "size_max": dict(rec["run"].get("size_max") or {})})  # fmt: skip
            return cls(source=str(rec.get("source")), run=run, modes=modes, scale=scale, service=service)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"the result set's header holds no usable config ({exc.__class__.__name__}: {exc}): "
                "it was not written by this version of isobench; start a new run."
            ) from None

    def select(self, names: Iterable[str]) -> "Config":
        """Only the named modes, in the config's order; an unknown name is a UserError."""
        wanted = list(names)
        if not wanted:
            return self
        known = [m.name for m in self.modes]
        extra = [_preset_mode(name, self.source) for name in wanted if name not in known and name in _ON_REQUEST]
        for name in wanted:
            if name not in known and name not in _ON_REQUEST:
                choices = ", ".join(known + [p for p in _ON_REQUEST if p not in known])
                raise UserError(f"--mode {name!r} is not in {self.source}: choose one of {choices}.")
        chosen = tuple(m for m in self.modes if m.name in wanted) + tuple(extra)
        return Config(self.source, self.run, chosen, self.scale, self.service)


def _keyname(key: object) -> str:
    """A key as a message shows it: plain when it is a name, quoted (and escaped) otherwise."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


class _Table:
    """One TOML table being read: typed getters that name the file and key on error,
    and a check that nothing unknown was left over."""

    def __init__(self, data: Any, where: str, source: str) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{source}: {where} must be a table, not {type(data).__name__}.")
        self.data = dict(data)
        self.where = where
        self.source = source

    def _fail(self, key: str, what: str) -> UserError:
        return UserError(f"{self.source}: {self.where}.{_keyname(key)} {what}.")

    def _take(self, key: str) -> Any:
        return self.data.pop(key, None)

    def string(self, key: str, default: Optional[str] = None, choices: Optional[Iterable[str]] = None) -> Optional[str]:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, f"must be a non-empty string, not {value!r}")
        if choices is not None and value not in choices:
            raise self._fail(key, f"is {value!r}: use one of {', '.join(choices)}")
        return value

    def text(self, key: str, default: str, choices: Optional[Iterable[str]] = None) -> str:
        """A string with a default: never None."""
        value = self.string(key, default, choices)
        return default if value is None else value

    def whole(self, key: str, default: int, allow_zero: bool = False) -> int:
        """A whole number with a default: never None."""
        value = self.number(key, default, integer=True, allow_zero=allow_zero)
        return default if value is None else int(value)

    def real(self, key: str, default: float) -> float:
        """A number with a default: never None."""
        value = self.number(key, default)
        return default if value is None else float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false, not {value!r}")
        return value

    def number(
        self, key: str, default: Optional[float], *, integer: bool = False, minimum: float = 0, allow_zero: bool = False
    ) -> Optional[float]:
        value = self._take(key)
        if value is None:
            return default
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise self._fail(key, f"must be {kind}, not {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self._fail(key, f"must be a finite {kind}, not {value!r}")
        if value < minimum or (value == minimum and not allow_zero):
            bound = f"at least {minimum}" if allow_zero else f"greater than {minimum}"
            raise self._fail(key, f"must be {bound}, not {value!r}")
        return int(value) if integer else float(value)

    def argv(self, key: str, default: Optional[Iterable[str]]) -> Optional[tuple[str, ...]]:
        value = self._take(key)
        if value is None:
            return tuple(default) if default is not None else None
        if isinstance(value, str):
            raise self._fail(key, 'must be a list of strings (argv form, e.g. ["/bin/sh", "-c", "..."])')
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self._fail(key, f"must be a non-empty list of non-empty strings, not {value!r}")
        return tuple(value)

    def table(self, key: str) -> "_Table":
        return _Table(self._take(key) or {}, f"{self.where}.{key}", self.source)

    def done(self, allowed: Iterable[str]) -> None:
        if self.data:
            key = sorted(self.data)[0]
            hint = difflib.get_close_matches(key, list(allowed), n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else f"known keys are {', '.join(sorted(allowed))}"
            raise UserError(f"{self.source}: unknown key {self.where}.{_keyname(key)}: {fix}")


_RUN_KEYS = (
    "rounds",
    "warmup",
    "min_rounds",
    "budget_s",
    "precision",
    "seed",
    "results_dir",
    "reconnect_s",
    "scenario",
    "cold_rounds",
    "registry",
    "sizes",
    "size_first_start",
    "size_max",
)
_MODE_KEYS = (
    "name",
    "preset",
    "role",
    "endpoint",
    "isolation",
    "runtime",
    "image",
    "command",
    "exec",
    "ready_marker",
    "stop_grace_s",
    "timeouts",
    "tls_cert_dir",
    "tls_verify",
    "tls_max_version",
    "tls_hostname",
    "allow_plain_tcp",
    "network",
    "read_only",
    "engine_stop_cmd",
    "engine_start_cmd",
    "cycle",
    "run_command",
    "memory_mib",
    "swarm",
    "placement",
    "node_endpoints",
    "engine",
    "ulimits",
    "workload",
)
_TIMEOUT_KEYS = tuple(PHASES) + ("ping",) + ENGINE_PHASES


def _read_run(table: _Table) -> RunSettings:
    d = RunSettings()
    rounds = table.whole("rounds", d.rounds)
    seed = table.number("seed", d.seed, integer=True, allow_zero=True)
    run = RunSettings(
        rounds=rounds,
        warmup=table.whole("warmup", d.warmup, allow_zero=True),
        min_rounds=table.whole("min_rounds", min(d.min_rounds, rounds)),
        budget_s=table.number("budget_s", d.budget_s),
        precision=table.number("precision", d.precision),
        seed=None if seed is None else int(seed),
        results_dir=table.text("results_dir", d.results_dir),
        reconnect_s=table.real("reconnect_s", d.reconnect_s),
        scenario=table.text("scenario", d.scenario),  # a scenario of bench.scenarios: the run checks it
        cold_rounds=table.whole("cold_rounds", d.cold_rounds),
        registry=_registry(table.string("registry"), table.source),
        sizes=_sizes(table.argv("sizes", d.sizes) or d.sizes, table.source),
        size_first_start=table.boolean("size_first_start", d.size_first_start),
        size_max=_size_max(table._take("size_max"), table.source),
    )
    table.done(_RUN_KEYS)
    if run.min_rounds > run.rounds:
        raise UserError(
            f"{table.source}: run.min_rounds ({run.min_rounds}) is more than run.rounds ({run.rounds}): lower "
            "min_rounds or raise rounds."
        )
    return run


def _sizes(labels: tuple[str, ...], source: str) -> tuple[str, ...]:
    return parse_sizes(",".join(labels), f"{source}: run.sizes")


def _size_max(value: Any, source: str) -> dict[str, str]:
    """``run.size_max``: mode name -> a size (``{ vm-engine = "100M" }``)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UserError(f'{source}: run.size_max must map mode names to sizes, e.g. {{ vm-engine = "100M" }}.')
    for mode, size in value.items():
        parse_size(size, f"{source}: run.size_max.{mode}")
    return dict(value)


def _registry(addr: Optional[str], source: str) -> Optional[str]:
    """``run.registry``: host:port, the port a whole number from 1 to 65535."""
    if addr is None:
        return None
    host, _, port = addr.rpartition(":")
    if not host or "/" in addr or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"{source}: run.registry is {addr!r}: give host:port (e.g. registry.example:5000), no scheme.")
    return addr


def _check_endpoint(endpoint: str, where: str) -> None:
    if endpoint in ("local", "env", "vm", "swarm"):
        return
    if not any(endpoint.startswith(s) for s in ENDPOINT_SCHEMES if s.endswith((":", "//"))):
        raise UserError(
            f"{where} is {endpoint!r}: use local, env, vm, unix://PATH, npipe:////./pipe/NAME, "
            "tcp://HOST:PORT, ssh://USER@HOST, machine:NAME, context:NAME or swarm (the local swarm's manager)."
        )


# Presets a run takes only when named (--mode swarm-runc): never part of the host's default modes.
_ON_REQUEST = tuple(presets.on_request())


def _preset_mode(name: str, source: str) -> "Mode":
    """A mode built from an on-request preset alone (--mode NAME where the config does not list it)."""
    return _read_mode(_Table({"preset": name}, f"--mode {name}", source), 0)


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        raise UserError(f"{where} must map node hostnames to endpoints (strings), not {value!r}.")
    return dict(value)


def _swarm_keys(table: _Table, base: dict[str, Any]) -> dict[str, Any]:
    """A mode's service-scenario keys: swarm, placement, node_endpoints."""
    endpoint = table.data.get("endpoint", base.get("endpoint", "local"))
    return {
        "swarm": table.boolean("swarm", bool(base.get("swarm", endpoint == "swarm"))),
        "placement": table.argv("placement", base.get("placement", ())) or (),
        "node_endpoints": _strings(table._take("node_endpoints"), f"{table.source}: {table.where}.node_endpoints"),
    }


def _check_swarm_mode(mode: "Mode", source: str) -> None:
    if mode.swarm and mode.runtime:
        raise UserError(
            f"{source}: mode {mode.name!r} sets runtime {mode.runtime!r} and swarm = true: a swarm service cannot "
            "choose its runtime (the node's own default runs it): remove runtime and pick the nodes with placement."
        )
    if (mode.placement or mode.node_endpoints) and not mode.swarm:
        raise UserError(
            f"{source}: mode {mode.name!r} sets placement or node_endpoints but not swarm = true: add swarm = true "
            "(the mode then runs as swarm services), or remove them."
        )


def _ulimits(table: "_Table", base: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``ulimits = { nofile = [soft, hard] }``: a table of [soft, hard] pairs, soft not above hard."""
    out = {k: (int(v[0]), int(v[1])) for k, v in base.items()}
    for name in ULIMIT_NAMES:
        value = table._take(name)
        if value is None:
            continue
        ok = isinstance(value, list) and len(value) == 2 and all(isinstance(x, int) and x >= 0 for x in value)
        if not ok or value[0] > value[1]:
            raise UserError(
                f"{table.source}: {table.where}.{name} is {value!r}: give [soft, hard], whole numbers, soft <= hard."
            )
        out[name] = (value[0], value[1])
    table.done(ULIMIT_NAMES)
    return out


def _read_modes(table: _Table, workloads: dict[str, Workload]) -> tuple[Mode, ...]:
    """One mode, or with `workload = [...]` the mode crossed with each workload (named MODE@WORKLOAD)."""
    raw = table._take("workload")
    if raw is None:
        return (_read_mode(table, 0),)
    names = workload_names(raw, workloads, f"{table.where}.workload", table.source)
    chosen = [workloads[n] for n in names]
    first = chosen[0]
    # The workload supplies image and command; the rest of the mode is read once.
    table.data.setdefault("image", first.image)
    table.data.setdefault("command", list(first.command))
    mode = _read_mode(table, 0)
    if mode.cycle == "run":
        raise UserError(
            f'{table.source}: mode {mode.name!r} has cycle = "run" and a workload: a workload runs the full cycle; '
            'remove cycle = "run" or the workload.'
        )
    crossed = len(chosen) > 1 or isinstance(raw, list)
    return tuple(
        replace(mode, name=f"{mode.name}@{w.name}" if crossed else mode.name, image=w.image, command=w.command,
                workload=w)
        for w in chosen
    )  # fmt: skip


def _read_mode(table: _Table, index: int) -> Mode:
    preset_name = table.string("preset")
    base: dict[str, Any] = {}
    if preset_name is not None:
        known = presets.all_presets()
        if preset_name not in known:
            raise UserError(f"{table.source}: {table.where}.preset is {preset_name!r}: use one of {', '.join(known)}.")
        base = known[preset_name]
    name = table.string("name", base.get("name"))
    if name is None:
        raise UserError(f'{table.source}: {table.where} has no name: add name = "..." (or a preset).')
    bt = base.get("timeouts", {})
    tt = table.table("timeouts")
    defaults = Timeouts()
    timeouts = Timeouts(**{k: tt.real(k, float(bt.get(k, getattr(defaults, k)))) for k in _TIMEOUT_KEYS})
    tt.done(_TIMEOUT_KEYS)
    image = table.string("image", base.get("image"))
    command = table.argv("command", base.get("command"))
    exec_command = table.argv("exec", base.get("exec"))
    if image is None or command is None or exec_command is None:
        missing = "image" if image is None else "command" if command is None else "exec"
        raise UserError(f"{table.source}: mode {name!r} has no {missing}: set it, or name a preset that has one.")
    mode = Mode(
        name=name,
        role=table.text("role", base.get("role", "native")),
        image=image,
        command=command,
        exec_command=exec_command,
        endpoint=table.text("endpoint", base.get("endpoint", "local")),
        isolation=table.text("isolation", base.get("isolation", "default"), choices=ISOLATIONS),
        runtime=table.string("runtime", base.get("runtime")),
        ready_marker=table.text("ready_marker", base.get("ready_marker", "ready")),
        stop_grace_s=table.whole("stop_grace_s", base.get("stop_grace_s", 5), allow_zero=True),
        timeouts=timeouts,
        tls_cert_dir=table.string("tls_cert_dir"),
        tls_verify=table.boolean("tls_verify", True),
        tls_max_version=table.string("tls_max_version", base.get("tls_max_version"), choices=("1.2", "1.3")),
        tls_hostname=table.string("tls_hostname"),
        allow_plain_tcp=table.boolean("allow_plain_tcp", False),
        network=table.text("network", base.get("network", "none")),
        read_only=table.boolean("read_only", base.get("read_only", True)),
        preset=preset_name,
        engine_stop_cmd=table.argv("engine_stop_cmd", base.get("engine_stop_cmd", ())) or (),
        engine_start_cmd=table.argv("engine_start_cmd", base.get("engine_start_cmd", ())) or (),
        cycle=table.text("cycle", base.get("cycle", "full"), choices=tuple(CYCLE_SHAPES)),
        run_command=table.argv("run_command", base.get("run_command", ())) or (),
        memory_mib=table.whole("memory_mib", base.get("memory_mib", 0), allow_zero=True),
        engine=table.text("engine", base.get("engine", "docker"), choices=ENGINE_KINDS),
        ulimits=_ulimits(table.table("ulimits"), base.get("ulimits", {})),
        **_swarm_keys(table, base),
    )
    table.done(_MODE_KEYS)
    _check_mode(mode, table)
    return mode


def _check_mode(mode: Mode, table: _Table) -> None:
    """What no single key can say wrong on its own: keys that must come together, or not at all."""
    name = mode.name
    _check_swarm_mode(mode, table.source)
    if mode.cycle == "run" and not mode.run_command:
        raise UserError(
            f'{table.source}: mode {name!r} has cycle = "run" but no run_command: set run_command to a '
            "command that prints the ready line and exits, or name a preset that has one."
        )
    if bool(mode.engine_stop_cmd) != bool(mode.engine_start_cmd):
        given, missing = (
            ("engine_stop_cmd", "engine_start_cmd") if mode.engine_stop_cmd else ("engine_start_cmd", "engine_stop_cmd")
        )
        raise UserError(
            f"{table.source}: mode {name!r} sets {given} but not {missing}: the cold scenario needs both, or neither."
        )
    _check_endpoint(mode.endpoint, f"{table.source}: {table.where}.endpoint")


def parse_config(data: Any, source: str, host_os: Optional[str] = None) -> Config:
    """Checks a parsed TOML document and builds the Config.

    With no ``[[mode]]`` tables the host's presets are used.
    """
    top = _Table(data, "config", source)
    run = _read_run(top.table("run"))
    scale = read_scale(top.table("scale"))
    service = read_service(top.table("service"))
    raw_modes = top._take("mode")
    workloads = read_workloads(top._take("workload"), source)
    top.done(("run", "mode", "scale", "service", "workload"))
    if raw_modes is None:
        raw_modes = [{"preset": name} for name in presets.presets_for(host_os or presets.host_os())]
    if not isinstance(raw_modes, list) or not raw_modes:
        raise UserError(f"{source}: [[mode]] must list at least one mode (or be left out to use the host's presets).")
    modes = tuple(
        m for i, raw in enumerate(raw_modes) for m in _read_modes(_Table(raw, f"mode[{i}]", source), workloads)
    )
    seen: set[str] = set()
    for m in modes:
        if m.name in seen:
            raise UserError(f"{source}: two modes are named {m.name!r}: give each mode its own name.")
        seen.add(m.name)
    return Config(source=source, run=run, modes=modes, scale=scale, service=service)


def load_config(path: Path) -> Config:
    """Reads and checks a TOML config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist: pass --config with the path of a TOML file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"config file {path} cannot be read ({exc.__class__.__name__}): check its permissions and encoding."
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML ({exc}): fix the syntax there.") from None
    return parse_config(data, str(path))
