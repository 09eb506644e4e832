"""Is a mode's image the same in every set? By content, not by id.

`docker import` stamps the import time into the image config, so each import of
the same tarball gets a new id: every VM boot (which imports again), every
`bench image --force`, every fresh host. The header's ``image.content`` (the
layer diff ids, content addresses, and the config a container inherits) is the
same for all of them. Sets written before isobench recorded it have only the
id: then the id decides, and the comparison says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

import pandas as pd

from bench.results.records import Header

# Each part of the content identity, and what a difference in it means for a run.
CONTENT_PARTS = {
    "layers": "the filesystem layers (a different busybox or base image)",
    "cmd": "the command a container inherits",
    "entrypoint": "the entrypoint",
    "env": "the environment",
    "working_dir": "the working directory",
    "user": "the user",
    "os": "the OS",
    "os_version": "the OS version (for Windows, what process isolation depends on)",
    "architecture": "the architecture",
}
_DIGEST = re.compile(r"(sha256:[0-9a-f]{12})[0-9a-f]{52}")


def short(value: Any) -> str:
    """A value for a message, with sha256 digests cut to 12 hex digits."""
    return _DIGEST.sub(r"\1…", str(value))


@dataclass
class ImageCheck:
    """Per mode: differences that refuse a comparison, differences that follow the
    factor under study, and notes that explain what was (not) compared."""

    mismatches: dict[str, list[Any]] = field(default_factory=dict)
    factors: dict[str, list[Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _differs(values: list[Any]) -> bool:
    return len({repr(v) for v in values}) > 1


def _follows_build(records: list[dict[str, Any]]) -> bool:
    """A Windows preset picks its image by the engine's build (``image = "...:auto"``):
    then a new build brings a new image by design, and that is the factor, not a confound."""
    return all(str((r.get("requested") or {}).get("image") or "").endswith(":auto") for r in records)


def _busybox_note(mode: str, images: list[dict[str, Any]]) -> str:
    shas = [(img.get("build") or {}).get("busybox_sha256") for img in images]
    if all(shas) and _differs(shas):
        return f"{mode}: the test image was built from different busybox binaries ({' vs '.join(map(short, shas))})"
    return ""


def check_images(mode: str, sets: list[str], records: list[dict[str, Any]]) -> ImageCheck:
    """Compares one mode's image across sets (``records``: the mode's header record per set)."""
    out = ImageCheck()
    images = [r.get("image") or {} for r in records]
    ids = [img.get("id") for img in images]
    found = [img.get("content") for img in images]
    contents: list[dict[str, Any]] = [c for c in found if isinstance(c, dict)]
    if len(contents) < len(found):
        missing = [s for s, c in zip(sets, found) if not isinstance(c, dict)]
        if _differs(ids):
            out.mismatches[f"modes.{mode}.image.id"] = ids
        out.notes.append(
            f"{mode}: no image content identity in {', '.join(missing)} (written by an older isobench): "
            "the image is compared by id, which changes on every import"
        )
        return out
    target = out.factors if _follows_build(records) else out.mismatches
    for part in CONTENT_PARTS:
        values = [c.get(part) for c in contents]
        if _differs(values):
            target[f"modes.{mode}.image.content.{part}"] = values
    for s, img in zip(sets, images):
        if (img.get("build") or {}).get("reproducible") is False:
            out.notes.append(
                f"{mode}: in {s} the test image is not the layer this host's busybox gives "
                "(built by an older recipe or another busybox): 'isobench image --force' rebuilds it"
            )
    if out.mismatches:
        note = _busybox_note(mode, images)
        out.notes += [note] if note else []
    elif _differs(ids) and not out.factors:
        out.notes.append(
            f"{mode}: the image ids differ ({' vs '.join(map(short, ids))}) but the content is the same "
            f"(layers {short(contents[0].get('layers'))}): imported again, not changed"
        )
    return out


def workload_text(record: Any) -> str:
    """A mode's workload as a refusal names it: its name, image and probe (or that it ran none)."""
    if not isinstance(record, dict):
        return "no workload (the mode's own image and first line)"
    probe = record.get("probe") or {}
    return f"workload {record.get('name')!r} ({record.get('image')}, ready by {probe.get('kind')})"


def workload_of(header: Header, mode: str) -> Optional[str]:
    """The name of the workload ``mode`` ran in the set of ``header`` (None: no workload)."""
    record = (header.modes.get(mode) or {}).get("workload")
    return str(record.get("name")) if isinstance(record, dict) and record.get("name") else None


def with_workload_names(frame: pd.DataFrame, header: Header) -> pd.DataFrame:
    """The frame with each mode that ran a workload named ``MODE@WORKLOAD`` (unless its name says so already),
    so that a history never puts one mode's sets of different workloads in one series."""
    renames = {}
    for mode in map(str, frame["mode"].cat.categories if hasattr(frame["mode"], "cat") else frame["mode"].unique()):
        name = workload_of(header, mode)
        if name and not mode.endswith(f"@{name}"):
            renames[mode] = f"{mode}@{name}"
    if not renames:
        return frame
    return frame.assign(mode=frame["mode"].astype(str).replace(renames).astype("category"))


def describe(key: str) -> str:
    """What a content-identity key means, for the refusal message ('' for other keys)."""
    part = key.rsplit(".", 1)[-1]
    return CONTENT_PARTS.get(part, "") if ".image.content." in key else ""
