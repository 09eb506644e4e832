"""`isobench fleet report RESULTS`: fleet.md, fleet.html (one content, both exporters), fleet.csv (one row
per host and mode), and the figures: a per-host forest plot of startup medians and a host × mode heat map."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.export import html, markdown  # noqa: E402
from analysis.export.content import Document, Figure, Figures, Notes, Paragraph, Section, Table, plain  # noqa: E402
from analysis.fleet import Fleet, analyse  # noqa: E402
from bench.core.errors import UserError  # noqa: E402


def _forest(fleet: Fleet, out: Path) -> Path:
    t = fleet.per_mode.dropna(subset=["median"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(t) + 1.2)))
    y = np.arange(len(t))[::-1]
    outliers = {s.host for s in fleet.shifts if s.outlier}
    for yi, (_, r) in zip(y, t.iterrows()):
        colour = "#C44E52" if r["host"] in outliers else "#4C72B0"
        ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=colour, linewidth=2)
        ax.plot([r["median"]], [yi], "o", color=colour)
    ax.set_yticks(y, [f"{r['host']} · {r['mode']}" for _, r in t.iterrows()], fontsize=8)
    ax.set_xlabel("startup median, ms (95% CI); red: an outlier host")
    ax.set_title("Startup per host and mode")
    ax.grid(axis="x", alpha=0.3)
    path = out / "fleet_forest.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _heatmap(fleet: Fleet, out: Path) -> Path:
    grid = fleet.per_mode.pivot(index="host", columns="mode", values="median")
    fig, ax = plt.subplots(figsize=(2 + 1.4 * grid.shape[1], 1 + 0.5 * grid.shape[0]))
    im = ax.imshow(grid.to_numpy(float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (i, j), v in np.ndenumerate(grid.to_numpy(float)):
        ax.text(j, i, "-" if math.isnan(v) else f"{v:.0f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(im, ax=ax, label="startup median, ms")
    ax.set_title("Host × mode")
    path = out / "fleet_heatmap.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _model_sections(fleet: Fleet) -> list[Section]:
    m = fleet.model
    if m is None:
        return [
            Section(
                "The fleet model",
                (Paragraph(plain("fewer than two hosts brought startup samples back: no model across hosts.")),),
            )
        ]
    rows = tuple((e.mode, m.reference, e.ratio, e.ci_low, e.ci_high, e.hosts, e.verdict, e.note) for e in m.effects)
    lead = (
        f"MixedLM on log startup, mode fixed, host random: the host-to-host share of variance is "
        f"{m.host_share:.0%} (host sd {m.host_sd:.3f}, residual sd {m.resid_sd:.3f} on the log scale); "
        f"{'converged' if m.converged else 'did NOT converge: read it as inconclusive'}; {m.note}."
    )
    table = Table(("mode", "against", "ratio", "ci_low", "ci_high", "hosts", "verdict", "note"), rows, 3)
    return [Section("The fleet model", (Paragraph(plain(lead)), table))]


def _host_sections(fleet: Fleet) -> list[Section]:
    facts = tuple(fleet.hosts[0].facts) if fleet.hosts else ()
    hosts = Table(
        ("host", "status", *facts, "claim"),
        tuple((h.host, h.status, *(h.facts.get(k) for k in facts), h.verdict) for h in fleet.hosts),
    )
    per_mode = Table(
        ("host", "mode", "n", "failures", "median_ms", "ci_low", "ci_high"),
        tuple(
            tuple(r)
            for r in fleet.per_mode[["host", "mode", "n", "failures", "median", "ci_low", "ci_high"]].itertuples(
                index=False
            )
        ),
    )
    shifts = Table(
        ("host", "vs fleet", "ci_low", "ci_high", "outlier", "attributed to", "sets it apart"),
        tuple(
            (
                s.host,
                s.ratio,
                s.ci_low,
                s.ci_high,
                "yes" if s.outlier else "no",
                s.attribution or "-",
                s.sets_apart or "no recorded fact",
            )
            for s in fleet.shifts
        ),
        3,
    )
    return [
        Section("Hosts", (hosts,)),
        Section("Startup per host and mode", (per_mode,)),
        Section("Odd hosts", (shifts,)),
    ]


def headline(fleet: Fleet) -> list[str]:
    lines = []
    for s in fleet.shifts:
        if s.outlier:
            lines.append(
                f"{s.host} is the outlier: {s.ratio:.2f}× the fleet's median host (95% CI "
                f"{s.ci_low:.2f}–{s.ci_high:.2f}), attributed to the {s.attribution}; what sets it apart: "
                f"{s.sets_apart or 'no recorded fact (the cause is not in its header)'}."
            )
    lines += [f"lost: {x}" for x in fleet.lost] + [f"left out: {x}" for x in fleet.skipped]
    return lines or ["no host stands apart from the fleet beyond ±15%, and every host completed."]


def write_fleet_report(results: Path, out: Optional[Path] = None) -> int:
    if not results.is_dir():
        raise UserError(f"{results} is not a results folder: pass the folder holding results/<host>/ sets.")
    fleet = analyse(results)
    if not fleet.hosts:
        raise UserError(f"{results} holds no fleet result sets: run `isobench fleet run` first.")
    out = out or results / "fleet" / "report"
    out.mkdir(parents=True, exist_ok=True)
    figures = Figures(
        (Figure(_forest(fleet, out), "startup per host and mode"), Figure(_heatmap(fleet, out), "host × mode heat map"))
    )
    doc = Document(
        f"Fleet report: {len(fleet.hosts)} hosts",
        (
            Section(None, (Notes(tuple(plain(x) for x in headline(fleet))),)),
            *_host_sections(fleet),
            *_model_sections(fleet),
            Section("Figures", (figures,)),
        ),
    )
    (out / "fleet.md").write_text(markdown.render(doc), encoding="utf-8")
    (out / "fleet.html").write_text(html.render(doc), encoding="utf-8")
    csv = fleet.per_mode.copy()
    shift = {s.host: s for s in fleet.shifts}
    csv["host_vs_fleet"] = [shift[h].ratio if h in shift else math.nan for h in csv["host"]]
    csv["outlier_host"] = [bool(shift[h].outlier) if h in shift else False for h in csv["host"]]
    csv["host_status"] = [{h.host: h.status for h in fleet.hosts}.get(h) for h in csv["host"]]
    csv.to_csv(out / "fleet.csv", index=False)
    print("\n".join(headline(fleet)))
    if fleet.model is not None:
        for e in fleet.model.effects:
            print(
                f"{e.mode} vs {fleet.model.reference} over the fleet: {e.ratio:.2f}× "
                f"({e.ci_low:.2f}–{e.ci_high:.2f}) {e.verdict}"
            )
        print(f"host-to-host share of variance: {fleet.model.host_share:.0%}")
    print(f"wrote {out / 'fleet.html'}, fleet.md, fleet.csv")
    return 0
