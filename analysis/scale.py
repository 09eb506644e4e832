"""Statistics of the scale scenarios: startup per burst size, open-loop arrival rate and density.

Per mode and level: p50, p90 and p99 startup with bootstrap CIs, the slowdown p50(N)/p50(1),
the throughput N/makespan, the knee of a rate sweep, memory per container for density.

Containers of one burst share its conditions (the same moment, the same neighbours), so they are
not independent samples: a burst's CIs resample whole bursts (a cluster bootstrap), which is
what the repetitions of each (mode, N) are for. With few bursts the intervals are wide, as they
should be. p99 of fewer than 100 startups is flagged: it is then little more than the maximum.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from analysis import stats
from bench.core.phases import BURST, DENSITY, MAKESPAN, RATE, SCALE_SCENARIOS, STEP, TEARDOWN
from bench.results.records import Sample
from bench.results.resultset import parse

QUANTILES = (0.5, 0.9, 0.99)
P99_MIN_N = 100  # below this many startups, p99 is flagged
N_RESAMPLES = 2000


def scale_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples of the scale scenarios outside warm-up."""
    return frame[frame["scenario"].isin(SCALE_SCENARIOS) & ~frame["warmup"]]


def _clusters(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Values padded into a (cluster x size) array, NaN where a cluster is short."""
    keys, inverse = np.unique(ids, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(keys))
    out = np.full((len(keys), int(sizes.max()) if len(sizes) else 0), np.nan)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cols = np.arange(len(values)) - np.repeat(starts, sizes)
    out[inverse[order], cols] = values[order]
    return out


def _resample(values: np.ndarray, ids: Optional[np.ndarray], rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` bootstrap resamples as rows (NaN padding where clusters differ in size): whole
    clusters when ``ids`` are given, single values otherwise."""
    if ids is None or len(np.unique(ids)) == len(values):
        return values[rng.integers(0, len(values), size=(n, len(values)))]
    table = _clusters(values, ids)
    picks = rng.integers(0, len(table), size=(n, len(table)))
    return table[picks].reshape(n, -1)


def quantile_cis(
    values: np.ndarray, ids: Optional[np.ndarray] = None, qs: Sequence[float] = QUANTILES, confidence: float = 0.95
) -> dict[float, tuple[float, float, float]]:
    """q -> (estimate, low, high): percentile bootstrap, resampling whole clusters when ``ids`` are given."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return {q: (math.nan, math.nan, math.nan) for q in qs}
    est = {q: float(np.quantile(x, q)) for q in qs}
    if len(x) < 2:
        return {q: (est[q], math.nan, math.nan) for q in qs}
    order = np.argsort(x, kind="stable")  # the data, not their order in the file, decide
    boot = _resample(
        x[order], None if ids is None else np.asarray(ids)[order], np.random.default_rng(stats.SEED), N_RESAMPLES
    )
    lo_hi = np.nanquantile(boot, list(qs), axis=1)  # (q, resample)
    tail = (1 - confidence) / 2
    return {
        q: (est[q], float(np.quantile(lo_hi[i], tail)), float(np.quantile(lo_hi[i], 1 - tail)))
        for i, q in enumerate(qs)
    }


def ratio_ci(
    base: np.ndarray,
    base_ids: Optional[np.ndarray],
    other: np.ndarray,
    other_ids: Optional[np.ndarray],
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """median(other) / median(base), with a bootstrap CI that resamples whole clusters."""
    a, b = np.sort(np.asarray(base, float)), np.sort(np.asarray(other, float))
    if not len(a) or not len(b):
        return math.nan, math.nan, math.nan
    ratio = float(np.median(b) / np.median(a))
    if len(a) < 2 or len(b) < 2:
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(stats.SEED)
    ra = np.nanmedian(_resample(*_sorted(base, base_ids), rng, N_RESAMPLES), axis=1)
    rb = np.nanmedian(_resample(*_sorted(other, other_ids), rng, N_RESAMPLES), axis=1)
    tail = (1 - confidence) / 2
    boot = rb / ra
    return ratio, float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))


def _sorted(values: np.ndarray, ids: Optional[np.ndarray]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    x = np.asarray(values, float)
    order = np.argsort(x, kind="stable")
    return x[order], None if ids is None else np.asarray(ids)[order]


def slowdown_ratio_ci(
    groups: dict[str, tuple[np.ndarray, Optional[np.ndarray]]], confidence: float = 0.95
) -> tuple[float, float, float]:
    """[median(other at N) / median(other at 1)] / [median(base at N) / median(base at 1)] with a
    bootstrap CI resampling each of the four groups (``groups``: base_n, base_1, other_n, other_1)."""
    med = {k: float(np.median(v)) if len(v) else math.nan for k, (v, _) in groups.items()}
    point = (med["other_n"] / med["other_1"]) / (med["base_n"] / med["base_1"])
    if any(len(v) < 2 for v, _ in groups.values()):
        return point, math.nan, math.nan
    rng = np.random.default_rng(stats.SEED)
    boot = {k: np.nanmedian(_resample(*_sorted(v, ids), rng, N_RESAMPLES), axis=1) for k, (v, ids) in groups.items()}
    ratio = (boot["other_n"] / boot["other_1"]) / (boot["base_n"] / boot["base_1"])
    tail = (1 - confidence) / 2
    return point, float(np.quantile(ratio, tail)), float(np.quantile(ratio, 1 - tail))


def _startups(rows: pd.DataFrame, scenario: str, metric: str = "startup") -> pd.DataFrame:
    return rows[(rows["scenario"] == scenario) & (rows["phase"] == metric)]


def _level_row(g: pd.DataFrame, clustered: bool) -> dict[str, Any]:
    ok = g[g["ok"]]
    values = ok["duration_ms"].to_numpy(float)
    cis = quantile_cis(values, ok["group"].to_numpy() if clustered else None)
    row: dict[str, Any] = {
        "n": len(values),
        "failures": int((~g["ok"]).sum()),
        "failure_rate": float((~g["ok"]).mean()) if len(g) else math.nan,
        "groups": int(g["group"].nunique()),
    }
    for q, name in zip(QUANTILES, ("p50", "p90", "p99")):
        row[name], row[f"{name}_low"], row[f"{name}_high"] = cis[q]
    row["p99_flag"] = "n < 100: p99 is near the maximum" if len(values) < P99_MIN_N else ""
    return row


def burst_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per mode and burst size: startup quantiles with CIs, the slowdown against N = 1, and the
    throughput N / median makespan."""
    rows = scale_rows(frame)
    data = _startups(rows, BURST)
    spans = rows[(rows["scenario"] == BURST) & (rows["phase"] == MAKESPAN)]
    out = []
    for (mode, level), g in data.groupby(["mode", "level"], observed=True, sort=True):
        row = {"mode": str(mode), "role": str(g["role"].iloc[0]), "level": int(level), **_level_row(g, True)}
        base = data[(data["mode"] == mode) & (data["level"] == 1) & data["ok"]]
        here = g[g["ok"]]
        row["slowdown"], row["slowdown_low"], row["slowdown_high"] = ratio_ci(
            base["duration_ms"].to_numpy(),
            base["group"].to_numpy(),
            here["duration_ms"].to_numpy(),
            here["group"].to_numpy(),
        )
        m = spans[(spans["mode"] == mode) & (spans["level"] == level) & spans["ok"]]["duration_ms"].to_numpy(float)
        row["makespan_ms"] = float(np.median(m)) if len(m) else math.nan
        row["throughput_per_s"] = level / (row["makespan_ms"] / 1000) if len(m) else math.nan
        lo, hi = stats.median_ci(m) if len(m) >= 2 else (math.nan, math.nan)
        row["throughput_low"], row["throughput_high"] = level / (hi / 1000), level / (lo / 1000)
        out.append(row)
    return pd.DataFrame(out)


def group_records(path: Any) -> list[Sample]:
    """The group samples (makespan, step, teardown) of a set, with their details (the frame has no details)."""
    records = parse(path, keep_records=True).records or []
    return [r for r in records if r.phase in (MAKESPAN, STEP, TEARDOWN) and r.scenario in SCALE_SCENARIOS]


def _backlog(detail: Mapping[str, Any], duration_s: float) -> tuple[int, int]:
    """(arrivals, still in flight when the arrival window closed)."""
    window = duration_s * 1e9
    arrived = sum(1 for o in detail.get("scheduled_offsets_ns") or [] if o <= window)
    done = sum(1 for o in detail.get("completed_offsets_ns") or [] if o <= window)
    return arrived, max(0, arrived - done)


def rate_table(frame: pd.DataFrame, groups: list[Sample], slo_s: float, duration_s: float) -> pd.DataFrame:
    """Per mode and arrival rate: startup from the scheduled arrival (p50/p99 with CIs), and whether
    completions kept up: behind when more arrivals were still in flight as the window closed
    than a system meeting the SLO would hold (Little's law: rate x SLO)."""
    data = _startups(scale_rows(frame), RATE, "arrival_startup")
    out = []
    for (mode, level), g in data.groupby(["mode", "level"], observed=True, sort=True):
        row = {"mode": str(mode), "role": str(g["role"].iloc[0]), "rate": float(level), **_level_row(g, False)}
        runs = [r for r in groups if r.scenario == RATE and r.mode == mode and r.level == level]
        arrived, backlog = (
            (sum(x) for x in zip(*[_backlog(r.detail or {}, duration_s) for r in runs])) if runs else (0, 0)
        )
        row.update(arrivals=arrived, in_flight_at_end=backlog, backlog_limit=max(1.0, float(level) * slo_s))
        row["realised_rate"] = arrived / duration_s / max(1, len(runs))  # Poisson arrivals: the count varies
        row["behind"] = backlog > row["backlog_limit"]
        row["over_slo"] = bool(row["p99"] > slo_s * 1000) if not math.isnan(row["p99"]) else row["failures"] > 0
        out.append(row)
    return pd.DataFrame(out)


def knees(rates: pd.DataFrame) -> dict[str, Optional[float]]:
    """Per mode: the lowest rate whose p99 passed the SLO or whose completions fell behind (None: no knee)."""
    out: dict[str, Optional[float]] = {}
    for mode, g in rates.groupby("mode", sort=True) if len(rates) else ():
        bad = g[g["over_slo"] | g["behind"]]
        out[str(mode)] = float(bad["rate"].min()) if len(bad) else None
    return out


def density_table(frame: pd.DataFrame, groups: list[Sample]) -> pd.DataFrame:
    """Per mode and step: containers running, probe startup, and memory per container."""
    probes = _startups(scale_rows(frame), DENSITY)
    out = []
    for r in (g for g in groups if g.scenario == DENSITY and g.phase == STEP and not g.warmup):
        d = r.detail or {}
        mem = d.get("memory") or {}
        p = probes[(probes["group"] == r.group) & (probes["mode"] == r.mode) & probes["ok"]]["duration_ms"]
        med = stats.median_ci(p.to_numpy(float)) if len(p) >= 2 else (math.nan, math.nan)
        out.append(
            {
                "mode": r.mode,
                "running": d.get("running"),
                "step_ok": r.ok,
                "step_ms": (r.duration_ns or 0) / 1e6 if r.duration_ns is not None else math.nan,
                "probes": len(p),
                "probe_p50_ms": float(np.median(p)) if len(p) else math.nan,
                "probe_p50_low": med[0],
                "probe_p50_high": med[1],
                "mem_available_gib": (mem.get("mem_available_bytes") or math.nan) / 2**30,
                "mem_drop_per_container_mib": (d.get("mem_available_drop_per_container_bytes") or math.nan) / 2**20,
                "pss_per_container_mib": (d.get("pss_per_container_bytes") or math.nan) / 2**20,
                "error": r.error or "",
            }
        )
    return pd.DataFrame(out)


def density_stops(groups: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per mode: why its density steps stopped, how many ran, and what the teardown left."""
    out = {}
    for r in groups:
        if r.scenario == DENSITY and r.phase == TEARDOWN:
            d = r.detail or {}
            out[r.mode] = {
                "stop_reason": d.get("stop_reason"),
                "running": d.get("running"),
                "removed": d.get("removed"),
                "left": d.get("left") or [],
                "ok": r.ok,
            }
    return out


def level_label(scenario: str, level: float) -> str:
    """How a scale level is named where phases are keyed by name alone (compare): burst N=8,
    rate 2/s, density 16 running."""
    if level != level:  # NaN: a scale sample without a level
        return scenario
    if scenario == BURST:
        return f"burst N={level:g}"
    if scenario == RATE:
        return f"rate {level:g}/s"
    return f"density {level:g} running"


def scale_phases_apart(frame: pd.DataFrame) -> pd.DataFrame:
    """The scale scenarios' rows with their phase renamed ``<scenario level> <phase>`` (burst N=8
    startup), so tables keyed by phase (compare) take them level by level and never pool a burst of 8
    with a warm cycle or a burst of 1."""
    is_scale = frame["scenario"].isin(SCALE_SCENARIOS).to_numpy()
    if not is_scale.any():
        return frame
    phase = frame["phase"].astype(str).to_numpy(copy=True).astype(object)
    levels = frame["level"].to_numpy(float)[is_scale]
    scen = frame["scenario"].astype(str).to_numpy()[is_scale]
    phase[is_scale] = [f"{level_label(s, lv)} {p}" for s, lv, p in zip(scen, levels, phase[is_scale])]
    return frame.assign(phase=pd.Categorical(phase))


def series_metrics(phases: Sequence[str]) -> list[str]:
    """Which metrics a series of sets is drawn for: warm startup when the sets have it, and for
    burst sets the startup at their smallest and largest burst size."""
    out = ["startup"] if "startup" in phases else []
    burst = sorted((float(p.split()[1][2:]), p) for p in phases if p.startswith("burst N=") and p.endswith(" startup"))
    return out + sorted({burst[0][1], burst[-1][1]}, key=lambda p: float(p.split()[1][2:])) if burst else out
