"""A DataFrame as a table of the report's content (analysis.export.content), with its one cell format;
and the comparison's Markdown table, which is not built as content yet."""

from __future__ import annotations

import pandas as pd

from analysis.export import markdown
from analysis.export.content import Table, cell_text

__all__ = ["cell_text", "md_table", "table_of"]


def table_of(df: pd.DataFrame, decimals: int = 2) -> Table:
    """The frame's columns and rows as they stand (a row's values as pandas gives them row by row)."""
    cols = list(df.columns)
    return Table(tuple(str(c) for c in cols), tuple(tuple(r[c] for c in cols) for _, r in df.iterrows()), decimals)


def md_table(df: pd.DataFrame, digits: int = 2) -> str:
    return markdown.table(table_of(df, digits))
