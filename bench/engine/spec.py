"""The container a mode creates: one definition shared by the preflight trial and every cycle."""

from __future__ import annotations

from typing import Any

import docker

from bench.core.config import Mode
from bench.core.labels import MODE_LABEL, RUN_LABEL


def labels(run_id: str, mode: Mode) -> dict[str, str]:
    """Every container carries the run's label, so a sweep by label finds any leftover."""
    return {RUN_LABEL: run_id, MODE_LABEL: mode.name}


def create_kwargs(client: docker.APIClient, mode: Mode, image: str, run_id: str) -> dict[str, Any]:
    """Arguments for ``APIClient.create_container``.

    Least privilege: never privileged, no network unless the mode asks for one,
    a read-only root filesystem where the engine allows it. Isolation is always
    sent explicitly so the request says what was measured.
    """
    host_config = client.create_host_config(
        isolation=mode.isolation,
        runtime=mode.runtime,
        network_mode=mode.network,
        read_only=mode.read_only or None,
        privileged=False,
        mem_limit=f"{mode.memory_mib}m" if mode.memory_mib else None,
        # Named only when the mode sets them (the Podman presets): a Docker mode's request stays as it was.
        ulimits=[docker.types.Ulimit(name=k, soft=s, hard=h) for k, (s, h) in sorted(mode.ulimits.items())] or None,
    )
    return {
        "image": image,
        "command": list(mode.run_command if mode.cycle == "run" else mode.command),
        "labels": labels(run_id, mode),
        "host_config": host_config,
        "stdin_open": False,
        "tty": False,
        "detach": True,
        "stop_timeout": mode.stop_grace_s,
    }
