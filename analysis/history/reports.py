"""Each set's report as a page of the site: the per-set report (analysis.report) written under
SITE/sets/<host>/<set>/, with links back to its host's timeline and to the index.

A report is rewritten only when its set changed (size, mtime) or the options did: a stamp beside it
holds those and the claim verdicts, so a site of a thousand sets is rebuilt in the time of the new ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from analysis.claims import Claim
from analysis.export.content import Link
from analysis.history.discover import SetData
from analysis.load import Loaded
from analysis.report import build_report

STAMP = ".isobench-history.json"
STAMP_VERSION = 1


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    verdict: str


@dataclass(frozen=True)
class SetReport:
    href: str  # from the site's root
    verdicts: tuple[ClaimVerdict, ...]
    headline: str


def report_dir(site: Path, host: str, name: str) -> Path:
    return site / "sets" / host / name


def _key(data: SetData, figures: bool) -> dict[str, Any]:
    st = data.info.path.stat()
    return {"version": STAMP_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "figures": figures}


def _fresh(stamp: Path, key: dict[str, Any]) -> Optional[SetReport]:
    try:
        held = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(held, dict) or held.get("key") != key:
        return None
    verdicts = tuple(ClaimVerdict(str(c), str(v)) for c, v in held.get("verdicts", []))
    return SetReport(str(held["href"]), verdicts, str(held.get("headline", "")))


def write_report(data: SetData, site: Path, claims: list[Claim], figures: bool, timeline: str) -> SetReport:
    """The set's report in the site (or the one already there, when still fresh)."""
    info = data.info
    out = report_dir(site, info.host, info.name)
    href = f"sets/{info.host}/{info.name}/index.html"
    key = _key(data, figures)
    held = _fresh(out / STAMP, key)
    if held is not None and (out / "index.html").exists():
        return held
    out.mkdir(parents=True, exist_ok=True)
    loaded = Loaded(
        data.frame, {info.name: info.header}, {info.name: info.end}, {info.name: info.path}, costs=data.costs
    )
    nav = (
        Link("index", "../../../index.html"),
        Link(f"{info.host} timeline", f"../../../{timeline}"),
        Link("regressions", "../../../regressions.html"),
    )
    rep = build_report(loaded, info.name, claims, out, with_figures=figures, nav=nav)
    verdicts = tuple(ClaimVerdict(r.claim.id, r.verdict) for r in rep.claims)
    record = {"key": key, "href": href, "headline": rep.headline, "verdicts": [[v.claim, v.verdict] for v in verdicts]}
    (out / STAMP).write_text(json.dumps(record))
    return SetReport(href, verdicts, rep.headline)
