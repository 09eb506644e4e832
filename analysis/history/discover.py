"""Every result set under a results folder, read one at a time through the Parquet cache.

A set that cannot be read (cut off before its header, damaged, not a result set) is listed with the
reason and left out: one bad file never stops the site, and never shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import orjson
import pandas as pd

from analysis.cache import short_reason
from analysis.identity import with_workload_names
from analysis.load import read_set, set_name
from bench.core.paths import safe_name
from bench.results.records import End, Header
from bench.results.resultset import ResultFileError


@dataclass(frozen=True)
class SetInfo:
    """One readable set: where it lies, its host (as its folder under results/ is named) and its header."""

    name: str
    path: Path
    host: str
    created_ns: int
    header: Header
    end: Optional[End]

    @property
    def created(self) -> str:
        return self.header.created


@dataclass(frozen=True)
class Unreadable:
    path: Path
    reason: str


@dataclass(frozen=True)
class SetData:
    info: SetInfo
    frame: pd.DataFrame
    costs: pd.DataFrame  # its cost records (analysis.load), for its report's costs section


def find_sets(root: Path) -> list[Path]:
    """The .jsonl files under ``root`` (hidden files, such as caches and temp files, left out)."""
    return sorted(p for p in root.rglob("*.jsonl") if not p.name.startswith(".") and p.is_file())


def host_of(header: Header, path: Path) -> str:
    """The host as results/<host>/ names it; the folder when the header has no hostname."""
    hostname = header.host.get("hostname")
    return safe_name(str(hostname)) if hostname else path.parent.name


def read_one(path: Path) -> Union[SetData, Unreadable]:
    """The set and its frame, or why it cannot be read, in one sentence."""
    try:
        data = read_set(path, set_name(path))
    except ResultFileError as exc:
        return Unreadable(path, short_reason(exc))
    except Exception as exc:  # noqa: BLE001 - any damage in one set must leave the rest of the site standing
        return Unreadable(path, f"cannot be read ({type(exc).__name__}: {short_reason(exc)})")
    if not len(data.frame) or bool(data.frame["warmup"].all()):
        end = data.end
        why = f"ended {end.status}: {end.reason}" if end else "no end record: cut off"
        return Unreadable(path, f"holds no measured sample ({why})")
    header = data.header
    info = SetInfo(set_name(path), path, host_of(header, path), header.created_ns, header, data.end)
    return SetData(info, with_workload_names(data.frame, header), data.costs)


def header_line(path: Path) -> Optional[dict[str, Any]]:
    """The first line as JSON, without reading the set: enough to order sets and find each host's newest."""
    try:
        with open(path, "rb") as fh:
            head = orjson.loads(fh.readline())
    except (OSError, orjson.JSONDecodeError):
        return None
    return head if isinstance(head, dict) else None


def read_all(paths: list[Path]) -> Iterator[Union[SetData, Unreadable]]:
    """Each set in turn, so only one frame is held at a time (1,000 sets never sit in memory together)."""
    for path in paths:
        yield read_one(path)
