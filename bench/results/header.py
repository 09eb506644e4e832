"""The header record: one builder for real runs (bench.run) and synthetic sets (bench.results.synthetic),
so both carry the same keys in the same shape (documented in docs/resultset.md). Its input is two typed
records: what every run knows (`RunFacts`) and what its scenario adds (`HeaderFacts`, a session's `facts`)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from bench.core.labels import RUN_LABEL
from bench.results.records import Header
from bench.results.resultset import SCHEMA_NAME, SCHEMA_VERSION

Section = Mapping[str, Any]  # a header section: engine and host answers, documented in docs/resultset.md


@dataclass(frozen=True)
class RunFacts:
    """What every run's header holds, whatever its scenario: the run, its config, the host, the modes
    preflight found usable (and those it skipped), what was swept before it, its leases."""

    run_id: str
    seed: int
    config: Section
    host: Section
    modes: Section
    python: Section = field(default_factory=dict)
    packages: Section = field(default_factory=dict)
    skipped: Section = field(default_factory=dict)
    swept_at_start: int = 0
    leases: Section = field(default_factory=dict)
    concurrent: bool = False
    created: Optional[str] = None  # ISO time; None: now


@dataclass(frozen=True)
class HeaderFacts:
    """A scenario's part of the header: how it times (`harness`), per mode its engine control
    (`cold`), the scale plan and bounds (`scale`), the service scenario's settings and swarm (`service`),
    a first start's image source (`first_start`), the size scenario's images (`size`)."""

    harness: Section
    cold: Section = field(default_factory=dict)
    scale: Optional[Section] = None
    service: Optional[Section] = None
    first_start: Optional[Section] = None  # where a first start's images come from
    size: Optional[Section] = None  # the size scenario's images


def header_record(run: RunFacts, facts: HeaderFacts) -> Header:
    """The header of a set this isobench writes (schema and version its own, the label its runs carry)."""
    return Header(
        schema=SCHEMA_NAME,
        version=SCHEMA_VERSION,
        run_id=run.run_id,
        created=run.created or dt.datetime.now(dt.timezone.utc).isoformat(),
        created_ns=time.time_ns(),
        seed=run.seed,
        config=run.config,
        host=run.host,
        python=run.python,
        packages=run.packages,
        modes=run.modes,
        skipped=run.skipped,
        swept_at_start=run.swept_at_start,
        harness=facts.harness,
        label=RUN_LABEL,
        cold=facts.cold,
        leases=run.leases,
        concurrent=run.concurrent,
        scale=facts.scale or None,
        service=facts.service,
        first_start=facts.first_start,
        size=facts.size,
    )
