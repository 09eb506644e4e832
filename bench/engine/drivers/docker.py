"""The Docker Engine API driver: dockerd on this host, the VM's engine, swarm nodes, anything reached
over unix, npipe, tcp+TLS or ssh (bench.engine.endpoints)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import docker

from bench.core.config import Mode
from bench.engine import classify, endpoints, memory, sweep
from bench.engine.drivers.base import DOCKER_API, Offer, Offers, Refusal
from bench.engine.endpoints import Endpoint
from bench.engine.events import EventCollector

if TYPE_CHECKING:
    from bench.engine.control.restart import EngineControl

OFFERS = Offers(
    events=Offer(True, "GET /events filtered by the run's label: create, start, die, destroy timeNano"),
    memory=Offer(True, "PSS of each containerd shim (-id CID) and its descendants, /proc smaps_rollup"),
    cold_restart=Offer(True, "bench.engine.control.restart: systemd, the dockerd process, the VM, docker-machine"),
    runtime_per_container=Offer(True, "HostConfig.Runtime, checked against /info Runtimes"),
    isolation=Offer(True, "HostConfig.Isolation, reported back by the trial container's inspect"),
    services=Offer(True, "swarm services through the manager (the service scenario)"),
)


def engine_record(version: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """What the header keeps of an engine: its GET /version and GET /info, the facts that matter."""
    return {
        "version": version.get("Version"), "api_version": version.get("ApiVersion"),
        "min_api_version": version.get("MinAPIVersion"), "os": version.get("Os"), "arch": version.get("Arch"),
        "kernel": version.get("KernelVersion"),
        "components": {c.get("Name"): c.get("Version") for c in version.get("Components") or []},
        "os_type": info.get("OSType"), "operating_system": info.get("OperatingSystem"),
        "storage_driver": info.get("Driver"), "cgroup_driver": info.get("CgroupDriver"),
        "cgroup_version": info.get("CgroupVersion"), "default_runtime": info.get("DefaultRuntime"),
        "runtimes": sorted((info.get("Runtimes") or {}).keys()), "isolation_default": info.get("Isolation"),
        "ncpu": info.get("NCPU"), "mem_total": info.get("MemTotal"), "name": info.get("Name"),
        "security_options": info.get("SecurityOptions"),
        "data_root": info.get("DockerRootDir"),  # named when it fills (the engine_disk_full stop)
    }  # fmt: skip


class DockerDriver:
    kind = "docker"
    api = DOCKER_API
    offers = OFFERS
    attach_inits = False  # dockerd's attach only opens the stream; the runtime runs inside start

    def endpoint(self, mode: Mode) -> Endpoint:
        return endpoints.resolve(mode.endpoint_settings)

    def engine_record(self, version: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        return {"kind": self.kind, **engine_record(version, info)}

    def check_mode(self, mode: Mode, info: dict[str, Any]) -> Optional[Refusal]:
        runtimes = sorted((info.get("Runtimes") or {}).keys())
        if mode.runtime and mode.runtime not in runtimes:
            return Refusal(
                classify.RUNTIME_UNKNOWN,
                f"mode {mode.name!r}: runtime {mode.runtime!r} is not registered with the engine "
                f'(it has {", ".join(runtimes) or "none"}): add it to daemon.json "runtimes" and reload dockerd.',
            )
        return None

    def ensure_image(self, client: docker.APIClient, ref: str) -> None:
        """dockerd keeps its images: `isobench image` (make image) builds the test image once."""

    def events(self, client_factory: Callable[[], docker.APIClient], label: str) -> EventCollector:
        return EventCollector(client_factory, label).start()

    def runtime_memory(self, cids: list[str]) -> dict[str, Any]:
        return memory.runtime_pss(cids)

    def control(self, mode: Mode, endpoint: Endpoint) -> tuple[Optional["EngineControl"], str]:
        from bench.engine.control.restart import control_for

        return control_for(mode, endpoint)

    def sweep(
        self, client: docker.APIClient, run_id: Optional[str], timeout: float, keep_runs: frozenset[str]
    ) -> tuple[int, list[str]]:
        return sweep.sweep(client, run_id, timeout=timeout, keep_runs=keep_runs)

    def classify(self, exc: BaseException) -> tuple[str, str]:
        return classify.classify(exc)

    def advice(self, category: str) -> Optional[str]:
        return classify.advice_for(category)

    def close(self) -> None:
        """Nothing to stop: isobench never starts a Docker engine for a run (the VM is the run's own business)."""
