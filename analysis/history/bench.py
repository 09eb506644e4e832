"""make bench-history: how often the history finds a step, flags a creep and raises a false alarm, on
series built from this machine's own sets, beside an asv-style pairwise 5% threshold.

Each synthetic set is a real set's noise: one of the real sets (a host and mode with enough
successful startup samples) is picked at random, its rounds are resampled in contiguous stretches
(so drift within a run stays in), and divided by its own median, then scaled to the series' level
times the planted factor times the set-to-set noise of this host beyond each set's own: exp(N(0, s)).
A real level differs from the next by its own sampling error and by what the host added between
the runs; the resampled run already carries the first, so s holds only the second: s² is the
variance of the real levels (from their consecutive differences, robustly: a median of absolute
differences, so a real change among them does not inflate it) less the variance the resampled runs
alone give the synthetic levels. So the synthetic levels spread as the real ones do (unless the
resampling alone spreads them more: then s is 0); both spreads are printed. Cases, ``series`` each:

- step: 20 sets, ×1.10 from a position drawn in 4..16; found when a change is placed within one set of it;
- creep: 12 sets at 1.00, 1.04, 1.08, 1.12 (three sets each; no step reaches 5%); found when a change
  or the drift rule flags it;
- flat: 20 sets, no change; a false alarm is any change or drift flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from analysis.compare import Samples
from analysis.history.bound import bound
from analysis.history.changes import find_changes
from analysis.history.discover import SetData, find_sets, read_one
from analysis.history.drift import find_drift
from analysis.history.setstats import Level, level_of, metric_frame

MIN_EFFECT = 0.05
STEP, STEP_SETS, CREEP = 1.10, 20, (1.00, 1.04, 1.08, 1.12)
BLOCK = 5  # rounds per resampled stretch


@dataclass(frozen=True)
class Noise:
    """Relative startup durations of real sets (each divided by its median, in round order), the
    set-to-set spread (sd of log levels) of the hosts they came from, and its part beyond each set's
    own standard error."""

    runs: tuple[np.ndarray, ...]
    between: float
    source: str
    spread: float = math.nan  # sd of a real set's log level around its series' level


@dataclass(frozen=True)
class Rates:
    step: float
    creep: float
    false_alarm: float


def _runs_of(data: SetData, reference: str = "") -> list[tuple[str, np.ndarray]]:
    """Each mode's startup durations in round order; with ``reference``, its per-round ratio to that
    mode (read as history and compare read them)."""
    frame = metric_frame(data.frame)
    samples = Samples(frame[frame["phase"] == "startup"])
    if reference and not any(mode == reference for _, mode, _ in samples.groups):
        return []
    out = []
    for set_name, mode, metric in sorted(samples.groups):
        if mode == reference:
            continue
        if reference:
            values = samples.ratios(set_name, mode, reference, metric)
        else:
            values = samples.durations(set_name, mode, metric)
        if len(values) >= 20:
            out.append((f"{data.info.host}/{mode}", values))
    return out


def spread_of(levels: Sequence[Sequence[float]]) -> float:
    """sd of one log level from set to set: 1.4826 * median |consecutive difference| / sqrt(2), the
    differences of every series pooled (a few sets a series would make each series' own median shaky)."""
    diffs = np.concatenate([np.abs(np.diff(v)) for v in levels if len(v) >= 2] or [np.array([])])
    return 1.4826 * float(np.median(diffs)) / math.sqrt(2) if len(diffs) >= 3 else math.nan


def real_noise(root: Path, reference: str = "") -> Optional[Noise]:
    runs: list[np.ndarray] = []
    levels: dict[str, list[float]] = {}
    paths = find_sets(root) if root.is_dir() else []
    for path in sorted(paths, key=lambda p: p.name):
        item = read_one(path)
        if not isinstance(item, SetData):
            continue
        for key, x in _runs_of(item, reference):
            level = level_of(x)
            if level is None:
                continue
            runs.append(x / np.median(x))
            levels.setdefault(key, []).append(level.log_center)
    if not runs:
        return None
    spread = spread_of(list(levels.values()))
    what = f"per-round ratios to {reference}" if reference else "startup times"
    noise = Noise(tuple(runs), 0.0, f"{len(runs)} real runs ({what}) under {root}", spread)
    own = synthetic_spread(noise, 0)
    between = math.sqrt(max(0.0, spread**2 - own**2)) if math.isfinite(spread) else 0.02
    return replace(noise, between=between)


def synthetic_noise(rng: np.random.Generator) -> Noise:
    """Where no real set is at hand: 5% lognormal within a run, 2% between runs (a quiet Linux host)."""
    runs = tuple(np.exp(rng.normal(0, 0.05, 30)) for _ in range(20))
    return Noise(runs, 0.02, "synthetic noise (no real set found): 5% within a run, 2% between runs", math.nan)


def fake_level(noise: Noise, factor: float, rng: np.random.Generator) -> Level:
    run = noise.runs[int(rng.integers(len(noise.runs)))]
    starts = rng.integers(0, max(1, len(run) - BLOCK + 1), size=math.ceil(len(run) / BLOCK))
    resampled = np.concatenate([run[s : s + BLOCK] for s in starts])[: len(run)]
    shift = math.exp(rng.normal(0, noise.between))
    level = level_of(150.0 * factor * shift * resampled, "m", "startup")
    assert level is not None  # 20 or more positive values
    return level


def history_flags(levels: Sequence[Level], seed: int) -> tuple[list[int], bool]:
    """(indices of changes found, whether drift was flagged)."""
    changes = find_changes(levels, MIN_EFFECT, 0.05, seed)
    return [c.index for c in changes], find_drift(levels, changes, MIN_EFFECT, 0.05) is not None


def pairwise_flags(levels: Sequence[Level], seed: int) -> tuple[list[int], bool]:
    """asv-style: a change wherever one set's level differs from the one before by more than 5%."""
    c = [lv.center for lv in levels]
    return [i for i in range(1, len(c)) if abs(c[i] / c[i - 1] - 1) > MIN_EFFECT], False


Detector = Callable[[Sequence[Level], int], tuple[list[int], bool]]


def rates(noise: Noise, detector: Detector, series: int, seed: int) -> Rates:
    rng = np.random.default_rng(seed)
    step = creep = alarms = 0
    for k in range(series):
        at = int(rng.integers(4, 17))
        levels = [fake_level(noise, 1.0 if i < at else STEP, rng) for i in range(STEP_SETS)]
        step += any(abs(i - at) <= 1 for i in detector(levels, k)[0])
        levels = [fake_level(noise, CREEP[i // 3], rng) for i in range(12)]
        found, drift = detector(levels, k)
        creep += bool(found) or drift
        levels = [fake_level(noise, 1.0, rng) for _ in range(STEP_SETS)]
        found, drift = detector(levels, k)
        alarms += bool(found) or drift
    return Rates(step / series, creep / series, alarms / series)


def lines(r: Rates) -> list[str]:
    return [f"step found: {r.step:.0%}", f"creep found: {r.creep:.0%}", f"false alarms: {r.false_alarm:.0%}"]


def synthetic_spread(noise: Noise, seed: int, series: int = 50) -> float:
    """The spread of synthetic flat series' levels, by the estimator the real levels' spread is read
    with: the two should agree when the noise model is right."""
    rng = np.random.default_rng(seed + 1)
    return spread_of([[fake_level(noise, 1.0, rng).log_center for _ in range(STEP_SETS)] for _ in range(series)])


def main(root: Path, series: int = 200, seed: int = 0, reference: str = "") -> int:
    noise = real_noise(root, reference) or synthetic_noise(np.random.default_rng(seed))
    synthetic = synthetic_spread(noise, seed)
    print(
        f"noise: {noise.source}; set-to-set spread of a level "
        f"{f'{noise.spread:.1%}' if math.isfinite(noise.spread) else 'unknown'} (real), "
        f"{synthetic:.1%} (synthetic), of which between sets beyond their own CI "
        f"{noise.between:.1%}; {series} series per case"
    )
    for name, spread in (("synthetic", synthetic), ("real", noise.spread)):
        if math.isfinite(spread) and spread > 0:
            b = bound(spread, STEP, STEP_SETS, 4, 16, [CREEP[i // 3] for i in range(12)], 0.05, seed)
            smallest = f"x{b.smallest_step:.2f}" if b.smallest_step else "beyond x1.50"
            print(
                f"the most any detector could do at the {name} spread ({spread:.1%}; analysis/history/bound.py): "
                f"step found {b.step:.0%}, creep found {b.creep:.0%} (each alone at 5% false alarms); "
                f"the smallest step found in 95%: {smallest}"
            )
    print("history (E-Divisive means + weighted test, minimum effect 5%, drift rule; 5% false alarms shared):")
    print("\n".join(lines(rates(noise, history_flags, series, seed))))
    print("asv-style pairwise 5% threshold:")
    print("\n".join(lines(rates(noise, pairwise_flags, series, seed))))
    return 0


def synthetic_sets(root: Path, count: int, modes: int = 3, step_at: float = 0.7) -> Path:
    """``count`` sets of ``modes`` modes (30 rounds each) on one host for timing the site, the first mode
    10% slower from ``step_at`` of the way on (a change to find). Written in bulk, without fsync."""
    from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode, bulk_synthetic

    folder = root / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["runc", "runsc", "kata", "crun", "youki"][:modes]
    for i in range(count):
        slower = 1.10 if i >= int(count * step_at) else 1.0
        phases = [{**DEFAULT_PHASE_MS, "start": DEFAULT_PHASE_MS["start"] * (1 + k / 2) * (slower if k == 0 else 1.0)}
                  for k in range(len(names))]  # fmt: skip
        ms = [SyntheticMode(m, "baseline" if k == 0 else "candidate", phases[k]) for k, m in enumerate(names)]
        bulk_synthetic(folder / f"20260101T{i:06d}Z_synthetic_docker-20.10.24.jsonl", ms, 30 * 6 * len(names), i)
    return root
