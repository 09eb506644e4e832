"""The engine kinds isobench measures, one driver each (see base.EngineDriver).

A mode names its kind (``engine = "docker"``, the default, or ``"podman"``); everything that differs
between kinds is asked of the driver: preflight (bench.engine.preflight), the timed calls' path
(bench.measure.calls, keyed by ``driver.api``), error classification in a cycle
(bench.measure.docker), the run's event collectors. How to add one: docs/architecture.md.
"""

from __future__ import annotations

from bench.core.config import ENGINE_KINDS, Mode
from bench.engine.drivers.base import EngineDriver, Offer, Offers, Refusal
from bench.engine.drivers.docker import DockerDriver
from bench.engine.drivers.podman import PodmanDriver

# One instance per kind for the process: a driver that starts an engine (Podman) keeps it for the run.
DRIVERS: dict[str, EngineDriver] = {"docker": DockerDriver(), "podman": PodmanDriver()}

__all__ = ["DRIVERS", "ENGINE_KINDS", "EngineDriver", "Offer", "Offers", "Refusal", "close_all", "driver_for"]


def driver_for(kind_or_mode: "str | Mode") -> EngineDriver:
    kind = kind_or_mode.engine if isinstance(kind_or_mode, Mode) else kind_or_mode
    try:
        return DRIVERS[kind]
    except KeyError:
        raise ValueError(f"no engine driver for {kind!r}: known kinds are {', '.join(DRIVERS)}") from None


def close_all() -> None:
    """Stops what any driver started (the Podman services): called on every exit path of a command."""
    for driver in DRIVERS.values():
        driver.close()
