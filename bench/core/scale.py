"""The scale scenarios' settings: bursts, open-loop arrival rates, density steps (the `[scale]`
table of bench.toml, and the run's --burst, --rate, --density-step, ... flags).

Every cap, bound and timeout a scale run obeys lives here, so the result-set header records
them all (``ScaleSettings`` is written whole into ``config.scale``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Optional

from bench.core.errors import UserError

GIB = 1 << 30
# An open-loop run with no `rates` given (`--scenario rate`) uses these (starts per second).
DEFAULT_RATES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class ScaleSettings:
    # burst: N containers released together by a barrier, each (mode, N) repeated `repeat` times
    burst: tuple[int, ...] = (1, 2, 4, 8, 16)
    repeat: int = 5
    # How long every worker of a burst may wait at the barrier for the others to hold their request.
    barrier_s: float = 30.0
    # Per mode: its own burst sizes, and how many times at most each of its bursts runs (an engine
    # in a TCG-emulated VM takes ~5 s a container alone and ~40 s for a burst of 8).
    burst_levels: dict[str, tuple[int, ...]] = field(default_factory=dict)
    repeat_max: dict[str, int] = field(default_factory=dict)
    # rate: open-loop arrivals at each rate (starts/s) for `rate_duration_s`; poisson or uniform gaps
    rates: tuple[float, ...] = ()
    rate_duration_s: float = 20.0
    arrivals: str = "poisson"
    # Arrivals in flight at once, at most: beyond it an arrival is recorded as refused, never delayed.
    max_inflight: int = 64
    # The startup SLO (Kubernetes' pod-startup SLO is 5 s): the knee of a rate sweep, and the stop
    # rule of density (probe p50 over it).
    slo_s: float = 5.0
    # density: `density_step` idle containers per step, kept running, until one of the stop rules
    density_step: int = 4
    density_max: int = 64
    reserve_gib: float = 2.0  # stop when the host's MemAvailable falls below this
    probes: int = 3  # probe containers timed after each step (their median is checked against the SLO)
    density_skip: tuple[str, ...] = ()  # modes that run no density steps
    # No new burst or rate run starts that would end past this many seconds (None: no budget). Density
    # steps are bounded by their own stop rules, so a budget never leaves a run without them.
    budget_s: Optional[float] = None

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, rec: Optional[dict[str, Any]]) -> "ScaleSettings":
        rec = dict(rec or {})
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in rec.items() if k in known}
        for key in ("burst", "rates", "density_skip"):
            if key in clean:
                clean[key] = tuple(clean[key])
        clean["burst_levels"] = {m: tuple(v) for m, v in (clean.get("burst_levels") or {}).items()}
        return cls(**clean)

    @property
    def reserve_bytes(self) -> int:
        return int(self.reserve_gib * GIB)

    def repeats_for(self, mode: str) -> int:
        return min(self.repeat, self.repeat_max.get(mode, self.repeat))

    def levels_for(self, mode: str) -> tuple[int, ...]:
        return tuple(self.burst_levels.get(mode, self.burst))

    def rates_or_default(self) -> tuple[float, ...]:
        return self.rates or DEFAULT_RATES


_KEYS = tuple(f.name for f in fields(ScaleSettings))


def _positive_ints(value: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise UserError(f"{where} must be a non-empty list of whole numbers, not {value!r}.")
    if any(v < 1 for v in value):
        raise UserError(f"{where} must hold whole numbers of at least 1, not {value!r}.")
    return tuple(sorted(set(value)))


def _positive_reals(value: Any, where: str) -> tuple[float, ...]:
    ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok or any(not (math.isfinite(v) and v > 0) for v in value):
        raise UserError(f"{where} must be a list of numbers greater than 0 (starts per second), not {value!r}.")
    return tuple(sorted({float(v) for v in value}))


def read_scale(table: Any) -> ScaleSettings:
    """The `[scale]` table, read with bench.core.config's typed getters (``table`` is its Table)."""
    d = ScaleSettings()
    where = f"{table.source}: {table.where}"
    burst = table.take("burst")
    rates = table.take("rates")
    per_mode = table.take("burst_levels")
    repeat_caps = table.take("repeat_max")
    skip = table.take("density_skip")
    s = ScaleSettings(
        burst=d.burst if burst is None else _positive_ints(burst, f"{where}.burst"),
        repeat=table.whole("repeat", d.repeat),
        barrier_s=table.real("barrier_s", d.barrier_s),
        burst_levels=_per_mode_levels(per_mode, f"{where}.burst_levels"),
        repeat_max=_caps(repeat_caps, f"{where}.repeat_max"),
        rates=() if rates is None else _positive_reals(rates, f"{where}.rates"),
        rate_duration_s=table.real("rate_duration_s", d.rate_duration_s),
        arrivals=table.text("arrivals", d.arrivals, choices=("poisson", "uniform")),
        max_inflight=table.whole("max_inflight", d.max_inflight),
        slo_s=table.real("slo_s", d.slo_s),
        density_step=table.whole("density_step", d.density_step),
        density_max=table.whole("density_max", d.density_max),
        reserve_gib=table.real("reserve_gib", d.reserve_gib),
        probes=table.whole("probes", d.probes),
        density_skip=_names(skip, f"{where}.density_skip"),
        budget_s=table.number("budget_s", d.budget_s),
    )
    table.done(_KEYS)
    return s


def _caps(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value.values()
    ):
        raise UserError(f"{where} must map mode names to whole numbers of at least 1, not {value!r}.")
    return dict(value)


def _per_mode_levels(value: Any, where: str) -> dict[str, tuple[int, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where} must map mode names to lists of burst sizes, not {value!r}.")
    return {str(m): _positive_ints(v, f"{where}.{m}") for m, v in value.items()}


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{where} must be a list of mode names, not {value!r}.")
    return tuple(value)


def parse_levels(text: str, what: str, integer: bool) -> tuple[Any, ...]:
    """A comma-separated list from the command line (--burst 1,2,4; --rate 0.5,1,2). ``none`` or an
    empty string: no levels (--rate none turns the rate runs of `--scenario scale` off)."""
    if text.strip().lower() in ("", "none", "off"):
        return ()
    values = []
    for part in text.split(","):
        try:
            v: float = int(part) if integer else float(part)
        except ValueError:
            kind = "whole numbers" if integer else "numbers"
            raise UserError(f"{what} {text!r}: list {kind} separated by commas, such as 1,2,4,8.") from None
        if not (math.isfinite(v) and v > 0):
            raise UserError(f"{what} {text!r}: every value must be greater than 0.")
        values.append(v)
    return tuple(sorted(set(values)))


def with_overrides(scale: ScaleSettings, **changes: Any) -> ScaleSettings:
    """The settings with the command line's values (None: not given) on top."""
    given = {k: v for k, v in changes.items() if v is not None}
    return replace(scale, **given) if given else scale
