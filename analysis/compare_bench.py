"""`isobench bench-compare MANIFEST`: what compare detects on this host, how often it is wrong, and
the power of each design (issue 24). Reads the sets scripts/bench-compare.sh wrote: runs alternated
in time (side A: the runtime as it is; side B: a delay planted before runc's create) and two in-run
A/B sets (runc against runc-candidate, the same runtime behind a wrapper with a delay).

Every figure is printed, none is asserted: a benchmark, not a test."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import effects
from analysis.compare import Comparison, Row, Rule, ab, compare, verdict_of
from analysis.load import Loaded, load
from analysis.metrics import measured, with_derived
from bench.core.errors import UserError

MIN_EFFECT = 0.05
METRIC = "startup"
ROUNDS_PLANNED = (30, 100, 300)


@dataclass(frozen=True)
class Manifest:
    a: list[str]  # set names, side A (no delay), in time order
    b: list[str]  # side B (the planted delay)
    ab_plant: Optional[str]
    ab_small: Optional[str]
    paths: list[Path]


def read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise UserError(f"{path} does not exist: pass the manifest bench-compare.sh wrote (OUT/runs/manifest).")
    entries = [line.split(" ", 1) for line in path.read_text().splitlines() if " " in line]
    by: dict[str, list[Path]] = {}
    for kind, p in entries:
        by.setdefault(kind, []).append(Path(p.strip()))
    paths = [p for ps in by.values() for p in ps]
    if len(by.get("A", [])) < 2 or len(by.get("B", [])) < 2:
        raise UserError(f"{path} lists fewer than two runs a side: run make bench-compare again.")
    first = lambda k: by[k][0].stem if k in by else None  # noqa: E731
    return Manifest([p.stem for p in by["A"]], [p.stem for p in by["B"]], first("ab-plant"), first("ab-small"), paths)


def _frame(loaded: Loaded) -> pd.DataFrame:
    return measured(with_derived(loaded.frame))


def _cell(r: Optional[Row]) -> str:
    if r is None:
        return "-"
    return f"{r.verdict} x{r.ratio:.3f} [{r.ci_low:.3f}-{r.ci_high:.3f}]"


def _row(cmp: Comparison, mode: str, phase: str = METRIC) -> Optional[Row]:
    return next((r for r in cmp.rows if r.mode == mode and r.phase == phase), None)


def _two_runs(loaded: Loaded, frame: pd.DataFrame, m: Manifest) -> None:
    print(f"\n-- two runs (A_i -> B_i, {len(m.a)} pairs in time order), runc's {METRIC} and start:")
    found = found_plain = shifts = 0
    pairs = list(zip(m.a, m.b))
    for i, (a, b) in enumerate(pairs, 1):
        plain = compare(loaded, frame, [a, b])
        ref = compare(loaded, frame, [a, b], Rule(reference="runsc"))
        shift = any(n.startswith("host-wide shift") for n in plain.notes)
        shifts += shift
        found += all(getattr(_row(ref, "runc", ph), "verdict", "") == "slower" for ph in (METRIC, "start"))
        found_plain += getattr(_row(plain, "runc"), "verdict", "") == "slower"
        print(
            f"pair {i}: without reference: runc {_cell(_row(plain, 'runc'))}, runsc {_cell(_row(plain, 'runsc'))}"
            f"{' (host-wide shift named)' if shift else ''}\n"
            f"        --reference runsc: runc {_cell(_row(ref, 'runc'))}, start {_cell(_row(ref, 'runc', 'start'))}"
        )
    print(
        f"runc start and {METRIC} slower with --reference runsc: {found} of {len(pairs)} pairs; "
        f"{METRIC} slower without it: {found_plain} of {len(pairs)}; host-wide shift named in {shifts}"
    )


def _replicated(loaded: Loaded, frame: pd.DataFrame, m: Manifest) -> None:
    k = min(3, len(m.a), len(m.b))
    print(f"\n-- replicated runs, alternated in time (mixed model, the run a random effect), runc's {METRIC}:")
    for n in sorted({k, min(len(m.a), len(m.b))}):
        for ref in (None, "runsc"):
            cmp = compare(loaded, frame, m.a[:n], Rule(reference=ref), new_sets=m.b[:n])
            r, s = _row(cmp, "runc"), _row(cmp, "runsc")
            print(
                f"{n}+{n} runs{' --reference runsc' if ref else ''}: runc {_cell(r)}"
                + ("" if ref else f", runsc {_cell(s)}")
            )


def _in_run(loaded: Loaded, frame: pd.DataFrame, m: Manifest, plant_ms: float, small_ms: float) -> None:
    print("\n-- in-run A/B (runc against runc-candidate in the same rounds, paired by round):")
    for name, ms in ((m.ab_plant, plant_ms), (m.ab_small, small_ms)):
        if name is None:
            continue
        for effect in (MIN_EFFECT, 0.02):
            cmp = ab(loaded, frame, name, "runc", "runc-candidate", Rule(min_effect=effect))
            r, st = _row(cmp, "runc-candidate"), _row(cmp, "runc-candidate", "start")
            print(
                f"{ms:g} ms, {r.n_old if r else 0} rounds, min effect {effect:.0%}: {METRIC} {_cell(r)}, "
                f"start {_cell(st)}; detectable {METRIC}: {r.detectable:.1%}"
                if r
                else f"{ms:g} ms: no rows"
            )


def _called(est: Optional[effects.Estimate]) -> Optional[bool]:
    if est is None:
        return None
    low, high = est.interval()
    return verdict_of(est.ratio, low, high, est.p_beyond(MIN_EFFECT), 0.05, MIN_EFFECT) in ("slower", "faster")


def _series(frame: pd.DataFrame, s: str, mode: str, keep: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    g = frame[(frame["set"] == s) & (frame["mode"] == mode) & (frame["phase"] == METRIC) & frame["ok"]]
    g = g.sort_values("round")
    return g["duration_ms"].to_numpy(dtype=float)[keep(g["round"].to_numpy())]


def _false_positives(loaded: Loaded, frame: pd.DataFrame, m: Manifest) -> None:
    print(f"\n-- false positives: family rows ({METRIC} per mode) called a change on A/A data (target <= 5%):")
    calls = rows = pairs = 0
    for s, period in itertools.product(m.a + m.b, (1, 2)):  # rounds alternately, or two at a time

        def half(r: np.ndarray, p: int = period) -> np.ndarray:
            return (r // p) % 2 == 0

        def other(r: np.ndarray, p: int = period) -> np.ndarray:
            return (r // p) % 2 == 1

        pairs += 1
        for mode in ("runc", "runsc"):
            called = _called(effects.two_runs(_series(frame, s, mode, half), _series(frame, s, mode, other)))
            if called is not None:
                rows += 1
                calls += called
    print(f"interleaved halves of real sets: {pairs} pairs, {calls} of {rows} family rows called ({calls / rows:.1%})")
    calls = rows = 0
    splits = [c for c in itertools.combinations(range(len(m.a)), len(m.a) // 2) if 0 in c]
    for ref in (None, "runsc"):
        calls = rows = 0
        for c in splits:
            old = [m.a[i] for i in c]
            new = [m.a[i] for i in range(len(m.a)) if i not in c]
            cmp = compare(loaded, frame, old, Rule(reference=ref), new_sets=new)
            fam = cmp.family_rows
            rows += len(fam)
            calls += sum(r.verdict in ("slower", "faster") for r in fam)
        print(
            f"sequential A/A runs, replicated-runs model{' --reference runsc' if ref else ''}: {len(splits)} splits "
            f"of the {len(m.a)} A runs into two sides, {calls} of {rows} family rows called "
            f"({calls / max(rows, 1):.1%})"
        )
    calls = rows = 0
    for a, b in zip(m.a, m.a[1:]):
        fam = compare(loaded, frame, [a, b]).family_rows
        rows += len(fam)
        calls += sum(r.verdict in ("slower", "faster") for r in fam)
    print(
        f"for contrast, sequential A/A as two runs without a reference: {calls} of {rows} family rows called "
        f"({calls / max(rows, 1):.1%}): the host moves between runs"
    )
    _simulated_drift()


def _simulated_drift(trials: int = 200) -> None:
    """As issue 15's test: A/A runs whose host load wanders (AR(1) on the log scale)."""
    rng = np.random.default_rng(11)

    def drifting(n: int) -> np.ndarray:
        log_load = np.zeros(n)
        for i in range(1, n):
            log_load[i] = 0.9 * log_load[i - 1] + rng.normal(0, 0.1 * math.sqrt(1 - 0.81))
        return 100 * rng.lognormal(0, 0.08, n) * np.exp(log_load)

    calls = sum(bool(_called(effects.two_runs(drifting(200), drifting(200)))) for _ in range(trials))
    print(f"simulated drift within runs (two runs of 200 rounds): {calls} of {trials} called ({calls / trials:.1%})")


def _variance_parts(
    frame: pd.DataFrame, sets: list[str], values: Callable[[str], np.ndarray]
) -> tuple[float, float, int]:
    """(within-run variance of a run's mean log value per round of it, between-run variance, rounds a run)."""
    means, within, rounds = [], [], []
    for s in sets:
        v = values(s)
        u, _ = effects.units(np.log(v))
        means.append(u.mean())
        within.append(u.var(ddof=1) / len(u) * len(v))  # the variance of the run's mean, times its rounds
        rounds.append(len(v))
    w = float(np.mean(within))
    n = int(np.mean(rounds))
    between = max(0.0, float(np.var(means, ddof=1)) - w / n)
    return w, between, n


def _mde(se: float, df: float) -> float:
    t = sps.t if math.isfinite(df) else sps.norm
    args = (df,) if math.isfinite(df) else ()
    return math.expm1(math.log1p(MIN_EFFECT) + (t.ppf(0.975, *args) + t.ppf(0.8, *args)) * se)


def _power(loaded: Loaded, frame: pd.DataFrame, m: Manifest) -> None:
    print(f"\n-- power: the smallest change in runc's {METRIC} found with 80% power (alpha 0.05, band ±5%):")
    durations = lambda s: _series(frame, s, "runc", lambda r: np.ones(len(r), bool))  # noqa: E731

    def ratios(s: str) -> np.ndarray:
        both = [
            frame[(frame["set"] == s) & (frame["mode"] == md) & (frame["phase"] == METRIC) & frame["ok"]]
            .groupby("round")["duration_ms"]
            .median()
            for md in ("runc", "runsc")
        ]
        joined = pd.concat(both, axis=1).dropna()
        return (joined.iloc[:, 0] / joined.iloc[:, 1]).to_numpy(dtype=float)

    header = "design".ljust(42) + "".join(f"{n:>12} rounds" for n in ROUNDS_PLANNED)
    print(header)
    for label, values in (("two runs", durations), ("two runs --reference runsc", ratios)):
        w, b, _ = _variance_parts(frame, m.a, values)
        two = [_mde(math.sqrt(2 * b + 2 * w / n), math.inf) for n in ROUNDS_PLANNED]
        rep = [_mde(math.sqrt(2 / 3 * (b + w / n)), 4) for n in ROUNDS_PLANNED]
        print(label.ljust(42) + "".join(f"{x:>19.1%}" for x in two))
        print(f"3+3 runs{label[8:]}".ljust(42) + "".join(f"{x:>19.1%}" for x in rep))
        print(f"   (run-to-run sd {math.sqrt(b):.1%}, within-run sd of a round {math.sqrt(w):.1%})")
    if m.ab_small:
        cmp = ab(loaded, frame, m.ab_small, "runc", "runc-candidate")
        r = _row(cmp, "runc-candidate")
        if r is not None and math.isfinite(r.ci_low):
            se_now = (math.log(r.ci_high) - math.log(r.ci_low)) / (2 * sps.t.ppf(0.975, 9))
            row = [_mde(se_now * math.sqrt(r.n_old / n), 9) for n in ROUNDS_PLANNED]
            print("in-run A/B".ljust(42) + "".join(f"{x:>19.1%}" for x in row))


def main(manifest_path: Path, plant_ms: float, small_ms: float) -> int:
    m = read_manifest(manifest_path)
    loaded = load(m.paths, warn=False)
    frame = _frame(loaded)
    med = lambda s: float(np.median(_series(frame, s, "runc", lambda r: np.ones(len(r), bool))))  # noqa: E731
    print(
        f"planted: {plant_ms:g} ms before runc's create on side B. runc {METRIC} medians, A: "
        + ", ".join(f"{med(s):.0f}" for s in m.a)
        + " ms; B: "
        + ", ".join(f"{med(s):.0f}" for s in m.b)
        + " ms"
    )
    _two_runs(loaded, frame, m)
    _replicated(loaded, frame, m)
    _in_run(loaded, frame, m, plant_ms, small_ms)
    _false_positives(loaded, frame, m)
    _power(loaded, frame, m)
    return 0
