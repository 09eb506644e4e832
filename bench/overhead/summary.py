"""The overhead benchmark's figures from its times: per-phase ratios against raw HTTP and cycle
throughputs against the CLI, each the median over rounds of the round's ratio with a bootstrap 95%
interval, judged against the issue's targets; and the harness's cost per phase in microseconds
against the stand-in engine, with what it adds to the real engine's phases. Pure: it reads times and
returns lines, so it is tested on scripted times."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from bench.core.phases import CYCLE_SHAPES

PHASE_TARGET = 1.02
READY_BOUND_MS = 0.05
THROUGHPUT_TARGET = 1.3
# The per-phase table: the full shape's phases, then the run shape's own one.
TABLE = [("full", p) for p in CYCLE_SHAPES["full"]] + [("run", "wait")]
CYCLES = ("harness full", "raw full", "harness run", "raw run", "cli")


@dataclass
class Times:
    """Nanoseconds by round, kept after the warm-up rounds: per (side, shape, phase), and whole cycles per
    side; and how many cycles of each side failed (their times are not in the medians)."""

    phases: dict[tuple[str, str, str], dict[int, int]] = field(default_factory=dict)
    cycles: dict[str, dict[int, int]] = field(default_factory=lambda: {c: {} for c in CYCLES})
    failed: dict[str, list[str]] = field(default_factory=dict)

    def add_phases(self, side: str, shape: str, round_no: int, durations: dict[str, int]) -> None:
        for phase, ns in durations.items():
            self.phases.setdefault((side, shape, phase), {})[round_no] = ns

    def phase(self, side: str, shape: str, phase: str) -> dict[int, int]:
        return self.phases.get((side, shape, phase), {})


@dataclass(frozen=True)
class Ratio:
    value: float
    low: float
    high: float

    def text(self) -> str:
        return f"{self.value:.3f} (95% CI {self.low:.3f}-{self.high:.3f})"


def paired_ratio(top: dict[int, int], bottom: dict[int, int]) -> Ratio:
    """The median over rounds of top/bottom in the same round, with a percentile bootstrap interval over
    rounds. Pairs share their round's conditions (this host's load comes in bursts of seconds), so the
    ratio is not also a comparison of two stretches of time."""
    rounds = sorted(set(top) & set(bottom))
    logs = np.log(np.array([top[r] for r in rounds], dtype=float) / np.array([bottom[r] for r in rounds]))
    if len(logs) == 0:
        return Ratio(float("nan"), float("nan"), float("nan"))
    value = float(np.exp(np.median(logs)))
    if len(logs) < 2 or np.all(logs == logs[0]):
        return Ratio(value, value, value)
    res = stats.bootstrap((logs,), lambda x, axis: np.median(x, axis=axis), vectorized=True,
                          method="percentile", n_resamples=2000, random_state=0)  # fmt: skip
    return Ratio(value, float(np.exp(res.confidence_interval.low)), float(np.exp(res.confidence_interval.high)))


def _ms(ns: dict[int, int]) -> float:
    return statistics.median(ns.values()) / 1e6


def phase_lines(times: Times) -> tuple[list[str], float]:
    """One line per phase (harness vs raw HTTP) and the worst ratio, ready judged by its absolute bound."""
    lines = [f"{'phase':12s} {'harness ms':>11s} {'raw HTTP ms':>12s}  ratio (median over rounds of the round's "
             f"harness/raw)  target <= {PHASE_TARGET:.2f}"]  # fmt: skip
    worst = 0.0
    for shape, phase in TABLE:
        h, r = times.phase("harness", shape, phase), times.phase("raw", shape, phase)
        name = phase if shape == "full" else f"{phase} ({shape})"
        if not h or not r:
            lines.append(f"{name:12s} no successful samples on one side")
            worst = float("inf")
            continue
        head = f"{name:12s} {_ms(h):11.3f} {_ms(r):12.3f}  "
        if phase == "ready":
            gap = _ms(h) - _ms(r)
            verdict = "OK" if gap <= READY_BOUND_MS else "OVER"
            lines.append(f"{head}judged by its absolute bound: harness - raw = {gap:.3f} ms "
                         f"(bound {READY_BOUND_MS} ms) {verdict}")  # fmt: skip
            continue
        ratio = paired_ratio(h, r)
        worst = max(worst, ratio.value)
        lines.append(f"{head}{ratio.text()} {'OK' if ratio.value <= PHASE_TARGET else 'OVER'}")
    lines.append(f"worst per-phase ratio: {worst:.3f} (ready judged by its absolute bound)")
    return lines, worst


def failure_lines(times: Times) -> list[str]:
    """Failed cycles per side: they are left out of the medians, so they are named."""
    return [f"{side}: {len(msgs)} failed cycle(s), left out of the medians; first: {msgs[0]}"
            for side, msgs in sorted(times.failed.items()) if msgs]  # fmt: skip


def stand_in_lines(stand_in: Times, real: Times) -> list[str]:
    """The harness's cost per phase against the stand-in engine (harness - raw, medians), and what that cost
    adds to the same phase's raw time on the real engine."""
    costs, adds = [], []
    for shape, phase in TABLE:
        h, r = stand_in.phase("harness", shape, phase), stand_in.phase("raw", shape, phase)
        if not h or not r:
            continue
        cost_us = (_ms(h) - _ms(r)) * 1e3
        costs.append(f"{phase} {cost_us:+.1f}")
        engine = real.phase("raw", shape, phase)
        if engine and phase != "ready":
            adds.append((1 + max(0.0, cost_us) / (_ms(engine) * 1e3), phase, cost_us, _ms(engine)))
    n = len(next(iter(stand_in.phases.values()), {}))
    lines = [f"harness - raw HTTP against a stand-in engine that answers at once ({n} cycles of each shape, "
             f"interleaved; medians, us; an upper bound: it also holds the stand-in's own scheduling of the "
             f"harness's untimed calls): {', '.join(costs)}"]  # fmt: skip
    if adds:
        ratio, phase, cost_us, engine_ms = max(adds)
        lines.append(f"so on this engine the harness adds about {ratio:.4f}x to a phase at the most ({phase}: "
                     f"{cost_us:+.1f} us on {engine_ms:.2f} ms); a ratio in the table further from 1 than that is "
                     f"the engine's own variation")  # fmt: skip
    return lines


def throughput_lines(times: Times) -> list[str]:
    """Cycles per second per side, the run cycle against the CLI, and what bounds that ratio here."""
    c = times.cycles
    per_s = {k: (f"{1e9 / statistics.median(v.values()):.2f}" if v else "none succeeded") for k, v in c.items()}
    lines = [
        f"harness full cycle (create..remove, incl. attach and inspect): {per_s['harness full']} cycles/s "
        f"(raw HTTP: {per_s['raw full']})",
        f"harness run cycle (create, attach, start, first line, wait, remove): {per_s['harness run']} "
        f"cycles/s (raw HTTP: {per_s['raw run']})",
    ]
    if not c["cli"] and "cli" not in times.failed:
        return [*lines, "no docker CLI on PATH: throughput comparison skipped"]
    if not (c["cli"] and c["harness run"] and c["raw run"]):
        return [*lines, "throughput ratio run-cycle / CLI: not measured (a side had no successful cycle)"]
    ratio, ceiling = paired_ratio(c["cli"], c["harness run"]), paired_ratio(c["cli"], c["raw run"])
    cli_cost, harness_cost = _ms(c["cli"]) - _ms(c["raw run"]), _ms(c["harness run"]) - _ms(c["raw run"])
    verdict = "OK" if ratio.value >= THROUGHPUT_TARGET else "UNDER"
    return [
        *lines,
        f"`docker run --rm --network none --read-only IMAGE CMD` CLI loop: {per_s['cli']} cycles/s",
        f"throughput ratio run-cycle / CLI: {ratio.text()} (target >= {THROUGHPUT_TARGET}) {verdict}",
        f"ceiling on this engine: raw HTTP run cycle / CLI = {ceiling.text()}: the CLI costs "
        f"{cli_cost:.1f} ms a cycle over the same requests sent bare ({_ms(c['raw run']):.1f} ms), "
        f"the harness {harness_cost:.1f} ms",
    ]
