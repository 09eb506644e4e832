"""`make bench-analysis`: the analysis on two synthetic result sets of a million samples each.

Runs load + derived metrics + statistics + claim check on set A, then compare A with B
(loading and deriving B counts towards compare), twice: cold (neither set has its
columnar cache: the JSONL is parsed, and the caches are written) and warm (both read
from their caches). Then the full report with plots. Prints each step, the totals
beside their targets (on this 2-core host), and peak memory as ru_maxrss: the resident
high-water mark of this process, Arrow's memory included (the synthetic sets are
written by child processes, so their generation does not count). A benchmark that
prints figures, not a timed test. Run through `python -m analysis`, so with the
allocator setting every analysis command gets (analysis/memory.py).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

from analysis import cache
from analysis.claims import check_all, load_claims
from analysis.compare import compare
from analysis.load import Loaded, concat_frames, load
from analysis.metrics import cold_phases_apart, measured, outside_warmup, with_derived
from analysis.report import build_report
from analysis.stats import summarize
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode, bulk_synthetic

TARGET_COLD_S = 10.0
TARGET_WARM_S = 3.0
TARGET_REPORT_S = 10.0
TARGET_MEMORY_MB = 1536

MODES = [
    SyntheticMode("runc", "native", DEFAULT_PHASE_MS, 0.08),
    SyntheticMode("runsc", "hyperv", {k: v * 1.4 for k, v in DEFAULT_PHASE_MS.items()}, 0.08, failure_rate=0.01),
    SyntheticMode("vm", "toolbox", {k: v * 2.0 for k, v in DEFAULT_PHASE_MS.items()}, 0.10),
]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _generate(path: Path, samples: int, seed: int) -> Path:
    return bulk_synthetic(path, MODES, samples, seed=seed)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Steps:
    """Named wall-clock timings, in order, and the process CPU time they took (arrow's
    threads included): CPU beside wall shows how much other processes slowed a figure."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []
        self.cpu = 0.0

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        t, c = time.perf_counter(), _cpu_s()
        out = fn()
        self.times.append((name, time.perf_counter() - t))
        self.cpu += _cpu_s() - c
        return out

    @property
    def total(self) -> float:
        return sum(s for _, s in self.times)


def _join(loaded: Loaded, other: Loaded, every: Any) -> tuple[Loaded, Any]:
    """Both sets as `analysis compare` holds them: one Loaded, and the derived frame with
    cold phases apart (A's derived rows are reused, B's are computed here)."""
    both = Loaded(
        concat_frames([loaded.frame, other.frame]),
        {**loaded.headers, **other.headers},
        {**loaded.ends, **other.ends},
        {**loaded.paths, **other.paths},
        sources={**loaded.sources, **other.sources},
    )
    return both, cold_phases_apart(concat_frames([every, with_derived(other.frame)]))


def core(a: Path, b: Path) -> tuple[Steps, dict[str, Any]]:
    """load + derive + statistics + claim check on A, then compare A -> B."""
    steps = Steps()
    claims = load_claims()
    loaded = steps.run("load A", lambda: load([a], warn=False))
    every = steps.run("derived metrics A", lambda: with_derived(loaded.frame))
    summary = steps.run("statistics", lambda: summarize(measured(every)))
    results = steps.run("claim check", lambda: check_all(outside_warmup(every), claims))
    other = steps.run("compare: load B", lambda: load([b], warn=False))
    both, frame = steps.run("compare: derive B, join", lambda: _join(loaded, other, every))
    cmp = steps.run("compare: statistics", lambda: compare(both, frame, list(both.headers)))
    return steps, {
        "loaded": loaded,
        "summary": summary,
        "claim": results[0].verdict,
        "rows": len(cmp.rows),
        "sources": both.sources,
    }


def _verdict(value: float, target: float) -> str:
    return "within target" if value <= target else "MISSED"


def _print_run(title: str, steps: Steps, target: float, sources: dict[str, str]) -> None:
    print(f"{title} (sets read from: {', '.join(sorted(set(sources.values())))})")
    for name, secs in steps.times:
        print(f"  {name:32s} {secs:6.2f} s")
    print(
        f"  {'total':32s} {steps.total:6.2f} s   target {target:.0f} s: {_verdict(steps.total, target)}"
        f"   (process CPU time {steps.cpu:.2f} s)"
    )


def main(samples: int = 1_000_000) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        a = Path(tmp) / "20260101T000000Z_synthetic_docker-a.jsonl"
        b = Path(tmp) / "20260102T000000Z_synthetic_docker-b.jsonl"
        t = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_generate, [a, b], [samples, samples], [1, 2]))
        print(
            f"generated 2 x {samples:,} samples ({a.stat().st_size / 1e6:.0f} MB of JSONL each) "
            f"in {time.perf_counter() - t:.1f} s (not counted)"
        )
        if cache.cache_path(a).exists() or cache.cache_path(b).exists():
            raise RuntimeError("a fresh set already has a cache: the cold figures would not be cold")
        load_before = os.getloadavg()[0]

        cold, facts = core(a, b)
        cold_sources = facts["sources"]
        del facts  # the cold run's frames go before the warm run starts
        gc.collect()
        warm, facts = core(a, b)
        loaded = facts["loaded"]
        report_s = Steps()
        report_s.run(
            "full report with plots", lambda: build_report(loaded, a.stem, load_claims(), Path(tmp) / "report")
        )
    _print_run("cold: no cache yet (JSONL parsed, caches written)", cold, TARGET_COLD_S, cold_sources)
    _print_run("warm: both sets cached", warm, TARGET_WARM_S, facts["sources"])
    print(
        f"samples in set A: {len(loaded.frame):,}; summary rows: {len(facts['summary'])}; "
        f"claim: {facts['claim']}; compare rows: {facts['rows']}"
    )
    print(
        f"full report: {report_s.total:.2f} s   target {TARGET_REPORT_S:.0f} s: "
        f"{_verdict(report_s.total, TARGET_REPORT_S)}"
    )
    print(
        f"load average (1 min) before / after the timed part: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores (other processes on the host slow every figure)"
    )
    peak = _peak_mb()
    print(
        f"peak memory (ru_maxrss of this process, whole benchmark): {peak:.0f} MB   "
        f"target {TARGET_MEMORY_MB} MB: {_verdict(peak, TARGET_MEMORY_MB)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
