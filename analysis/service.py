"""The service scenario's analysis (issue #13): a ClusterLoader2-style table of Swarm service startup.

Per mode and replica count N (and all N together): for each task metric (create_to_schedule,
schedule_to_run, run_to_ready, service_startup) and each per-service one (makespan, scale_down,
service_remove), the number of successes and failures, and p50/p90/p99 each with a 95%
distribution-free confidence interval from order statistics (the binomial ranks around the
quantile). A p99 from fewer than 100 values is flagged: it is then one of the largest few values.
An interval bound the data cannot give (a p99's upper bound needs about 370 values) is left open.

The SLO (Kubernetes' pod startup SLO: p99 of startup at most 5 s) is marked on service_startup:
`met` when a one-sided 95% upper bound of the p99 is within it (which takes at least 299 values),
`missed` when a lower bound is beyond it, and `inconclusive` otherwise. Tasks of one service share
its create and its nodes, so they are not independent: these intervals describe the tasks
measured; the claim (claims.toml) is tested on services instead, one per mode and round, paired by
round (``paired_services``).

Per node: the same metrics per node, so a slow node shows. Reads the set's records (the frame
does not carry the node, the task or its state times); only bench.core and bench.results are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
from scipy.stats import binom

from bench.core.phases import SERVICE, SERVICE_PHASES, TASK_METRICS
from bench.results.records import Header, Sample
from bench.results.resultset import read_resultset

METRICS = TASK_METRICS + SERVICE_PHASES
CONFIDENCE = 0.95
P99_MIN_N = 100
DEFAULT_SLO_S = 5.0
ALL = "all"


@dataclass
class ServiceData:
    """One set's service samples as rows (with node and task), its header, and the SLO."""

    name: str
    rows: pd.DataFrame
    header: Header
    slo_ms: float

    @property
    def measured(self) -> pd.DataFrame:
        return self.rows[~self.rows["warmup"]]


def _row(rec: Sample, roles: dict[str, str]) -> dict[str, Any]:
    d = rec.detail or {}
    return {
        "mode": rec.mode,
        "role": roles.get(rec.mode, ""),
        "round": rec.round,
        "level": rec.level,
        "service": rec.group,
        "slot": rec.slot,
        "phase": rec.phase,
        "ok": rec.ok,
        "error": rec.error,
        "message": rec.message,
        "duration_ms": rec.duration_ns / 1e6 if rec.duration_ns is not None else math.nan,
        "warmup": rec.warmup,
        "node": d.get("node"),
        "task": d.get("task"),
        "detail": d,
    }


def load_service(path: Path, name: Optional[str] = None) -> Optional[ServiceData]:
    """The set's service samples, or None when it has none."""
    rs = read_resultset(Path(path))
    samples = [s for s in rs.samples if s.scenario == SERVICE]
    if not samples:
        return None
    roles = rs.header.roles()
    rows = pd.DataFrame([_row(s, roles) for s in samples])
    settings = (rs.header.service or {}).get("settings") or {}
    slo_s = float(settings.get("slo_s") or DEFAULT_SLO_S)
    return ServiceData(name or Path(path).stem, rows, rs.header, slo_s * 1000.0)


def quantile_ci(values: np.ndarray, q: float, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(estimate, low, high) of the q-quantile: the estimate interpolated, the interval from order
    statistics (ranks l < u with P(x_(l) <= quantile <= x_(u)) >= confidence under Binomial(n, q));
    a bound the data are too few for is NaN (open)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    est = float(np.percentile(x, q * 100))
    alpha = 1 - confidence
    lo_rank = int(binom.ppf(alpha / 2, n, q))  # 1-based rank of the lower bound
    hi_rank = int(binom.ppf(1 - alpha / 2, n, q)) + 1
    # The interpolated estimate can sit just outside its order-statistic bounds when n is tiny: keep it inside.
    low = min(float(x[lo_rank - 1]), est) if lo_rank >= 1 else math.nan
    high = max(float(x[hi_rank - 1]), est) if hi_rank <= n else math.nan
    return est, low, high


def slo_verdict(values: np.ndarray, slo_ms: float, q: float = 0.99, confidence: float = CONFIDENCE) -> str:
    """Whether the q-quantile is within the SLO, one-sided at ``confidence`` from order statistics:
    `met` when an upper bound is (it needs n >= 299 values for p99 at 95%), `missed` when a lower
    bound is beyond it, `inconclusive` otherwise."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return ""
    upper = int(binom.ppf(confidence, n, q)) + 1  # P(quantile <= x_(upper)) >= confidence
    lower = int(binom.ppf(1 - confidence, n, q))  # P(quantile >= x_(lower)) >= confidence
    if upper <= n and x[upper - 1] <= slo_ms:
        return "met"
    if lower >= 1 and x[lower - 1] > slo_ms:
        return "missed"
    return f"inconclusive (n<{min_n_for_slo(q, confidence)})" if upper > n else "inconclusive"


def min_n_for_slo(q: float = 0.99, confidence: float = CONFIDENCE) -> int:
    """The fewest values whose largest bounds the q-quantile from above at ``confidence``."""
    return int(math.ceil(math.log(1 - confidence) / math.log(q)))


def _stats(g: pd.DataFrame, metric: str, slo_ms: float) -> dict[str, Any]:
    ok = g.loc[g["ok"], "duration_ms"].to_numpy(float)
    failed = g[~g["ok"]]
    reasons = failed["error"].astype(str).value_counts()
    row: dict[str, Any] = {
        "n": len(ok),
        "failures": len(failed),
        "failure_rate": len(failed) / len(g) if len(g) else math.nan,
        "failure_reasons": "; ".join(f"{k} {v}" for k, v in reasons.items()),
    }
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        row[name], row[f"{name}_low"], row[f"{name}_high"] = quantile_ci(ok, q)
    row["p99_flag"] = f"n<{P99_MIN_N}" if 0 < len(ok) < P99_MIN_N else ""
    row["slo"] = slo_verdict(ok, slo_ms) if metric == "service_startup" else ""
    return row


def cl2_table(data: ServiceData) -> pd.DataFrame:
    """Per mode, N (and all N), metric: counts, p50/p90/p99 with CIs, the p99 flag and the SLO mark."""
    rows = []
    measured = data.measured
    for (mode, role), by_mode in measured.groupby(["mode", "role"], sort=True):
        levels = sorted(by_mode["level"].dropna().unique())
        for level in [*levels, ALL]:
            part = by_mode if level == ALL else by_mode[by_mode["level"] == level]
            for metric in METRICS:
                g = part[part["phase"] == metric]
                if len(g):
                    n_label = ALL if level == ALL else int(level)
                    rows.append(
                        {"mode": mode, "role": role, "N": n_label, "metric": metric, **_stats(g, metric, data.slo_ms)}
                    )
    return pd.DataFrame(rows)


def node_table(data: ServiceData) -> pd.DataFrame:
    """Per mode, node and task metric: counts and p50/p90/p99, so a slow node shows."""
    rows = []
    tasks = data.measured[data.measured["phase"].isin(TASK_METRICS)]
    for (mode, node, metric), g in _by_node(tasks):
        ok = g.loc[g["ok"], "duration_ms"].to_numpy(float)
        row = {"mode": mode, "node": node, "metric": metric, "n": len(ok), "failures": int((~g["ok"]).sum())}
        for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            row[name] = float(np.percentile(ok, q * 100)) if len(ok) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _by_node(tasks: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    out = []
    nodes = tasks.assign(node=tasks["node"].fillna("(no node)"))
    for (mode, node), g in nodes.groupby(["mode", "node"], sort=True):
        for metric in TASK_METRICS:
            part = g[g["phase"] == metric]
            if len(part):
                out.append(((str(mode), str(node), metric), part))
    return out


def paired_services(
    frame: pd.DataFrame, mode_a: str, mode_b: str, metric: str
) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """The claim's unit for the service scenario: per round (one N, one service per mode), each
    mode's median of its successful tasks, aligned by round. None when the modes share no round."""
    sub = frame[(frame["phase"] == metric) & frame["ok"] & frame["mode"].isin([mode_a, mode_b])]
    if sub.empty:
        return None
    wide = sub.pivot_table(
        index=["set", "round"], columns="mode", values="duration_ms", aggfunc="median", observed=True
    )
    if mode_a not in wide or mode_b not in wide:
        return None
    wide = wide[[mode_a, mode_b]].dropna()
    return (wide[mode_a].to_numpy(), wide[mode_b].to_numpy()) if len(wide) else None


def replicas_apart(frame: pd.DataFrame) -> pd.DataFrame:
    """For tables keyed by phase alone (compare): service rows named "<metric> N=<n>", so sets are
    compared per replica count and never pooled across them."""
    is_service = (frame["scenario"] == SERVICE).to_numpy()
    if not is_service.any():
        return frame
    phase = frame["phase"].astype(str).to_numpy(copy=True)
    level = frame["level"].to_numpy(float)
    phase[is_service] = [f"{p} N={int(n)}" if n == n else p for p, n in zip(phase[is_service], level[is_service])]
    return frame.assign(phase=pd.Categorical(phase))
