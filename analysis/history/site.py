"""The history as a static site: index.html (hosts × modes), one timeline per host and metric, and
regressions.html; each set's report lies under sets/ (analysis.history.reports). Every page works
from file:// with no network: the chart library is copied beside the pages (assets/), the charts'
data is inline, and every string from the data is escaped.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any, Optional

from analysis.export.html import SORT_SCRIPT, STYLE
from analysis.history.build import Found, History, HostHistory, Series, verdict_text
from analysis.history.regressions import MAX_TABLES, CompareTable, either_side
from bench.results.records import Header

UPLOT_VERSION = "1.6.32"  # analysis/history/vendor/README.md
HERE = Path(__file__).resolve().parent
ASSETS = {"uPlot.iife.min.js": HERE / "vendor", "uPlot.min.css": HERE / "vendor", "history.js": HERE / "static"}
esc = html.escape


def _num(x: float) -> str:
    return "-" if x != x else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def page(title: str, body: str, root: str, charts: bool = False) -> str:
    """A page of the site; ``root``: the way back to the site's root from it ('' or '../../')."""
    nav = (
        f"<nav class='top'><a href='{root}index.html'>index</a><a href='{root}regressions.html'>regressions</a>"
        f"<span style='color:#99a'>isobench history</span></nav>"
    )
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>{STYLE}"
    if charts:
        head += f"<link rel='stylesheet' href='{root}assets/uPlot.min.css'>"
        head += "<style>.chart{position:relative;background:#fff;border:1px solid #dde1e7;border-radius:6px;"
        head += "padding:.5em;margin:1em 0}.tip{display:none;position:absolute;z-index:10;background:#fff;"
        head += "border:1px solid #99a;border-radius:4px;padding:6px 8px;font-size:12px;pointer-events:none;"
        head += "box-shadow:0 2px 6px rgba(0,0,0,.15);max-width:360px}.tip .k{color:#667}</style>"
    scripts = SORT_SCRIPT
    if charts:
        scripts += (
            f"<script src='{root}assets/uPlot.iife.min.js'></script><script src='{root}assets/history.js'></script>"
        )
    return f"{head}</head><body>{nav}<main><h1>{esc(title)}</h1>{body}</main>{scripts}</body></html>"


def _table(columns: list[str], rows: list[list[str]], cls: str = "sortable") -> str:
    """Cells are HTML already (each escaped where it was built)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badges(h: HostHistory, mode: str) -> str:
    series = [s for s in h.series if s.mode == mode]
    out = ""
    if any(f.open for s in series for f in s.changes):
        out += " <span class='badge'>open change</span>"
    if any(s.drift for s in series):
        out += " <span class='badge drift'>drift</span>"
    return out


def _cell(h: HostHistory, mode: str, unit: str) -> str:
    s = next((s for s in h.series if s.mode == mode and s.metric == "startup"), None)
    s = s or next((s for s in h.series if s.mode == mode), None)
    if s is None or not s.points:
        return "-"
    lv = s.points[-1].level
    latest = "" if s.points[-1].set == h.newest.info.name else " (older set)"
    return (
        f"{_num(lv.center)} {esc(unit)} <small>[{_num(lv.low)}-{_num(lv.high)}]</small>{esc(latest)}{_badges(h, mode)}"
    )


def _first_metric(h: HostHistory) -> str:
    """The timeline a host's name links to: startup's, which every host has (a page saying why it is
    empty when no set gave a level, e.g. with --reference and sets that lack the reference mode)."""
    return "startup" if "startup" in h.metrics or not h.metrics else h.metrics[0]


def index_page(history: History) -> str:
    modes = sorted({s.mode for h in history.hosts for s in h.series})
    rows = []
    for h in history.hosts:
        newest = h.newest
        links = " ".join(f"<a href='{esc(h.timeline(m))}'>{esc(m)}</a>" for m in h.metrics)
        rows.append(
            [
                f"<a href='{esc(h.timeline(_first_metric(h)))}'>{esc(h.host)}</a>",
                str(len(h.sets)),
                f"<a href='{esc(newest.report.href)}'>{esc(newest.info.name)}</a>",
            ]
            + [_cell(h, m, history.settings.unit) for m in modes]
            + [esc(verdict_text(newest.report.verdicts)), links]
        )
    n_sets = sum(len(h.sets) for h in history.hosts)
    n_open = sum(1 for f in history.changes if f.open)
    lead = (
        f"<div class='card'><b>{len(history.hosts)} host(s), {n_sets} result set(s); {n_open} open change(s)"
        f"</b> (beyond ±{history.settings.min_effect:.0%}, after each host's accepted baseline): see "
        f"<a href='regressions.html'>regressions</a>. Each cell: the newest set's startup level "
        f"({esc(history.settings.unit)}) with its 95% CI.</div>"
    )
    body = lead + _table(["host", "sets", "newest set"] + modes + ["claims (newest set)", "timelines"], rows)
    if history.unreadable:
        items = "".join(f"<li><code>{esc(str(u.path))}</code>: {esc(u.reason)}</li>" for u in history.unreadable)
        body += f"<h2>Sets that cannot be read ({len(history.unreadable)})</h2><ul class='unreadable'>{items}</ul>"
    return page("isobench history", body, "")


def _label(f: Found) -> str:
    c = f.change
    return f"x{c.ratio:.2f} ({c.low:.2f}-{c.high:.2f})"


def chart_spec(h: HostHistory, metric: str, unit: str = "ms") -> dict[str, Any]:
    """What history.js draws: the host's sets (time, rank in compare's order, factor values, report),
    each mode's [level, low, high, median, n] per set (null where the set lacks the mode), the changes
    and drift windows by set index."""
    series = [s for s in h.series if s.metric == metric]
    where = {hs.info.name: i for i, hs in enumerate(h.sets)}
    rank = {name: k for k, name in enumerate(h.factor_order)}
    sets = []
    for hs in h.sets:
        mode_keys = {s.mode for s in series}
        factors = {k: v for m in sorted(mode_keys) for k, v in _factors(hs.info.header, m).items()}
        sets.append(
            {
                "name": hs.info.name,
                "created": hs.info.created,
                "time": hs.info.created_ns / 1e9,
                "rank": rank.get(hs.info.name, 0),
                "factor": hs.factor or hs.info.name[:15],
                "href": "../../" + hs.report.href,
                "factors": factors,
            }
        )
    values: dict[str, list[Optional[list[float]]]] = {}
    for s in series:
        row: list[Optional[list[float]]] = [None] * len(h.sets)
        for p in s.points:
            lv = p.level
            row[where[p.set]] = [lv.center, lv.low, lv.high, lv.median, lv.n]
        values[s.mode] = row
    changes = [
        {"mode": f.mode, "at": where[f.at], "label": _label(f), "open": f.open} for s in series for f in s.changes
    ]
    drift = [
        {"mode": s.mode, "start": where[s.points[s.drift.start].set], "end": where[s.points[s.drift.end].set]}
        for s in series
        if s.drift
    ]
    return {
        "metric": metric,
        "modes": [s.mode for s in series],
        "sets": sets,
        "values": values,
        "changes": changes,
        "drift": drift,
        "orderedBy": h.ordered_by,
        "unit": unit,
    }


def _factors(header: Header, mode: str) -> dict[str, str]:
    from analysis.history.attribute import factor_values

    return factor_values(header, mode)


def _json(data: Any) -> str:
    """JSON safe inside a <script> element: '</' cannot close it."""
    return json.dumps(data, allow_nan=False, default=str).replace("</", "<\\/")


def _changes_table(series: list[Series], root: str) -> str:
    rows = []
    for s in series:
        for f in s.changes:
            c = f.change
            rows.append(
                [
                    esc(s.mode),
                    f"<a href='{root}sets/{esc(f.host)}/{esc(f.at)}/index.html'>{esc(f.at)}</a>",
                    f"x{c.ratio:.3f}",
                    f"{c.low:.3f}-{c.high:.3f}",
                    f"{c.p:.3g}",
                    "<span class='badge'>open</span>" if f.open else "accepted",
                    f"<div class='text'>{esc(f.attribution.sentence)}</div>",
                ]
            )
    if not rows:
        return "<p class='nochange'>No change beyond the minimum effect in this metric.</p>"
    return _table(["mode", "first set of the new level", "ratio", "95% CI", "p", "status", "what changed"], rows)


def _drift_notes(series: list[Series]) -> str:
    items = [
        f"<li>{esc(s.mode)}: drift x{s.drift.ratio:.3f} (95% CI {s.drift.low:.3f}-{s.drift.high:.3f}) over "
        f"{esc(s.points[s.drift.start].set)} .. {esc(s.points[s.drift.end].set)}, no single step</li>"
        for s in series
        if s.drift
    ]
    return f"<h2>Drift</h2><ul>{''.join(items)}</ul>" if items else ""


def timeline_page(h: HostHistory, metric: str, unit: str = "ms") -> str:
    series = [s for s in h.series if s.metric == metric]
    if not series:
        why = "No set of this host gave a level of this metric (with --reference: no set has both modes)."
        return page(f"{h.host}: {metric}", f"<p class='nochange'>{esc(why)}</p>", "../../")
    spec = chart_spec(h, metric, unit)
    others = " ".join(f"<a href='{esc(Path(h.timeline(m)).name)}'>{esc(m)}</a>" for m in h.metrics if m != metric)
    chart = (
        f"<div class='chart' id='chart-{esc(metric)}'><div>x: <button data-x='time'>time</button> "
        f"<button data-x='factor'>{esc(h.ordered_by)}</button> <small>drag to zoom, double-click to zoom out, "
        f"click a point for its set's report</small></div><div class='plot'></div><div class='tip'></div>"
        f"<script type='application/json'>{_json(spec)}</script></div>"
    )
    rows = []
    for hs in h.sets:
        cells = [
            f"<a href='../../{esc(hs.report.href)}'>{esc(hs.info.name)}</a>",
            esc(hs.info.created),
            esc(hs.factor or "-"),
        ]
        for s in series:
            lv = next((p.level for p in s.points if p.set == hs.info.name), None)
            cells.append("-" if lv is None else f"{_num(lv.center)} [{_num(lv.low)}-{_num(lv.high)}]")
        rows.append(cells)
    body = (
        f"<p>Each mode's level per set ({esc(unit)}, the batch-means median with its 95% CI), in time order or in "
        f"the order of {esc(h.ordered_by)}. Other metrics: {others or 'none'}.</p>{chart}<h2>Changes</h2>"
        f"{_changes_table(series, '../../')}{_drift_notes(series)}<h2>Sets</h2>"
        + _table(["set", "started", h.ordered_by] + [f"{s.mode} ({unit})" for s in series], rows)
    )
    return page(f"{h.host}: {metric}", body, "../../", charts=True)


def _compare_html(table: CompareTable, mode: str) -> str:
    if not table.rows:
        return f"<p><small>{esc(table.note)}</small></p>"
    rows = [
        [
            ("<b>" + esc(r.mode) + "</b>") if r.mode == mode else esc(r.mode),
            esc(r.phase),
            _num(r.median_old),
            _num(r.median_new),
            f"{r.ratio:.3f}",
            f"{r.ci_low:.3f}-{r.ci_high:.3f}",
            f"<span class='{esc(r.verdict)}'>{esc(r.verdict)}</span>",
        ]
        for r in table.rows
    ]
    note = f"<p><small>{esc(table.note)}</small></p>" if table.note else ""
    return note + _table(["mode", "metric", "median before", "median at", "ratio", "95% CI", "compare's verdict"], rows)


def regressions_page(history: History) -> str:
    paths = {(h.host, hs.info.name): hs.info.path for h in history.hosts for hs in h.sets}
    parts = []
    for k, f in enumerate(history.changes):
        c = f.change
        way = "slower" if c.ratio > 1 else "faster"
        status = "<span class='badge'>open</span>" if f.open else "<span class='badge ok'>accepted</span>"
        before = f"<a href='sets/{esc(f.host)}/{esc(f.before)}/index.html'>{esc(f.before)}</a>"
        at = f"<a href='sets/{esc(f.host)}/{esc(f.at)}/index.html'>{esc(f.at)}</a>"
        table = ""
        if k < MAX_TABLES:
            s = history.settings
            table = _compare_html(
                either_side(paths[(f.host, f.before)], paths[(f.host, f.at)], s.min_effect, s.alpha), f.mode
            )
        parts.append(
            f"<div class='card change'><b>{esc(f.host)} · {esc(f.mode)} · {esc(f.metric)}: x{c.ratio:.3f} "
            f"<span class='{way}'>{way}</span></b> (95% CI {c.low:.3f}-{c.high:.3f}, p {c.p:.3g}) {status}"
            f"<br>{before} → {at}: {esc(f.attribution.sentence)}{table}</div>"
        )
    drifts = [(h, s, s.drift) for h in history.hosts for s in h.series if s.drift is not None]
    intro = (
        f"<p>Every change point, newest first: significant and beyond ±{history.settings.min_effect:.0%}, with "
        f"compare's table of the sets either side (the newest {MAX_TABLES} changes).</p>"
    )
    body = intro + ("".join(parts) or "<p class='nochange'>No change point in any series.</p>")
    if drifts:
        items = "".join(
            f"<li>{esc(h.host)} {esc(s.mode)} {esc(s.metric)}: x{d.ratio:.3f} (95% CI {d.low:.3f}-{d.high:.3f})</li>"
            for h, s, d in drifts
        )
        body += f"<h2>Drift (slow creep, no single step)</h2><ul>{items}</ul>"
    return page("Regressions: every change point", body, "")


def write_site(history: History, site: Path) -> list[Path]:
    """Writes the pages (the reports are already in sets/); returns the pages written."""
    (site / "assets").mkdir(parents=True, exist_ok=True)
    for name, folder in ASSETS.items():
        shutil.copyfile(folder / name, site / "assets" / name)
    written = [site / "index.html", site / "regressions.html"]
    written[0].write_text(index_page(history), encoding="utf-8")
    written[1].write_text(regressions_page(history), encoding="utf-8")
    for h in history.hosts:
        for metric in sorted(set(h.metrics) | {"startup"}):  # startup always: the reports link to it
            out = site / h.timeline(metric)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(timeline_page(h, metric, history.settings.unit), encoding="utf-8")
            written.append(out)
    return written
