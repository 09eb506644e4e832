"""A first start's `pull`: the image removed from the engine (untimed), then pulled from the registry (timed),
with each layer's download and extract times read from the engine's progress stream.

Docker's pull stream says, per layer (its short id): `Pulling fs layer`, `Downloading` (with progress),
`Download complete`, `Extracting`, `Pull complete`, or `Already exists` (a layer another image still holds:
the test image's busybox layer under the size images). Each status is stamped with ``perf_counter_ns``
as it arrives, relative to the pull's start: `download_ns` runs from the first `Downloading` to
`Download complete`, `extract_ns` from the first `Extracting` to `Pull complete`. These go in the pull
sample's ``detail["pull"]`` (its one field), with the registry's address and the bytes downloaded.

The `load` source (no registry can run): `docker load` of a tarball saved once per run, timed as the same
`pull` phase (no per-layer times: the engine's load answers with one line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional

from bench.core import outcomes
from bench.core.errors import Terminated
from bench.core.outcomes import CallTimeout
from bench.core.watchdog import call_with_timeout
from bench.results.records import Place, Sample

PULL = "pull"
REGISTRY_UNAVAILABLE = outcomes.REGISTRY_UNAVAILABLE
_UNREACHABLE = ("connection refused", "dial tcp", "no such host", "i/o timeout", "eof", "connection reset",
                "server misbehaving", "502 bad gateway", "503 service")  # fmt: skip


class PullError(Exception):
    """The engine's pull stream ended with an error line."""


@dataclass
class Layer:
    id: str
    status: str = ""
    bytes: int = 0
    t: dict[str, int] = field(default_factory=dict)  # status -> ns since the pull began, first seen

    def record(self) -> dict[str, Any]:
        def span(a: str, b: str) -> Optional[int]:
            return self.t[b] - self.t[a] if a in self.t and b in self.t else None

        return {"id": self.id, "status": self.status, "bytes": self.bytes or None,
                "download_ns": span("Downloading", "Download complete"),
                "extract_ns": span("Extracting", "Pull complete")}  # fmt: skip


def read_progress(stream: Any, t0: int) -> list[Layer]:
    """The layers of a pull, from docker-py's decoded progress stream; an error line raises PullError."""
    layers: dict[str, Layer] = {}
    for event in stream:
        now = time.perf_counter_ns() - t0
        if event.get("error"):
            raise PullError(str(event.get("error")))
        lid, status = event.get("id"), str(event.get("status") or "")
        if not lid or status.startswith(("Pulling from", "Digest", "Status")):
            continue
        layer = layers.setdefault(lid, Layer(lid))
        layer.t.setdefault(status, now)
        layer.status = status
        total = (event.get("progressDetail") or {}).get("total")
        if status == "Downloading" and total:
            layer.bytes = int(total)
    return list(layers.values())


def classify_pull(exc: BaseException) -> tuple[str, str]:
    """The category of a failed pull: the registry not answering is its own category."""
    words = str(getattr(exc, "explanation", None) or exc)
    if isinstance(exc, CallTimeout):
        return outcomes.TIMEOUT, words
    if any(w in words.lower() for w in _UNREACHABLE):
        return REGISTRY_UNAVAILABLE, words[:500]
    if "not found" in words.lower() or "manifest unknown" in words.lower():
        return outcomes.IMAGE_NOT_FOUND, words[:500]
    return outcomes.API_ERROR, words[:500]


def remove_image(api: Any, ref: str, timeout: float) -> list[str]:
    """Untimed, before the pull: the image gone from the engine, every tag of it (a first start needs its
    layers gone). Returns its other tags, for ``retag`` once the pull has brought it back ([]: none, or
    it was not there)."""
    try:
        answer = call_with_timeout(lambda: api.inspect_image(ref), timeout, "inspect image")
    except Exception as exc:  # noqa: BLE001 - only "not there" is expected
        if getattr(exc, "status_code", None) == 404:
            return []
        raise
    call_with_timeout(lambda: api.remove_image(answer["Id"], force=True), timeout, "remove image")
    return [t for t in answer.get("RepoTags") or [] if t != ref]


def retag(api: Any, ref: str, tags: list[str], timeout: float) -> None:
    """After the pull (untimed): the image's other tags back, so a first start leaves the user's tags as found."""
    for tag in tags:
        repo, _, name = tag.rpartition(":")
        call_with_timeout(partial(api.tag, ref, repo, name), timeout, "tag image")


def timed_pull(
    base: Place, timeout: float, pull: Callable[[int], dict[str, Any]]
) -> tuple[Sample, Optional[BaseException]]:
    """The `pull` sample of ``pull(t0) -> detail`` under a deadline: (sample, the signal that cut it or None)."""
    wall, t0 = time.time_ns(), time.perf_counter_ns()
    try:
        detail = call_with_timeout(lambda: pull(t0), timeout, PULL)
        dur = time.perf_counter_ns() - t0
        return Sample(**base, phase=PULL, duration_ns=dur, ok=True, wall_ns=wall, detail={PULL: detail}), None
    except (KeyboardInterrupt, Terminated) as exc:
        return Sample(**base, phase=PULL, duration_ns=None, ok=False, error=outcomes.INTERRUPTED,
                      message="run interrupted during pull", wall_ns=wall), exc  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - every failure is a sample with its category
        category, message = classify_pull(exc)
        dur = int(timeout * 1e9) if category == outcomes.TIMEOUT else time.perf_counter_ns() - t0
        return Sample(**base, phase=PULL, duration_ns=dur, ok=False, error=category, message=message,
                      wall_ns=wall), None  # fmt: skip


def from_registry(api: Any, registry_ref: str, registry: str) -> Callable[[int], dict[str, Any]]:
    """The pull itself (`POST /images/create` and its progress stream to the end)."""
    repo, _, tag = registry_ref.rpartition(":")

    def pull(t0: int) -> dict[str, Any]:
        layers = read_progress(api.pull(repo, tag=tag, stream=True, decode=True), t0)
        return {"source": "registry", "registry": registry, "layers": [x.record() for x in layers],
                "bytes": sum(x.bytes for x in layers)}  # fmt: skip

    return pull


def from_tarball(api: Any, path: str) -> Callable[[int], dict[str, Any]]:
    """The `load` fallback: `docker load` of the run's saved tarball."""

    def load(t0: int) -> dict[str, Any]:
        with open(path, "rb") as fh:
            for line in api.load_image(fh):
                if isinstance(line, dict) and line.get("error"):
                    raise PullError(str(line["error"]))
        return {"source": "load", "registry": None, "layers": [], "bytes": None}

    return load
