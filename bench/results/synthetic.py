"""Synthetic result sets, for tests and benchmarks of the analysis.

``bulk_synthetic`` writes the result-set format directly, without per-cycle fsync, for sets
of a million samples. (``bench.schedule.scripted.scripted_run`` writes them through the real
scheduler and writer instead.)
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from bench.core.phases import PHASES
from bench.results.header import HeaderFacts, RunFacts, header_record
from bench.results.records import CONTAINERS, End, Header, Place, Record, Sample

# Typical medians (ms) seen on a small Linux host, used as defaults.
DEFAULT_PHASE_MS = {"create": 20.0, "start": 280.0, "ready": 0.4, "exec": 75.0, "stop": 80.0, "remove": 15.0}


@dataclass(frozen=True)
class SyntheticMode:
    name: str
    role: str
    phase_ms: dict[str, float]
    noise: float = 0.05  # lognormal sigma: ~5% spread
    failure_rate: float = 0.0
    failure_phase: str = "start"
    failure_error: str = "timeout"


# An image's content identity as preflight records it (bench.engine.image.content_identity).
IMAGE_CONTENT = {
    "layers": ["sha256:" + "1" * 64],
    "cmd": ["/bin/sh"],
    "entrypoint": None,
    "env": None,
    "working_dir": "",
    "user": "",
    "os": "linux",
    "os_version": None,
    "architecture": "amd64",
}


def header(
    modes: list[SyntheticMode],
    run_id: Optional[str] = None,
    host: Optional[dict] = None,
    engine_version: str = "20.10.24",
    image_id: str = "sha256:" + "0" * 64,
    seed: int = 0,
    image_content: Optional[dict] = IMAGE_CONTENT,
) -> Header:
    """``image_content=None`` writes a header as isobench did before it recorded content identity."""
    host = host or {
        "hostname": "synthetic",
        "os": "Linux",
        "kernel": "6.1",
        "cpu_model": "synthetic CPU",
        "cpu_count": 2,
        "memory_bytes": 2**34,
    }
    image: dict = {"id": image_id, "size": 1}
    if image_content is not None:
        image["content"] = image_content
    modes_record = {
        m.name: {
            "role": m.role,
            "engine": {"version": engine_version, "os_type": "linux"},
            "image": dict(image),
            "requested": {"runtime": m.name, "isolation": "default"},
            "ping_rtt_ns": 1_000_000,
            "version_rtt_ns": 1_500_000,
            "endpoint": {"url": "scripted", "scheme": "scripted"},
        }
        for m in modes
    }
    run = RunFacts(
        run_id=run_id or uuid.uuid4().hex[:12],
        seed=seed,
        config={"source": "synthetic"},
        host=host,
        modes=modes_record,
        python={"version": "3"},
        packages={"isobench": "synthetic"},
        created="2026-11-28T00:00:00+00:00",
    )
    return header_record(run, HeaderFacts(harness={"executor": "scripted"}))


def bulk_synthetic(path: Path, modes: list[SyntheticMode], samples: int, seed: int = 0) -> Path:
    """About ``samples`` sample lines (whole cycles), written in bulk."""
    rng = np.random.default_rng(seed)
    cycles = max(1, samples // len(PHASES))
    rounds = max(1, cycles // len(modes))
    wall = 1_795_000_000_000_000_000
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_line(header(modes, seed=seed)) + "\n")
        for m_i, m in enumerate(modes):
            noise = rng.lognormal(0, m.noise, size=(rounds, len(PHASES)))
            fails = rng.random(rounds) < m.failure_rate
            lines = []
            for r in range(rounds):
                failed = False
                for p_i, ph in enumerate(PHASES):
                    if failed:
                        dur, ok, err = None, False, "not_run"
                    elif fails[r] and ph == m.failure_phase:
                        dur, ok, err, failed = None, False, m.failure_error, True
                    else:
                        dur, ok, err = int(m.phase_ms[ph] * 1e6 * noise[r, p_i]), True, None
                    lines.append(
                        _line(
                            Sample(
                                round=r,
                                pos=m_i,
                                mode=m.name,
                                phase=ph,
                                duration_ns=dur,
                                ok=ok,
                                warmup=False,
                                wall_ns=wall + r * 1_000_000_000 + p_i,
                                error=err,
                            )
                        )
                    )
            fh.write("\n".join(lines) + "\n")
        fh.write(_line(End(status="complete", reason="synthetic")) + "\n")
    return path


def burst_synthetic(
    path: Path,
    modes: list[SyntheticMode],
    levels: tuple[int, ...],
    repeat: int,
    slowdown: dict[str, dict[int, float]],
    seed: int = 0,
) -> Path:
    """A burst set: every (mode, N) ``repeat`` times, each container's phases drawn around the
    mode's ``phase_ms`` times ``slowdown[mode][N]`` (the known slowdown, 1 where not given), with
    lognormal noise per container and per burst (containers of one burst share its conditions);
    each burst's makespan is its slowest container's startup."""
    rng = np.random.default_rng(seed)
    head = header(modes, seed=seed)
    head = head.but(config={"source": "synthetic", "scale": {"burst": list(levels), "repeat": repeat}})
    lines, group, wall = [_line(head)], 0, 1_795_000_000_000_000_000
    for r in range(repeat):
        for pos, (m, n) in enumerate((m, n) for m in modes for n in levels):
            base: Place = {"round": r, "pos": pos, "mode": m.name, "warmup": False, "scenario": "burst",
                    "level": n, "level_unit": CONTAINERS, "group": group}  # fmt: skip
            factor = slowdown.get(m.name, {}).get(n, 1.0) * rng.lognormal(0, m.noise / 2)
            ends = []
            for slot in range(n):
                noise = rng.lognormal(0, m.noise, size=4)
                durs = [
                    int(m.phase_ms[p] * 1e6 * factor * noise[i]) for i, p in enumerate(("create", "start", "ready"))
                ]
                durs.append(int(m.phase_ms["remove"] * 1e6 * noise[3]))
                ends.append(sum(durs[:3]))
                at: Place = {**base, "slot": slot}
                for p, d in zip(("create", "start", "ready", "remove"), durs):
                    lines.append(_line(Sample(**at, phase=p, duration_ns=d, ok=True, wall_ns=wall)))
            lines.append(_line(Sample(**base, phase="makespan", duration_ns=max(ends), ok=True, wall_ns=wall)))
            group += 1
            wall += 10**9
    lines.append(_line(End(status="complete", reason="synthetic")))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(record: Record) -> str:
    return json.dumps(record.to_json(), separators=(",", ":"))
