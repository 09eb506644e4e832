"""The report folder: index.html (self-contained, every string escaped) and report.md, both rendered
from one document of sections (analysis.export), summary.csv, claims.json, the figures; and a summary
table with the verdict in the terminal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis import export, plots, scale_report, scenarios, service_report, size_plots, stats
from analysis.claims import Claim, ClaimResult, check_all
from analysis.export.content import (
    Block,
    Document,
    Figure,
    Figures,
    Link,
    Notes,
    Paragraph,
    Section,
    Span,
    plain,
    strong,
)
from analysis.load import Loaded
from analysis.metrics import cold, measured, outside_warmup, with_derived
from analysis.scale_report import ScaleSection
from analysis.service_report import ServiceSection
from analysis.tables import cell_text, table_of
from bench.core.paths import report_dir_for
from bench.core.phases import ALL_PHASES, COLD_DERIVED, DERIVED, ENGINE_PHASES, PHASES, SERVICE

SUMMARY_COLUMNS = [
    "set",
    "mode",
    "role",
    "phase",
    "n",
    "failures",
    "failure_rate",
    "failure_reasons",
    "median",
    "ci_low",
    "ci_high",
    "iqr",
    "p90",
    "p99",
    "mean",
    "std",
    "mad",
    "min",
    "max",
    "outliers",
]
METRICS = list(ALL_PHASES) + list(DERIVED)
# The cold table: how long the engine took to come up, the first container, and both together.
COLD_METRICS = list(ENGINE_PHASES) + ["create", "start", "ready", "startup"] + list(COLD_DERIVED)


@dataclass
class Report:
    out_dir: Path
    summary: pd.DataFrame
    claims: list[ClaimResult]
    figures: list[Path]
    cold: pd.DataFrame
    scale: ScaleSection = field(default_factory=ScaleSection)
    headline: str = ""
    service: ServiceSection = field(default_factory=ServiceSection)


@dataclass
class Extra:
    """What goes above and beside the warm tables: the headline (one figure, one sentence with the
    verdict), the scale scenarios' section and the service scenario's."""

    scale: ScaleSection = field(default_factory=ScaleSection)
    sentence: str = ""
    figure: Optional[Path] = None
    service: ServiceSection = field(default_factory=ServiceSection)


@dataclass(frozen=True)
class ReportContent:
    """What a set's report shows: ``document`` builds its sections from it once, as content that every
    format's exporter (analysis.export) renders, so report.md and index.html cannot say different things."""

    title: str
    header: dict[str, Any]
    end: Optional[dict[str, Any]]
    claims: list[ClaimResult]
    round_trips: pd.DataFrame
    summary: pd.DataFrame
    cold: pd.DataFrame
    figures: list[Path]
    extra: Extra

    def run_line(self) -> str:
        """Which run, on what host, and how it ended ('none (cut off)': no end record was written)."""
        host = self.header.get("host", {})
        end = self.end or {}
        return (
            f"Run {self.header.get('run_id')} on {host.get('hostname')} ({host.get('cpu_model')}, "
            f"{host.get('cpu_count')} CPUs), started {self.header.get('created')}; "
            f"end: {end.get('status', 'none (cut off)')} - {end.get('reason', '')}"
        )

    def concurrency(self) -> Optional[str]:
        return concurrency_note(self.header, self.end)

    def pngs(self) -> list[Path]:
        """The figures both files embed (each figure is written as PNG and SVG; the reports show the PNG)."""
        return [f for f in self.figures if f.suffix == ".png"]


def _console() -> Console:
    """Rich assumes 80 columns when output is not a terminal (make, CI logs): too narrow for the table."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=150)


def round_trips(loaded: Loaded, set_name: str) -> pd.DataFrame:
    """Per mode: the /_ping and /version round trips measured at preflight."""
    rows = []
    for mode, rec in loaded.headers[set_name].get("modes", {}).items():
        ep = rec.get("endpoint") or {}
        rows.append(
            {
                "mode": mode,
                "role": rec.get("role"),
                "endpoint": ep.get("url"),
                "scheme": ep.get("scheme"),
                "ping_ms": (rec.get("ping_rtt_ns") or math.nan) / 1e6,
                "version_ms": (rec.get("version_rtt_ns") or math.nan) / 1e6,
                "engine": (rec.get("engine") or {}).get("version"),
                "runtime": rec.get("runtime_reported"),
                "isolation": rec.get("isolation_reported") or "default",
            }
        )
    return pd.DataFrame(rows)


def _in_metric_order(s: pd.DataFrame, metrics: list[str], by: list[str]) -> pd.DataFrame:
    """Summary rows sorted by ``by`` and then by the metrics' own order (cycle order, derived last)."""
    order = {m: i for i, m in enumerate(metrics)}
    return s.assign(_o=s["phase"].map(order)).sort_values(by + ["_o"]).drop(columns="_o")


def summarize_set(frame: pd.DataFrame) -> pd.DataFrame:
    s = stats.summarize(frame)
    if s.empty:  # a cold-only set has no warm samples
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    return _in_metric_order(s, METRICS, ["set", "mode"])[SUMMARY_COLUMNS].reset_index(drop=True)


COLD_COLUMNS = [
    "mode",
    "role",
    "control",
    "phase",
    "n",
    "failures",
    "failure_reasons",
    "median",
    "ci_low",
    "ci_high",
    "min",
    "max",
]


def summarize_cold(frame: pd.DataFrame, header: dict[str, Any]) -> pd.DataFrame:
    """Per mode: the cold-scenario phases and metrics, with how the engine was restarted."""
    data = cold(frame)
    data = data[data["phase"].isin(COLD_METRICS)]
    if data.empty:
        return pd.DataFrame(columns=COLD_COLUMNS)
    s = _in_metric_order(stats.summarize(data), COLD_METRICS, ["mode"])
    controls = {m: str((rec or {}).get("control", "")) for m, rec in (header.get("cold") or {}).items()}
    s["control"] = s["mode"].astype(str).map(controls).fillna("")
    return s[COLD_COLUMNS].reset_index(drop=True)


def concurrency_note(header: dict[str, Any], end: Optional[dict[str, Any]]) -> Optional[str]:
    """Why this set's timings may include another run's load on the same engine, or None: it ran
    beside a lease holder (--allow-concurrent), or another run joined it so (see bench.engine.lease)."""
    beside = [rec.get("concurrent_with") for rec in (header.get("leases") or {}).values() if rec.get("concurrent_with")]
    joined = (end or {}).get("concurrent_with") or []
    if not beside and not joined:
        return None
    runs = sorted({str(b.get("run_id")) for b in beside} | {str(j) for j in joined})
    return (
        f"CONCURRENT: another isobench run shared an engine with this one ({', '.join(runs)}); "
        "its timings include that load."
    )


def _cold_note(header: dict[str, Any]) -> list[str]:
    """What `engine_up` means per mode, and modes the cold scenario could not run."""
    lines = []
    for mode, rec in (header.get("cold") or {}).items():
        if rec.get("skip_reason"):
            lines.append(f"{mode}: no cold rounds: {rec['skip_reason']}")
        elif rec.get("control") == "vm":
            lines.append(
                f"{mode}: engine_up is the VM's boot to engine ready "
                f"({rec.get('accel') or 'accelerator not recorded'}); "
                f"storage: {rec.get('storage', '')}"
            )
        elif rec.get("control"):
            lines.append(
                f"{mode}: engine_up is a {rec['control']} restart, from the start command to the first /_ping answered"
            )
    return lines


def _claims_table(results: list[ClaimResult]) -> pd.DataFrame:
    rows = []
    for r in results:
        for p in r.pairs:
            rows.append(
                {
                    "claim": r.claim.id,
                    "label": f"{p.base} ({p.base_mode}) < {p.other} ({p.other_mode})",
                    "verdict": p.verdict,
                    "ratio": p.ratio,
                    "ci_low": p.ci_low,
                    "ci_high": p.ci_high,
                    "median_base": p.median_base,
                    "median_other": p.median_other,
                    "n_base": p.n_base,
                    "n_other": p.n_other,
                    "test": p.test,
                    "paired": p.paired,
                    "p_adjusted": p.p_adjusted,
                    "reason": p.reason,
                }
            )
    return pd.DataFrame(rows)


def print_summary(
    summary: pd.DataFrame,
    results: list[ClaimResult],
    console: Optional[Console] = None,
    title: str = "",
    cold_summary: Optional[pd.DataFrame] = None,
) -> None:
    console = console or _console()
    if not summary.empty:  # a cold-only or scale-only set has no warm table to show
        t = Table(title=title or "isobench summary (ms, successes only)")
        for col in ("mode", "role", "phase", "n", "failed", "median", "95% CI", "p90", "p99", "outliers"):
            t.add_column(col, justify="right" if col not in ("mode", "role", "phase") else "left")
        for _, r in summary.iterrows():
            if r["phase"] not in ("startup",) + ALL_PHASES:
                continue
            t.add_row(
                str(r["mode"]),
                str(r["role"]),
                str(r["phase"]),
                str(r["n"]),
                f"{r['failures']} ({r['failure_rate']:.0%})" if r["failures"] else "0",
                cell_text(r["median"]),
                f"{cell_text(r['ci_low'])}-{cell_text(r['ci_high'])}",
                cell_text(r["p90"]),
                cell_text(r["p99"]),
                str(r["outliers"]),
            )
        console.print(t)
    if cold_summary is not None and not cold_summary.empty:
        c = Table(title="cold starts (ms): engine stopped and started before each cycle")
        for col in ("mode", "control", "phase", "n", "failed", "median", "95% CI", "min", "max"):
            c.add_column(col, justify="left" if col in ("mode", "control", "phase") else "right")
        for _, r in cold_summary.iterrows():
            c.add_row(
                str(r["mode"]),
                str(r["control"]),
                str(r["phase"]),
                str(r["n"]),
                str(r["failures"]),
                cell_text(r["median"]),
                f"{cell_text(r['ci_low'])}-{cell_text(r['ci_high'])}",
                cell_text(r["min"]),
                cell_text(r["max"]),
            )
        console.print(c)
    for r in results:
        console.print(
            f"[bold]claim[/bold] {r.claim.text} ({r.claim.metric}): [bold]{r.verdict.upper()}[/bold] - {r.reason}",
            markup=True,
            highlight=False,
        )
        for p in r.pairs:
            console.print(
                f"   {p.base} ({p.base_mode}) < {p.other} ({p.other_mode}): {p.verdict} - {p.reason}",
                markup=False,
                highlight=False,
            )


COLD_TITLE = "Cold starts (the engine stopped and started before each cycle; kept apart from warm)"


def _lead(content: ReportContent) -> list[Section]:
    """Under the title: the headline (its figure, the verdict in one sentence), which run this was, and
    whether another run shared its engine."""
    extra, out = content.extra, []
    if extra.sentence:
        figure = (Figures((Figure(extra.figure, "headline"),)),) if extra.figure is not None else ()
        out.append(Section(None, figure + (Paragraph(strong(extra.sentence)),), anchor="headline"))
    note = content.concurrency()
    out.append(Section(None, (Paragraph(plain(content.run_line())),) + ((Paragraph(strong(note)),) if note else ())))
    return out


def _claims(results: list[ClaimResult]) -> Section:
    """Each claim's verdict and why, then its pairs' (a verdict is a tone: coloured where a format can)."""
    blocks: list[Block] = []
    for r in results:
        verdict = Span(r.verdict, strong=True, tone=r.verdict)
        blocks.append(
            Paragraph(
                (Span(r.claim.text, strong=True), Span(f" ({r.claim.metric}): "), verdict, Span(f" - {r.reason}"))
            )
        )
        pairs = (
            (Span(f"{p.base} ({p.base_mode}) < {p.other} ({p.other_mode}): "), Span(p.verdict, tone=p.verdict),
             Span(f" - {p.reason}"))
            for p in r.pairs
        )  # fmt: skip
        blocks.append(Notes(tuple(pairs)))
    return Section("Claims", tuple(blocks))


def _tables(content: ReportContent) -> list[Section]:
    """The preflight round trips, the warm summary and the cold one (each only where the set has it)."""
    out = [Section("Transport round trips (preflight)", (table_of(content.round_trips),))]
    if not content.summary.empty:
        summary = table_of(content.summary.drop(columns=["set"]))
        out.append(Section("Summary (ms, successful samples; failures counted)", (summary,)))
    if not content.cold.empty:
        notes = Notes(tuple(plain(n) for n in _cold_note(content.header)))
        out.append(Section(COLD_TITLE, (notes, table_of(content.cold))))
    return out


def document(content: ReportContent, nav: tuple[Link, ...] = ()) -> Document:
    """The per-set report as content, every section built once; analysis.export renders it per format.
    ``nav``: links out (the history site's pages, when the report is one of them)."""
    figures = Figures(tuple(Figure(f, f.stem) for f in content.pngs()))
    return Document(
        content.title,
        (
            *_lead(content),
            _claims(content.claims),
            *_tables(content),
            *scale_report.sections(content.extra.scale),
            *content.extra.service.sections(),
            Section("Figures", (figures,)),
        ),
        nav,
    )


def build_report(
    loaded: Loaded,
    set_name: str,
    claims: list[Claim],
    out_dir: Optional[Path] = None,
    with_figures: bool = True,
    nav: tuple[Link, ...] = (),
) -> Report:
    """Writes one set's report folder; returns what it holds. ``nav``: links above its title."""
    every = with_derived(loaded.frame[loaded.frame["set"] == set_name])
    frame = measured(every)  # warm only: cold cycles are summarised apart
    out_dir = out_dir or report_dir_for(loaded.paths[set_name])
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize_set(frame)
    cold_summary = summarize_cold(every, loaded.headers[set_name])
    results = check_all(outside_warmup(every), claims, loaded.headers[set_name].get("skipped"))
    figures: list[Path] = []
    if with_figures and not frame.empty:
        for ph in list(PHASES) + ["startup"]:
            figures += plots.distribution(frame, ph, out_dir)
        figures += plots.ecdf(frame, out_dir)
        figures += plots.drift(frame, out_dir)
        figures += plots.breakdown(summary, out_dir)
    if with_figures and not cold_summary.empty:
        for ph in ("engine_up", "cold_startup"):
            figures += plots.distribution(cold(every), ph, out_dir, title_suffix=" (cold)")
    sec = scale_report.build(every, loaded.headers[set_name], loaded.paths[set_name], out_dir, with_figures)
    figures += size_plots.write(every, out_dir, with_figures)
    if with_figures:
        table = _claims_table(results)
        if not table.empty and table["ratio"].notna().any():
            figures += plots.forest(
                table,
                out_dir,
                "Claim pairs: slower-claimed / faster-claimed median",
                name="claims_forest",
                min_effect=claims[0].min_effect if claims else None,
            )
    summary.to_csv(out_dir / "summary.csv", index=False)
    if not cold_summary.empty:
        cold_summary.to_csv(out_dir / "cold_summary.csv", index=False)
    cp = round_trips(loaded, set_name)
    cp.to_csv(out_dir / "round_trips.csv", index=False)
    (out_dir / "claims.json").write_text(json.dumps([r.to_record() for r in results], indent=2, default=str))
    title = f"isobench report: {set_name}"
    header, end = loaded.headers[set_name], loaded.ends[set_name]
    # The service section reads the set again (task details the frame does not hold), so only a set with
    # service samples pays for it: on a million warm samples that re-read took 14 s of a 30 s report.
    has_services = bool((every["scenario"] == SERVICE).any())
    svc = service_report.build(loaded.paths[set_name], out_dir, with_figures) if has_services else ServiceSection()
    figures = sec.figures + svc.figures + figures
    svc_figure = next((f for f in svc.figures if f.name == "service_startup_cdf.png"), None)
    headline_figure = sec.headline_figure or svc_figure or _warm_headline_figure(figures)
    extra = Extra(sec, headline_sentence(results), headline_figure, svc)
    content = ReportContent(title, header, end, results, cp, summary, cold_summary, figures, extra)
    export.write_all(document(content, nav), out_dir)
    return Report(out_dir, summary, results, figures, cold_summary, sec, extra.sentence, svc)


def _warm_headline_figure(figures: list[Path]) -> Optional[Path]:
    for name in ("distribution_startup.png", "distribution_cold_startup.png"):
        found = next((f for f in figures if f.name == name), None)
        if found is not None:
            return found
    return next((f for f in figures if f.suffix == ".png"), None)


def _pair_gist(r: ClaimResult) -> str:
    """A claim's verdict in a clause: the ratios when it holds, else the first pair's reason, short."""
    if r.verdict == "supported":
        return "; ".join(
            f"{p.base} < {p.other}: x{p.ratio:.2f} (95% CI {p.ci_low:.2f}-{p.ci_high:.2f})" for p in r.pairs
        )
    first = next((p for p in r.pairs if p.verdict == r.verdict), None)
    why = (first.reason if first else r.reason).split(": ")[0]
    if first is not None and r.claim.statistic == "slowdown" and first.ratio == first.ratio:
        why += f": slowdown x{first.median_other:.2f} vs x{first.median_base:.2f}, ratio {first.ratio:.2f}"
        why += f" (95% CI {first.ci_low:.2f}-{first.ci_high:.2f})"
    return f"{first.base} < {first.other}: {why}" if first else why


def headline_sentence(results: list[ClaimResult]) -> str:
    """One sentence with the verdict: the scale claims' when the set has any, else every claim's."""
    chosen = [r for r in results if scenarios.of(r.claim.scenario).headline] or results
    if not chosen:
        return "No claim applies to this result set: the tables below hold its measurements."
    return "Verdict: " + "; ".join(f"{r.claim.text}: {r.verdict.upper()} ({_pair_gist(r)})" for r in chosen) + "."
