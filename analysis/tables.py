"""A table as report.md and index.html show it: one cell format for both, so the Markdown and the
HTML of every report section (warm, cold, scale, service) print the same numbers."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd


def cell_text(value: Any, digits: int = 2) -> str:
    """A float to ``digits`` places ('-' for NaN: a value the data could not give); anything else as str."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def md_table(df: pd.DataFrame, digits: int = 2) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        # a '|' inside a cell would end it early: Markdown reads it as the next column
        lines.append("| " + " | ".join(cell_text(r[c], digits).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def html_table(df: pd.DataFrame, digits: int = 2) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell_text(r[c], digits))}</td>" for c in df.columns) + "</tr>"
        for _, r in df.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
