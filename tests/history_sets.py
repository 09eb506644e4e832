"""Result sets for the history tests, written by the real scheduler and writer on scripted times
(bench.schedule.scripted): a host whose runc gets slower at one set, where one factor changed."""

from __future__ import annotations

from pathlib import Path

from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode, header

HOST = {
    "hostname": "histhost",
    "os": "Linux",
    "kernel": "6.1",
    "cpu_model": "synthetic CPU",
    "cpu_count": 2,
    "memory_bytes": 2**34,
}


def modes(runc_create_ms: float = 20.0) -> list[SyntheticMode]:
    runc = SyntheticMode("runc", "baseline", {**DEFAULT_PHASE_MS, "create": runc_create_ms}, noise=0.03)
    runsc = SyntheticMode("runsc", "candidate", {**DEFAULT_PHASE_MS, "start": 400.0}, noise=0.03)
    return [runc, runsc]


def history_sets(root: Path, n: int = 10, step_at: int = 6, delay_ms: float = 40.0, rounds: int = 24) -> list[Path]:
    """``n`` sets of runc and runsc on one host, in time order: from set ``step_at`` (0-based) on, runc's
    create takes ``delay_ms`` longer and the engine version changed (the one factor that differs)."""
    from bench.schedule.scripted import scripted_run

    folder = root / HOST["hostname"]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        planted = i >= step_at
        version = "24.0.7" if planted else "20.10.24"
        path = folder / f"2026120{i // 10}T{i % 10:02d}0000Z_{HOST['hostname']}_docker-{version}.jsonl"
        scripted_run(path, modes(20.0 + (delay_ms if planted else 0.0)), rounds=rounds, seed=100 + i,
                     host=HOST, engine_version=version)  # fmt: skip
        paths.append(path)
    return paths


__all__ = ["header", "history_sets", "modes"]
