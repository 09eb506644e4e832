"""A report as content, before any format: a document is a title and sections; a section is a heading
and blocks (paragraphs, notes, tables, figures). Each report section is built once as these values
and every exporter (analysis.export.markdown, analysis.export.html) renders the same ones, so the
formats cannot come to say different things. Frozen: built once, only read after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

# A table cell as the data gave it: a float is shown to the table's decimals, anything else as str.
Cell = Union[str, int, float, bool, None]


def cell_text(value: object, digits: int = 2) -> str:
    """A float to ``digits`` places ('-' for NaN: a value the data could not give); anything else as str."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


@dataclass(frozen=True)
class Span:
    """A run of text. ``strong``: emphasised in every format; ``tone``: a verdict, coloured where the
    format can show colour (HTML), plain text elsewhere."""

    text: str
    strong: bool = False
    tone: Optional[str] = None


# A line of text made of spans: a paragraph's, a note's.
Inline = tuple[Span, ...]


def plain(text: str) -> Inline:
    return (Span(text),)


def strong(text: str) -> Inline:
    return (Span(text, strong=True),)


@dataclass(frozen=True)
class Paragraph:
    spans: Inline


@dataclass(frozen=True)
class Notes:
    """A bulleted list: what the numbers rest on, a claim's pairs, why density stopped."""

    items: tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    decimals: int = 2  # places of every float cell

    def text_rows(self) -> list[list[str]]:
        """The cells as every format prints them (one cell format, so the formats show the same numbers)."""
        return [[cell_text(v, self.decimals) for v in row] for row in self.rows]


@dataclass(frozen=True)
class Figure:
    path: Path  # a PNG in the report folder
    alt: str


@dataclass(frozen=True)
class Figures:
    items: tuple[Figure, ...]


Block = Union[Paragraph, Notes, Table, Figures]


@dataclass(frozen=True)
class Section:
    """``heading`` None: blocks that follow the title or the section before without a heading of their
    own. ``anchor``: an id a format with links can give the section (the headline's)."""

    heading: Optional[str]
    blocks: tuple[Block, ...]
    level: int = 2
    anchor: Optional[str] = None


@dataclass(frozen=True)
class Link:
    """Navigation out of the document (the history site's pages): a relative address and its text."""

    text: str
    href: str


@dataclass(frozen=True)
class Document:
    title: str
    sections: tuple[Section, ...]
    nav: tuple[Link, ...] = ()  # shown above the title where the format has links
