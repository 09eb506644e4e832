"""The Markdown exporter: a Document (analysis.export.content) as report.md. Text is written as it is,
except '|' in a table cell (Markdown would read it as the next column)."""

from __future__ import annotations

from analysis.export.content import Block, Document, Figures, Inline, Notes, Paragraph, Section, Table


def render(doc: Document) -> str:
    nav = [" · ".join(f"[{link.text}]({link.href})" for link in doc.nav), ""] if doc.nav else []
    lines = nav + [f"# {doc.title}", ""]
    for section in doc.sections:
        lines += _section(section)
    # Every block ends in a blank line; the file ends with one newline after the last block.
    return "\n".join(lines[:-1]) + "\n"


def table(t: Table) -> str:
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    for row in t.text_rows():
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def _section(section: Section) -> list[str]:
    lines = [f"{'#' * section.level} {section.heading}", ""] if section.heading is not None else []
    for block in section.blocks:
        lines += _block(block)
    return lines


def _inline(spans: Inline) -> str:
    return "".join(f"**{s.text}**" if s.strong else s.text for s in spans)


def _block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [_inline(block.spans), ""]
    if isinstance(block, Notes):
        return [f"- {_inline(item)}" for item in block.items] + [""]
    if isinstance(block, Table):
        return [table(block), ""]
    if isinstance(block, Figures):
        return [f"![{f.alt}]({f.path.name})" for f in block.items] + [""]
    raise TypeError(f"no Markdown for {type(block).__name__}")
