"""The HTML exporter: a Document (analysis.export.content) as index.html, one self-contained file
(figures embedded as data URIs) in which every string from the data is escaped. Its style is the
history site's (analysis.history.site uses STYLE too), so a set's report reads as one of its pages:
the headline as a card first, tables styled and sortable (a click on a column head; a few lines of
inline script, no library), figures sized to read."""

from __future__ import annotations

import base64
import html

from analysis.export.content import (
    Block,
    Document,
    Figure,
    Figures,
    Inline,
    Link,
    Notes,
    Paragraph,
    Section,
    Span,
    Table,
)

# One style for the reports and the history site. Verdicts are coloured by class (a Span's tone).
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:1em 2em 3em}
nav.top{background:#1d2330;padding:.6em 2em;font-size:14px}nav.top a{color:#cfe3ff;margin-right:1.5em}
h1{font-size:1.5em;margin:.6em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #dde1e7}
a{color:#1259c3}
.card{background:#fff;border:1px solid #dde1e7;border-left:6px solid #1259c3;border-radius:6px;padding:.8em 1.2em;
margin:1em 0;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.card img{max-width:640px}
table{border-collapse:collapse;font-size:13px;background:#fff;margin:.5em 0 1em}
td,th{border:1px solid #dde1e7;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f5;position:sticky;top:0}
table.sortable th{cursor:pointer}table.sortable th:after{content:' \\2195';color:#99a}
tbody tr:nth-child(even){background:#fafbfc}tbody tr:hover{background:#eef5ff}
td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:.5em 1em .5em 0}figure img{width:560px;max-width:100%;background:#fff}
.supported,.faster,.equivalent{color:#1a7f45}.contradicted,.slower{color:#c0392b}
.inconclusive,.untestable{color:#777}
.badge{display:inline-block;border-radius:10px;padding:0 .6em;font-size:12px;color:#fff;background:#c0392b}
.text{white-space:normal;text-align:left;min-width:24em}
.badge.drift{background:#b9770e}.badge.ok{background:#1a7f45}
"""
STYLE = f"<style>{CSS}</style>"
# Marked, so a test can tell it from a <script> smuggled in by the data (which is escaped).
# Sorts a table by the column clicked: numbers as numbers ('-' last), text as text; a second click reverses.
SORT_SCRIPT = """<script data-isobench="sort">
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      function key(r) { var s = r.cells[col].textContent.trim(), v = parseFloat(s.replace(/^x/, ''));
        return isNaN(v) || !/^[-x]?[0-9.]/.test(s) ? [1, s] : [0, v]; }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (x[0] !== y[0]) return x[0] - y[0];
        return (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>"""


def nav_bar(links: tuple[Link, ...]) -> str:
    items = "".join(f"<a href='{html.escape(link.href)}'>{html.escape(link.text)}</a>" for link in links)
    return f"<nav class='top'>{items}</nav>" if links else ""


def render(doc: Document) -> str:
    title = html.escape(doc.title)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>", STYLE]
    parts.append(f"</head><body>{nav_bar(doc.nav)}<main><h1>{title}</h1>")
    for section in doc.sections:
        parts += _section(section)
    parts.append(f"</main>{SORT_SCRIPT}</body></html>")
    return "".join(parts)


def table(t: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in t.text_rows())
    return f"<table class='sortable'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(section: Section) -> list[str]:
    parts = []
    if section.heading is not None:
        parts.append(f"<h{section.level}>{html.escape(section.heading)}</h{section.level}>")
    parts += [_block(block) for block in section.blocks]
    if not section.anchor:
        return parts
    card = " class='card'" if section.anchor == "headline" else ""  # the verdict first, as a card
    return [f"<section id='{html.escape(section.anchor)}'{card}>", *parts, "</section>"]


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
