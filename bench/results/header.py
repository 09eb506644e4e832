"""The header record: one builder for real runs (bench.run) and synthetic sets (bench.results.synthetic),
so both carry the same keys in the same shape (documented in docs/resultset.md)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Optional

from bench.core.labels import RUN_LABEL
from bench.results.records import Header
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
    service: Optional[dict[str, Any]] = None,
    first_start: Optional[dict[str, Any]] = None,
    size: Optional[dict[str, Any]] = None,
) -> Header:
    """The header of a set this isobench writes (schema and version its own, the label its runs carry)."""
    return Header(
        schema=SCHEMA_NAME,
        version=SCHEMA_VERSION,
        run_id=run_id,
        created=created or dt.datetime.now(dt.timezone.utc).isoformat(),
        created_ns=time.time_ns(),
        seed=seed,
        config=config,
        host=host,
        python=python,
        packages=packages,
        modes=modes,
        skipped=skipped,
        swept_at_start=swept_at_start,
        harness=harness,
        label=RUN_LABEL,
        cold=cold or {},
        leases=leases or {},
        concurrent=concurrent,
        scale=scale or None,
        service=service,
        first_start=first_start,
        size=size,
    )
