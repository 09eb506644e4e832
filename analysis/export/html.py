"""The HTML exporter: a Document (analysis.export.content) as index.html, one self-contained file
(figures embedded as data URIs, no script) in which every string from the data is escaped."""

from __future__ import annotations

import base64
import html

from analysis.export.content import Block, Document, Figure, Figures, Inline, Notes, Paragraph, Section, Span, Table

# Verdicts are coloured by class (a Span's tone).
STYLE = (
    "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:12px}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}"
    ".supported{color:#2a7} .contradicted{color:#c33} "
    ".inconclusive,.untestable{color:#888}img{max-width:100%}</style>"
)


def render(doc: Document) -> str:
    title = html.escape(doc.title)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>", STYLE]
    parts.append(f"</head><body><h1>{title}</h1>")
    for section in doc.sections:
        parts += _section(section)
    parts.append("</body></html>")
    return "".join(parts)


def table(t: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in t.text_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(section: Section) -> list[str]:
    parts = []
    if section.heading is not None:
        parts.append(f"<h{section.level}>{html.escape(section.heading)}</h{section.level}>")
    parts += [_block(block) for block in section.blocks]
    return [f"<section id='{html.escape(section.anchor)}'>", *parts, "</section>"] if section.anchor else parts


def _span(s: Span) -> str:
    text = html.escape(s.text)
    tone = f" class='{html.escape(s.tone)}'" if s.tone else ""
    if s.strong:
        return f"<b{tone}>{text}</b>"
    return f"<span{tone}>{text}</span>" if tone else text


def _inline(spans: Inline) -> str:
    return "".join(_span(s) for s in spans)


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.path.read_bytes()).decode("ascii")
    return f"<figure><img alt='{html.escape(f.alt)}' src='data:image/png;base64,{data}'></figure>"


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_inline(block.spans)}</p>"
    if isinstance(block, Notes):
        return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return table(block)
    if isinstance(block, Figures):
        return "".join(_figure(f) for f in block.items)
    raise TypeError(f"no HTML for {type(block).__name__}")
