"""What an engine kind must give isobench: the driver interface and its typed records.

A driver answers for one kind of engine (``Mode.engine``): how to reach it, what its header facts
are, whether a mode can run there, how its answers are classified, where its events, memory and
restarts come from, and what it does not offer (the header says so, per mode). The timed calls
themselves go through ``bench.measure.calls``, picked by the driver's ``api``: every engine that
speaks the Docker Engine API (dockerd, Podman's compat service) shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

import docker

from bench.core.config import Mode
from bench.engine.endpoints import Endpoint

if TYPE_CHECKING:
    from bench.engine.control.restart import EngineControl
    from bench.engine.events import EventCollector

DOCKER_API = "docker-engine-api"


@dataclass(frozen=True)
class Offer:
    """One thing isobench records, as this engine kind offers it: ``how`` it is taken, or why not."""

    offered: bool
    how: str

    def record(self) -> dict[str, Any]:
        return {"offered": self.offered, "how": self.how}


@dataclass(frozen=True)
class Offers:
    """What the header says of an engine kind, per mode: where each view comes from, or that it is absent."""

    events: Offer
    memory: Offer
    cold_restart: Offer
    runtime_per_container: Offer
    isolation: Offer
    services: Offer

    def record(self) -> dict[str, Any]:
        return {name: getattr(self, name).record() for name in self.__dataclass_fields__}

    def lacking(self) -> list[str]:
        return [name for name in self.__dataclass_fields__ if not getattr(self, name).offered]


@dataclass(frozen=True)
class Refusal:
    """Preflight's verdict that a mode cannot run on this engine: a failure category and one sentence."""

    category: str
    reason: str


class EngineDriver(Protocol):
    """One engine kind. Every call that reaches the engine is bounded by the caller's timeout."""

    kind: str
    api: str  # the wire protocol of the timed calls (bench.measure.calls.CALLS is keyed by it)
    offers: Offers
    # The attach call does container work (the OCI runtime's create): then it is timed inside `start`,
    # where dockerd does that work, instead of as untimed set-up before it.
    attach_inits: bool

    def endpoint(self, mode: Mode) -> Endpoint:
        """Where the mode's engine listens; an engine isobench runs itself is started here (untimed)."""
        ...

    def engine_record(self, version: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        """The header's engine facts, from GET /version and GET /info."""
        ...

    def check_mode(self, mode: Mode, info: dict[str, Any]) -> Optional[Refusal]:
        """Preflight of a mode against the engine's /info: None if it can run."""
        ...

    def ensure_image(self, client: docker.APIClient, ref: str) -> None:
        """Makes the test image present where the engine cannot be expected to have it (untimed)."""
        ...

    def events(self, client_factory: Callable[[], docker.APIClient], label: str) -> "EventCollector":
        """The run's event collector on one engine of this kind."""
        ...

    def runtime_memory(self, cids: list[str]) -> dict[str, Any]:
        """The PSS of the runtime's processes for these containers (engines on this host only)."""
        ...

    def control(self, mode: Mode, endpoint: Endpoint) -> tuple[Optional["EngineControl"], str]:
        """How the engine is stopped and started for cold cycles, or why it cannot be."""
        ...

    def sweep(
        self, client: docker.APIClient, run_id: Optional[str], timeout: float, keep_runs: frozenset[str]
    ) -> tuple[int, list[str]]:
        """Force-removes the containers labelled with ``run_id`` (any run's when None)."""
        ...

    def classify(self, exc: BaseException) -> tuple[str, str]:
        """(category, message) for a failed call: the engine's words kept, a stable category beside them."""
        ...

    def advice(self, category: str) -> Optional[str]:
        """How to fix a failure of this category on this engine, where known."""
        ...

    def close(self) -> None:
        """Stops whatever the driver started (an engine process, its socket)."""
        ...
