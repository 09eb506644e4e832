"""`bench export --pyperf`: a result set as a pyperf BenchmarkSuite.

One benchmark per mode and phase (plus the derived `startup`), named
``<mode>.<phase>``, and for cold-scenario cycles ``<mode>.cold.<phase>`` (plus
``cold_startup``), so warm and cold never share a benchmark; other scenarios' samples are apart by
scenario and level (``runc.burst8.startup``: the containers of bursts of 8); one pyperf run per
measured round, so ``python -m pyperf stats`` and ``compare_to`` work on it. Failed samples are not timings and are
left out here; their counts go in each benchmark's metadata.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyperf

from bench.core.phases import COLD, COLD_DERIVED, DERIVED, WARM
from bench.results.records import Sample
from bench.results.resultset import ResultSet, read_resultset


def _values(rs: ResultSet) -> tuple[dict[str, list[float]], dict[str, int]]:
    values: dict[str, list[float]] = defaultdict(list)
    failed: dict[str, int] = defaultdict(int)
    cycles: dict[tuple[int, int, int, str], dict[str, Sample]] = defaultdict(dict)
    for s in rs.samples:
        if s.warmup:
            continue
        prefix = _prefix(s)
        name = f"{prefix}.{s.phase}"
        if s.ok:
            values[name].append((s.duration_ns or 0) / 1e9)
        else:
            failed[name] += 1
        if s.slot is not None or s.group is None:  # a container's phase, not a group's sample
            cycles[(s.round, -1 if s.group is None else s.group, -1 if s.slot is None else s.slot, prefix)][s.phase] = s
    for (*_, prefix), phases in sorted(cycles.items()):
        derived = {"startup": DERIVED["startup"]}
        if prefix.endswith(".cold"):
            derived.update(COLD_DERIVED)
        for metric, needed in derived.items():
            parts = [phases.get(p) for p in needed]
            present = [p for p in parts if p is not None and p.ok]
            if len(present) == len(parts):
                values[f"{prefix}.{metric}"].append(sum(p.duration_ns or 0 for p in present) / 1e9)
            else:
                failed[f"{prefix}.{metric}"] += 1
    return values, failed


def _prefix(s: Sample) -> str:
    """``mode`` for warm samples, ``mode.cold`` for cold ones, ``mode.<scenario><level>`` for the others."""
    if s.scenario == WARM:
        return str(s.mode)
    if s.scenario == COLD:
        return f"{s.mode}.cold"
    level = s.level
    return f"{s.mode}.{s.scenario}" + ("" if level is None else f"{level:g}")


def to_suite(rs: ResultSet) -> pyperf.BenchmarkSuite:
    values, failed = _values(rs)
    host = rs.header.host
    benches = []
    for name in sorted(values):
        vals = values[name]
        if not vals:
            continue
        meta = {
            "name": name,
            "unit": "second",
            "hostname": str(host.get("hostname", "")),
            "cpu_count": int(host.get("cpu_count") or 1),
            "isobench_run_id": rs.run_id,
            "isobench_failed_samples": int(failed.get(name, 0)),
        }
        runs = [pyperf.Run([v], metadata=meta, collect_metadata=False) for v in vals]
        benches.append(pyperf.Benchmark(runs))
    return pyperf.BenchmarkSuite(benches)


def export(result: Path, out: Path) -> int:
    suite = to_suite(read_resultset(result))
    if out.exists():
        out.unlink()
    suite.dump(str(out))
    return len(suite.get_benchmarks())
