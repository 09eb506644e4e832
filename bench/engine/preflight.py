"""Preflight: is each mode usable, and what exactly will it measure?

Per mode: the engine answers (with its /_ping round trip measured), the API
version is negotiated, the runtime is registered, the isolation is accepted (a
trial container is created, inspected and removed: never started, so a hung
runtime shows up as timeouts in the run rather than hiding here), and the
image is present. An unusable mode is skipped with its reason; the run goes
on with the rest.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import docker

from bench.core.config import Mode
from bench.core.errors import UserError
from bench.core.watchdog import call_with_timeout
from bench.engine import classify as failures
from bench.engine import endpoints
from bench.engine.drivers import driver_for
from bench.engine.drivers.docker import engine_record  # noqa: F401  (its old home: callers and tests use it)
from bench.engine.endpoints import Endpoint
from bench.engine.spec import create_kwargs

PING_COUNT = 5


@dataclass
class ModeRuntime:
    """A mode that passed preflight, with its live client."""

    mode: Mode
    endpoint: Endpoint
    client: docker.APIClient
    image: str
    record: dict[str, Any] = field(default_factory=dict)

    def new_client(self) -> docker.APIClient:
        """A fresh client to the same engine (for event streams, reconnects)."""
        return endpoints.make_client(self.endpoint, self.client.timeout, version=self.client.api_version)


@dataclass
class ModeCheck:
    name: str
    usable: bool
    record: dict[str, Any]
    runtime: Optional[ModeRuntime] = None

    @property
    def reason(self) -> str:
        return str(self.record.get("skip_reason") or "")


class Skip(Exception):
    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason


def _timed(fn: Any, seconds: float, what: str) -> tuple[Any, int]:
    def call() -> tuple[Any, int]:
        t0 = time.perf_counter_ns()
        value = fn()
        return value, time.perf_counter_ns() - t0

    return call_with_timeout(call, seconds, what)


ADVICE = {
    failures.TLS_ERROR: "check tls_cert_dir: the engine's certificate must be signed by its ca.pem, unexpired and "
    "issued to this address, and the engine must trust cert.pem",
    failures.ENGINE_UNAVAILABLE: "is the engine running and listening there?",
    failures.TIMEOUT: "the engine did not answer in time: is it overloaded or hung?",
}


def _engine_call(fn: Any, seconds: float, what: str, mode: Mode) -> Any:
    try:
        return _timed(fn, seconds, what)
    except Exception as exc:
        driver = driver_for(mode)
        category, message = driver.classify(exc)
        hint = ADVICE.get(category) or driver.advice(category)
        advice = f"; {hint}" if hint else ""
        raise Skip(
            category,
            f"mode {mode.name!r}: {what} to {mode.endpoint} failed ({category}): {message.strip()[:300]}{advice}.",
        ) from None


def round_trips(client: docker.APIClient, mode: Mode, count: int = PING_COUNT) -> dict[str, Any]:
    """Round trips of /_ping and /version: the transport's own cost, shown beside
    every mode's results so it is never mistaken for isolation cost."""
    pings = [_engine_call(client.ping, mode.timeouts.ping, "ping", mode)[1] for _ in range(count)]
    versions = [_engine_call(client.version, mode.timeouts.ping, "version", mode)[1] for _ in range(count)]
    return {
        "ping_rtt_ns": int(statistics.median(pings)),
        "ping_samples_ns": pings,
        "version_rtt_ns": int(statistics.median(versions)),
        "version_samples_ns": versions,
    }


def _connect(mode: Mode) -> tuple[Endpoint, docker.APIClient]:
    """The mode's engine kind says where it listens (and starts it, when isobench runs it: Podman)."""
    try:
        endpoint = driver_for(mode).endpoint(mode)
    except UserError as exc:
        raise Skip("config", str(exc)) from None
    timeout = max(mode.timeouts.ping, mode.timeouts.create)
    client, _ = _engine_call(lambda: endpoints.make_client(endpoint, timeout), mode.timeouts.ping + 5, "connect", mode)
    return endpoint, client


def resolve_image(mode: Mode, version_info: dict[str, Any]) -> str:
    """The image a mode runs. Windows presets pick nanoserver by the engine's build."""
    if mode.image.endswith(":auto"):
        from bench.engine import windows

        return windows.image_for_build(mode.image, windows.build_of(version_info))
    return mode.image


def image_record(ref: str, img: dict[str, Any]) -> dict[str, Any]:
    """The header's image facts. The id alone changes on every `docker import` (and every
    VM boot re-imports), so the content identity goes beside it: what compare matches on."""
    from bench.engine.image import build_record, content_identity

    record = {
        "ref": ref,
        "id": img.get("Id"),
        "size": img.get("Size"),
        "os": img.get("Os"),
        "os_version": img.get("OsVersion"),
        "architecture": img.get("Architecture"),
        "content": content_identity(img),
    }
    if ref.startswith("isobench/busybox"):  # built here from busybox: can it be rebuilt identically?
        record["build"] = build_record(img)
    return record


def _inspect_image(client: docker.APIClient, mode: Mode, image: str) -> dict[str, Any]:
    try:
        img, _ = _timed(lambda: client.inspect_image(image), mode.timeouts.create, "inspect image")
    except docker.errors.ImageNotFound:
        hint = (
            "build it with 'isobench image'" if image.startswith("isobench/") else f"pull it with 'docker pull {image}'"
        )
        if mode.workload is not None:  # the user named this image: a typo is theirs to fix, not a mode to skip
            raise UserError(
                f"workload {mode.workload.name!r} (mode {mode.name!r}) names image {image!r}, which is not on the "
                f"engine: fix the image reference, or {hint}."
            ) from None
        raise Skip("image_missing", f"mode {mode.name!r}: image {image!r} is not on the engine: {hint}.") from None
    except Exception as exc:
        category, message = driver_for(mode).classify(exc)
        raise Skip(category, f"mode {mode.name!r}: inspect image failed ({category}): {message}") from None
    found: dict[str, Any] = img
    return found


def check_mode(mode: Mode, run_id: str) -> ModeCheck:
    record: dict[str, Any] = {
        "requested": {"runtime": mode.runtime, "isolation": mode.isolation, "image": mode.image},
        "role": mode.role,
        # part of the mode's identity: compare refuses sets whose modes ran different workloads
        "workload": mode.workload.to_record() if mode.workload else None,
    }
    try:
        endpoint, client = _connect(mode)
        record["endpoint"] = endpoint.record()
        record["api_version"] = client.api_version
        record.update(round_trips(client, mode))
        version, _ = _engine_call(client.version, mode.timeouts.ping, "version", mode)
        info, _ = _engine_call(client.info, mode.timeouts.ping, "info", mode)
        driver = driver_for(mode)
        record["engine"] = driver.engine_record(version, info)
        # Where this engine kind takes each view the run records, and what it does not offer at all.
        record["engine_offers"] = driver.offers.record()
        record["engine_lacks"] = driver.offers.lacking()
        refusal = driver.check_mode(mode, info)
        if refusal is not None:
            raise Skip(refusal.category, refusal.reason)
        image = resolve_image(mode, version)
        _engine_call(lambda: driver.ensure_image(client, image), mode.timeouts.create * 4, "load image", mode)
        img = _inspect_image(client, mode, image)
        record["image"] = image_record(image, img)
        if info.get("OSType") == "windows":
            record["windows"] = _windows_check(mode, version, info, img)
        # Windows engines report a missing hypervisor (0xc0351000) and a build mismatch only when the
        # container starts, so there the trial container is started too.
        record.update(_trial(client, mode, image, run_id, start=info.get("OSType") == "windows"))
        record["usable"] = True
        return ModeCheck(mode.name, True, record, ModeRuntime(mode, endpoint, client, image, record))
    except Skip as skip:
        record.update(usable=False, skip_category=skip.category, skip_reason=skip.reason)
        return ModeCheck(mode.name, False, record)


def _windows_check(mode: Mode, version: dict[str, Any], info: dict[str, Any], img: dict[str, Any]) -> dict[str, Any]:
    """Windows engines: the host build, and whether this isolation can run this image's build.

    Process isolation shares the host's kernel, so the image build must match the host's
    (see bench.engine.windows for the documented exceptions); Hyper-V isolation runs any image
    not newer than the host. Checked before the run, so the skip names the rule.
    """
    from bench.engine import windows

    facts = windows.engine_facts(version, info)
    host_build, image_build = facts.get("build"), windows.image_build(img.get("OsVersion"))
    facts["image_build"] = image_build
    facts["image_ubr"] = windows.image_ubr(img.get("OsVersion"))
    isolation = mode.isolation if mode.isolation != "default" else str(info.get("Isolation") or "process")
    facts["effective_isolation"] = isolation
    if host_build is None or image_build is None:
        return facts
    verdict = (
        windows.hyperv_isolation_ok(host_build, image_build)
        if isolation == "hyperv"
        else windows.process_isolation_ok(
            host_build, image_build, bool(facts.get("client")), facts.get("ubr"), facts["image_ubr"]
        )
    )
    facts["compatibility"] = verdict.rule
    if not verdict.ok:
        raise Skip(failures.OS_MISMATCH, f"mode {mode.name!r}: {verdict.rule}.")
    return facts


def _trial(client: docker.APIClient, mode: Mode, image: str, run_id: str, start: bool = False) -> dict[str, Any]:
    """Creates, inspects and removes one container: the engine accepts the isolation and
    runtime, and we learn the isolation it actually applies. With ``start`` (Windows engines)
    the container is also started, since HCS refuses a hypervisor-less or mismatched start
    only then; on Linux a trial start would hide a hung runtime in preflight instead of
    recording it as the run's timeouts."""
    kwargs = create_kwargs(client, mode, image, run_id)
    created, _ = _engine_call(lambda: client.create_container(**kwargs), mode.timeouts.create, "trial create", mode)
    cid = created["Id"]
    try:
        if start:
            _engine_call(lambda: client.start(cid), mode.timeouts.start, "trial start", mode)
        info, _ = _engine_call(lambda: client.inspect_container(cid), mode.timeouts.create, "trial inspect", mode)
    finally:
        try:
            call_with_timeout(lambda: client.remove_container(cid, force=True), mode.timeouts.remove, "trial remove")
        except Exception:
            pass  # the run's sweep by label removes it
    host = info.get("HostConfig") or {}
    reported = host.get("Isolation") or ""
    out: dict[str, Any] = {
        "isolation_reported": reported,
        "runtime_reported": host.get("Runtime"),
        "warnings": created.get("Warnings") or [],
    }
    # An empty or "default" answer means the engine's default; anything else must match.
    out["isolation_mismatch"] = bool(reported) and reported not in ("default", mode.isolation)
    return out


def check_modes(modes: tuple[Mode, ...], run_id: str) -> list[ModeCheck]:
    return [check_mode(m, run_id) for m in modes]


def none_usable_message(checks: list[ModeCheck]) -> str:
    return "no mode is usable:\n" + "\n".join(f"  {c.reason}" for c in checks)
