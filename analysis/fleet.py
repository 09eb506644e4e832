"""The fleet's statistics: each host's own summary and verdict, one model across hosts, the odd hosts.

* Per host and mode: the startup median with its 95% CI (analysis.stats.summarize) and the host's own
  claim verdict (analysis.claims, as its local report would say).
* Across hosts: a mixed-effects model of log startup (statsmodels MixedLM): mode as fixed effect, host
  as random intercept. Each mode's effect over the fleet is exp(coefficient) against the reference mode
  (the fastest by default ranking: runc on Linux), with its 95% CI; the share of variance that is
  host-to-host is the intra-class correlation var(host) / (var(host) + var(residual)). The verdict is
  compare's (analysis.effects.Estimate, analysis.compare.verdict_of: a change when the CI lies wholly beyond
  the ±5% band). A mode measured on one host only cannot be told apart from that host: its effect is
  `inconclusive`, whatever its CI.
* Odd hosts: each host's shift against the fleet's median host (per mode, the ratio of the host's median
  to the median of all hosts' medians, pooled over the modes on the log scale, with a bootstrap CI from
  the host's own samples). A host whose CI lies wholly beyond the host band (HOST_BAND) is an outlier; the
  shift is the host's when it holds in every mode the host ran (the modes keep their order there), the
  mode's on that host when only one mode moved. The facts it does not share with the other hosts are named.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from analysis import effects
from analysis.compare import INCONCLUSIVE, NO_CHANGE, verdict_of
from analysis.load import Loaded, load
from analysis.metrics import measured, outside_warmup, with_derived
from analysis.stats import summarize
from bench.results.records import Header

METRIC = "startup"
HOST_BAND = (
    0.15  # a host differs from the fleet only beyond ±15%: identical nodes run at different times differ by ~10%
)
BOOT = 2000
MIN_EFFECT = 0.05  # a mode's effect over the fleet counts beyond ±5%, as compare's default band
ALPHA = 0.05
SEED = 20261202
FACTS = ("os", "os_build", "kernel", "engine", "default_runtime", "cpus", "memory_gib", "virtualisation")


@dataclass(frozen=True)
class HostRow:
    host: str
    path: str
    status: str  # the set's end status
    facts: dict[str, Any]
    verdict: str  # the host's own claim verdict
    reason: str


@dataclass(frozen=True)
class ModeEffect:
    mode: str
    ratio: float  # exp(fixed effect) against the reference mode
    ci_low: float
    ci_high: float
    hosts: int
    verdict: str  # slower / faster / equivalent / inconclusive
    note: str


@dataclass(frozen=True)
class HostShift:
    host: str
    ratio: float
    ci_low: float
    ci_high: float
    outlier: bool
    attribution: str  # "host", "mode on this host", "" (not an outlier)
    sets_apart: str  # the facts this host does not share with the others


@dataclass(frozen=True)
class FleetModel:
    reference: str
    effects: tuple[ModeEffect, ...]
    host_share: float  # share of log-startup variance that is host-to-host (ICC)
    host_sd: float
    resid_sd: float
    converged: bool
    note: str


@dataclass(frozen=True)
class Fleet:
    hosts: tuple[HostRow, ...]
    per_mode: pd.DataFrame  # host, mode, n, median, ci_low, ci_high, failures
    model: Optional[FleetModel]
    shifts: tuple[HostShift, ...]
    lost: tuple[str, ...]  # one sentence per host that did not complete
    skipped: tuple[str, ...] = field(default_factory=tuple)


def fleet_sets(results: Path) -> tuple[list[Path], dict[str, Any]]:
    """The newest fleet run's sets (from its manifest under RESULTS/fleet/), or, without one, the newest
    set carrying a fleet header per host folder."""
    manifests = sorted((results / "fleet").glob("*.json"))
    if manifests:
        body = json.loads(manifests[-1].read_text())
        return [Path(h["path"]) for h in body.get("hosts", []) if h.get("path")], body
    paths = []
    for folder in sorted(p for p in results.iterdir() if p.is_dir() and p.name != "fleet"):
        sets = sorted(folder.glob("*.jsonl"))
        if sets:
            paths.append(sets[-1])
    return paths, {}


def host_facts(header: Header) -> dict[str, Any]:
    host = header.host
    engines = [
        ((m.get("engine") or {}).get("version") or (m.get("engine") or {}).get("server_version"))
        for m in header.modes.values()
    ]
    runtimes = sorted({str((m.get("engine") or {}).get("default_runtime") or "") for m in header.modes.values()} - {""})
    mem = host.get("memory_bytes")
    dist = host.get("distribution") or {}
    return {
        "os": dist.get("pretty_name") or host.get("os"),
        "os_build": host.get("build") or host.get("os_version") or host.get("kernel"),
        "kernel": host.get("kernel") or host.get("os_release"),
        "engine": next((e for e in engines if e), None),
        "default_runtime": ",".join(runtimes) or None,
        "cpus": host.get("cpu_count"),
        "memory_gib": round(mem / 2**30, 1) if mem else None,
        "virtualisation": host.get("virtualisation_hint") or host.get("hyperv"),
    }


def _claim_verdict(frame: pd.DataFrame, header: Header) -> tuple[str, str]:
    from analysis.claims import check_all, load_claims

    try:
        results = check_all(outside_warmup(frame), load_claims(), header.skipped)
    except Exception as exc:  # noqa: BLE001 - a host's verdict never stops the fleet report
        return "untestable", str(exc).splitlines()[0][:160]
    if not results:
        return "untestable", "no claim applies to this host's modes"
    first = results[0]
    return first.verdict, first.reason


def analyse(results: Path) -> Fleet:
    paths, manifest = fleet_sets(results)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cut-off set is expected here: its status says so
        loaded = load(paths, warn=False)
    rows, per_mode, lost = [], [], []
    for name, header in loaded.headers.items():
        every = with_derived(loaded.frame[loaded.frame["set"] == name])
        host = str(header.host.get("hostname") or name)
        end = loaded.ends.get(name)
        status = end.status if end else "cut off"
        verdict, reason = _claim_verdict(every, header)
        rows.append(HostRow(host, str(loaded.paths[name]), status, host_facts(header), verdict, reason))
        if status != "complete":
            why = (end.reason if end else None) or "no end record"
            lost.append(f"{host}: its set ends {status} ({why}); what arrived is kept")
        s = summarize(measured(every)[lambda f: f["phase"] == METRIC], by=("mode",))
        if len(s):
            s.insert(0, "host", host)
            per_mode.append(s[["host", "mode", "n", "failures", "median", "ci_low", "ci_high"]])
    table = pd.concat(per_mode, ignore_index=True) if per_mode else pd.DataFrame()
    samples = _samples(loaded, rows)
    skipped = tuple(f"{s['host']}: {s['reason']}" for s in manifest.get("skipped", []))
    lost += [f"{h['host']}: {h['reason']}" for h in manifest.get("hosts", []) if not h.get("path")]
    return Fleet(tuple(rows), table, fit_model(samples), tuple(host_shifts(samples, rows)), tuple(lost), skipped)


def _samples(loaded: Loaded, rows: list[HostRow]) -> pd.DataFrame:
    """host, mode, round, log_ms: every measured successful startup sample of the fleet."""
    parts = []
    for (name, _), row in zip(loaded.headers.items(), rows):
        f = measured(with_derived(loaded.frame[loaded.frame["set"] == name]))
        f = f[(f["phase"] == METRIC) & f["ok"]]
        parts.append(
            pd.DataFrame(
                {
                    "host": row.host,
                    "mode": f["mode"].astype(str).to_numpy(),
                    "log_ms": np.log(f["duration_ms"].to_numpy(float)),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["host", "mode", "log_ms"])


def fit_model(samples: pd.DataFrame) -> Optional[FleetModel]:
    """MixedLM of log startup: mode fixed, host random intercept. None when fewer than two hosts."""
    import statsmodels.formula.api as smf

    hosts = samples["host"].nunique() if len(samples) else 0
    if hosts < 2:
        return None
    modes = sorted(samples["mode"].unique(), key=lambda m: samples.loc[samples["mode"] == m, "log_ms"].median())
    reference = "runc" if "runc" in modes else modes[0]
    data = samples.assign(mode=pd.Categorical(samples["mode"], [reference, *[m for m in modes if m != reference]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter: `converged` says what matters
        fit = smf.mixedlm("log_ms ~ C(mode)", data, groups=data["host"]).fit(reml=True)
    var_host = float(fit.cov_re.iloc[0, 0]) if fit.cov_re.size else 0.0
    var_res = float(fit.scale)
    ref_hosts = int(data.loc[data["mode"] == reference, "host"].nunique())
    found = []
    for mode in data["mode"].cat.categories[1:]:
        key = f"C(mode)[T.{mode}]"
        n_hosts = int(data.loc[data["mode"] == mode, "host"].nunique())
        # MixedLM's Wald interval is a normal one: as an Estimate, a t of infinite degrees of freedom.
        est = effects.Estimate(
            float(fit.params[key]), float(fit.bse[key]), math.inf, "hosts (mixed model)", (ref_hosts, n_hosts)
        )
        found.append(_effect(mode, est, n_hosts))
    share = var_host / (var_host + var_res) if var_host + var_res > 0 else math.nan
    note = f"{hosts} hosts: the host variance rests on {hosts} values" + (
        " (few: read it as rough)" if hosts < 5 else ""
    )
    return FleetModel(
        reference, tuple(found), share, math.sqrt(var_host), math.sqrt(var_res), bool(fit.converged), note
    )


def _effect(mode: str, est: effects.Estimate, hosts: int) -> ModeEffect:
    """The mode's effect over the fleet, decided as compare decides a change (one t: the verdict agrees with
    the interval); "no change detected" reads `inconclusive` here, as a mode on one host only does."""
    low, high = est.interval()
    if hosts < 2:
        return ModeEffect(
            mode,
            est.ratio,
            low,
            high,
            hosts,
            INCONCLUSIVE,
            "measured on one host only: its effect cannot be told apart from that host's",
        )
    verdict = verdict_of(est.ratio, low, high, est.p_beyond(MIN_EFFECT), ALPHA, MIN_EFFECT)
    return ModeEffect(mode, est.ratio, low, high, hosts, INCONCLUSIVE if verdict == NO_CHANGE else verdict, "")


def host_shifts(samples: pd.DataFrame, rows: list[HostRow]) -> list[HostShift]:
    """Each host against the fleet's median host, pooled over the modes it ran (see the module's docstring)."""
    if samples.empty or samples["host"].nunique() < 2:
        return []
    rng = np.random.default_rng(SEED)
    fleet = samples.groupby(["host", "mode"])["log_ms"].median().groupby("mode").median()
    facts = {r.host: r.facts for r in rows}
    out = []
    for host, g in samples.groupby("host", sort=True):
        per_mode = {m: gm["log_ms"].to_numpy() for m, gm in g.groupby("mode")}
        shifts = {m: float(np.median(v) - fleet[m]) for m, v in per_mode.items()}
        boots = np.mean(
            [np.median(rng.choice(v, (BOOT, len(v))), axis=1) - fleet[m] for m, v in per_mode.items()], axis=0
        )
        ratio = math.exp(float(np.mean(list(shifts.values()))))
        low, high = (math.exp(q) for q in np.percentile(boots, [2.5, 97.5]))
        outlier = low > 1 + HOST_BAND or high < 1 / (1 + HOST_BAND)
        attribution = ""
        if outlier:
            moved = [m for m, s in shifts.items() if abs(s) > math.log1p(HOST_BAND)]
            attribution = "host" if len(moved) == len(shifts) else f"mode {moved[0]} on this host"
        out.append(HostShift(str(host), ratio, low, high, outlier, attribution, sets_apart(str(host), facts)))
    return out


def sets_apart(host: str, facts: dict[str, dict[str, Any]]) -> str:
    """The facts where this host differs from every other host ("" when it shares them all)."""
    others = [f for h, f in facts.items() if h != host]
    mine = facts.get(host, {})
    differ = [f"{k} {mine.get(k)}" for k in FACTS if others and all(o.get(k) != mine.get(k) for o in others)]
    return ", ".join(differ)
