"""The header record: one builder for real runs (bench.run) and synthetic sets (bench.results.synthetic),
so both carry the same keys in the same shape (documented in docs/resultset.md)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Optional

from bench.core.labels import RUN_LABEL
from bench.results.resultset import SCHEMA_NAME, SCHEMA_VERSION


def header_record(
    *,
    run_id: str,
    seed: int,
    config: dict[str, Any],
    host: dict[str, Any],
    python: dict[str, Any],
    packages: dict[str, Any],
    modes: dict[str, Any],
    skipped: dict[str, Any],
    swept_at_start: int,
    harness: dict[str, Any],
    cold: Optional[dict[str, Any]] = None,
    leases: Optional[dict[str, Any]] = None,
    concurrent: bool = False,
    created: Optional[str] = None,
    scale: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    return {
        "type": "header",
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": created or dt.datetime.now(dt.timezone.utc).isoformat(),
        "created_ns": time.time_ns(),
        "seed": seed,
        "config": config,
        "host": host,
        "python": python,
        "packages": packages,
        "modes": modes,
        "skipped": skipped,
        "swept_at_start": swept_at_start,
        "harness": harness,
        "label": RUN_LABEL,
        # The cold scenario, per usable mode: how its engine is stopped and started, or why it cannot be.
        "cold": cold or {},
        # Per engine: this run's lease there (bench.engine.lease); `concurrent`: it ran beside another run.
        "leases": leases or {},
        "concurrent": concurrent,
        # The scale scenarios: what runs at which levels, and every bound the run obeys (absent otherwise).
        **({"scale": scale} if scale else {}),
    }
