"""Report formats as exporters, as hyperfine does with src/export/: each report section is built once
as content (analysis.export.content) and every format renders the same document, one module per
format. To add a format: a module with ``render(Document) -> str`` and its line in EXPORTERS."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from analysis.export import html, markdown
from analysis.export.content import Document

# The file each exporter writes in the report folder.
EXPORTERS: dict[str, Callable[[Document], str]] = {"report.md": markdown.render, "index.html": html.render}


def write_all(doc: Document, out_dir: Path) -> list[Path]:
    """Every format of ``doc`` into ``out_dir``; returns the files written."""
    written = []
    for name, render in EXPORTERS.items():
        (out_dir / name).write_text(render(doc), encoding="utf-8")
        written.append(out_dir / name)
    return written
