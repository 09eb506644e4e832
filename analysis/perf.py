"""`make bench-analysis`: the analysis on a synthetic set of a million samples.

Prints the time of each step and the peak memory; targets (on a 2-core host):
load + statistics + claim check + compare within 10 s and 2 GB, the full
report with plots within 30 s. A benchmark that prints figures, not a timed test.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from analysis.claims import check_all, load_claims
from analysis.compare import compare
import pandas as pd

from analysis.load import Loaded, load
from analysis.metrics import measured, with_derived
from analysis.report import build_report
from analysis.stats import summarize
from bench.synthetic import DEFAULT_PHASE_MS, SyntheticMode, bulk_synthetic

TARGET_CORE_S = 10.0
TARGET_MEMORY_MB = 2048
TARGET_REPORT_S = 30.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(samples: int = 1_000_000) -> int:
    modes = [SyntheticMode("runc", "native", DEFAULT_PHASE_MS, 0.08),
             SyntheticMode("runsc", "hyperv", {k: v * 1.4 for k, v in DEFAULT_PHASE_MS.items()}, 0.08, failure_rate=0.01),
             SyntheticMode("vm", "toolbox", {k: v * 2.0 for k, v in DEFAULT_PHASE_MS.items()}, 0.10)]
    with tempfile.TemporaryDirectory() as tmp:
        a = Path(tmp) / "20260101T000000Z_synthetic_docker-a.jsonl"
        b = Path(tmp) / "20260102T000000Z_synthetic_docker-b.jsonl"
        t = time.perf_counter()
        bulk_synthetic(a, modes, samples, seed=1)
        bulk_synthetic(b, modes, samples, seed=2)
        print(f"generated 2 x {samples:,} samples in {time.perf_counter() - t:.1f} s (not counted)")

        steps: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        loaded = load([a], warn=False)
        steps.append(("load (1M samples)", time.perf_counter() - t0))
        t = time.perf_counter()
        frame = measured(with_derived(loaded.frame))
        steps.append(("derive startup/cycle", time.perf_counter() - t))
        t = time.perf_counter()
        summary = summarize(frame)
        steps.append(("statistics", time.perf_counter() - t))
        t = time.perf_counter()
        results = check_all(frame, load_claims())
        steps.append(("claim check", time.perf_counter() - t))
        core = time.perf_counter() - t0

        # compare against a second set of the same size: load and derive it too
        t = time.perf_counter()
        other = load([b], warn=False)
        both = Loaded(pd.concat([loaded.frame, other.frame], ignore_index=True),
                      {**loaded.headers, **other.headers}, {**loaded.ends, **other.ends}, {**loaded.paths, **other.paths})
        cmp = compare(both, pd.concat([frame, measured(with_derived(other.frame))], ignore_index=True))
        compare_s = time.perf_counter() - t
        steps.append(("compare (incl. loading the second 1M set)", compare_s))

        t = time.perf_counter()
        build_report(loaded, a.stem, load_claims(), Path(tmp) / "report")
        report_s = time.perf_counter() - t
        steps.append(("full report with plots", report_s))

    n_rows = len(loaded.frame)
    for name, secs in steps:
        print(f"  {name:40s} {secs:7.2f} s")
    core_total = core + compare_s
    peak = _peak_mb()
    print(f"samples in the set: {n_rows:,}; summary rows: {len(summary)}; claim: {results[0].verdict}; "
          f"compare rows: {len(cmp.rows)}")
    print(f"load + statistics + claim + compare: {core_total:.2f} s (target {TARGET_CORE_S:.0f} s) "
          f"-> {'OK' if core_total <= TARGET_CORE_S else 'OVER'}")
    print(f"full report: {report_s:.2f} s (target {TARGET_REPORT_S:.0f} s) -> {'OK' if report_s <= TARGET_REPORT_S else 'OVER'}")
    print(f"peak memory: {peak:.0f} MB (target {TARGET_MEMORY_MB} MB) -> {'OK' if peak <= TARGET_MEMORY_MB else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
