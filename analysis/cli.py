"""`python -m analysis report|check|compare|bench`."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from bench.core.arguments import positive_int, unit_float
from bench.core.command import run_command
from bench.core.errors import UserError
from bench.core.paths import CLAIMS_FILE, DEFAULT_RESULTS


def latest_result(results_dir: Path = DEFAULT_RESULTS) -> Path:
    files = [p for p in Path(results_dir).rglob("*.jsonl") if ".report" not in p.parts[-2]]
    if not files:
        raise UserError(f"no result set under {results_dir}: run 'make bench' first, or pass a .jsonl file.")
    return max(files, key=lambda p: (p.stat().st_mtime, p.name))


def check_result_paths(paths: list[Path]) -> list[Path]:
    """Every path names a readable file, each once: else one sentence naming it, exit 2.
    Checked before loading so a mistyped path never reaches a reader's traceback."""
    seen: dict[Path, Path] = {}
    for path in paths:
        if not path.exists():
            hint = f" (did you mean {path.with_suffix('.jsonl')}?)" if path.with_suffix(".jsonl").is_file() else ""
            raise UserError(f"result file {path} does not exist{hint}: pass the path of a .jsonl file under results/.")
        if path.is_dir():
            found = sorted(path.rglob("*.jsonl"))
            hint = f", such as {found[-1]}" if found else ""
            raise UserError(f"{path} is a directory: pass the path of a .jsonl result file{hint}.")
        if not path.is_file():
            raise UserError(f"{path} is not a regular file: pass the path of a .jsonl result file.")
        key = path.resolve()
        if key in seen:
            raise UserError(f"{path} is given twice: pass each result set once.")
        seen[key] = path
    return paths


def _paths(args: argparse.Namespace) -> list[Path]:
    if getattr(args, "latest", False) or not args.results:
        return [latest_result()]
    return check_result_paths([Path(p) for p in args.results])


def _out_dir(value: Optional[str]) -> Optional[Path]:
    """The --out folder, refused up front when a file is in the way."""
    if not value:
        return None
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: pass a folder to write into (it is created if missing).")
    return out


def _load(paths: list[Path]):
    from analysis.load import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load(paths)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    for name in loaded.headers:
        _require_samples(loaded, name)
    return loaded


def _require_samples(loaded, name: str) -> None:
    """A set with a header and no measured sample has nothing to report or compare: say why
    (from its end record) rather than print empty tables."""
    rows = loaded.frame[loaded.frame["set"] == name]
    if len(rows) and not rows["warmup"].all():
        return
    end = loaded.ends.get(name)
    why = f"the run ended {end.status}: {end.reason}" if end else "no end record: it was cut off"
    what = "only warm-up samples" if len(rows) else "no samples"
    raise UserError(f"{loaded.paths[name]} holds {what} ({why}): nothing to analyse; run the benchmark again.")


def _claims(args: argparse.Namespace):
    from analysis.claims import load_claims

    claims = load_claims(Path(args.claims))
    if args.min_effect is not None:
        from dataclasses import replace

        claims = [replace(c, min_effect=args.min_effect) for c in claims]
    return claims


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.report import _console, build_report, concurrency_note, print_summary

    out = _out_dir(args.out)
    loaded = _load(_paths(args))
    claims = _claims(args)
    for name in loaded.headers:
        rep = build_report(loaded, name, claims, out if len(loaded.headers) == 1 else None)
        console = _console()
        console.print(rep.headline, markup=False, highlight=False)
        print_summary(rep.summary, rep.claims, console, f"{name} (ms, successes only)", rep.cold)
        for part in rep.parts:
            part.print(console)
        note = concurrency_note(loaded.headers[name], loaded.ends[name])
        if note:
            print(note)
        print(f"report: {rep.out_dir / 'index.html'} ({len(rep.figures)} figure files)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from analysis.claims import EXIT_CODES, check_all
    from analysis.metrics import outside_warmup, with_derived

    loaded = _load(_paths(args))
    frame = outside_warmup(with_derived(loaded.frame))
    skipped = {m: r for h in loaded.headers.values() for m, r in h.skipped.items()}
    results = check_all(frame, _claims(args), skipped, loaded.costs)
    worst = 0
    for r in results:
        print(f"{r.claim.id}: {r.verdict} - {r.reason}")
        code = EXIT_CODES[r.verdict]
        worst = code if worst == 0 or code == 1 else worst
    return worst


SIDES = "--"  # compare A1 A2 -- B1 B2: replicated runs, one side each
AGAINST = "--against"  # what the separator becomes for argparse, which would drop it


def sides_argv(argv: Sequence[str]) -> list[str]:
    """``compare A1 A2 -- B1 B2`` as argparse can read it: the first ``--`` after ``compare``
    becomes ``--against`` (argparse takes a bare ``--`` as the end of options and drops it)."""
    args = list(argv)
    if "compare" in args and SIDES in args[args.index("compare") :]:
        i = args.index(SIDES, args.index("compare"))
        args[i] = AGAINST
    return args


def _expand(patterns: Sequence[str]) -> list[Path]:
    """Paths, with shell-style patterns (results/host/*_a.jsonl) expanded in name order."""
    import glob

    out: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern))
            if not found:
                raise UserError(f"no result set matches {pattern}: check the pattern, or pass the .jsonl paths.")
            out += [Path(f) for f in found]
        else:
            out.append(Path(pattern))
    return out


def _compare_frame(loaded):
    from analysis.metrics import cold_phases_apart, with_derived
    from analysis.scale import scale_phases_apart
    from analysis.service import replicas_apart

    # warm rows; cold ones apart as "cold <phase>"; scale ones level by level as "burst N=8 <phase>"
    frame = scale_phases_apart(cold_phases_apart(with_derived(loaded.frame)))
    return replicas_apart(frame)  # service rows per replica count: "service_startup N=4"


def cmd_compare(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from analysis.compare import compare
    from analysis.compare_report import print_comparison, write_comparison
    from analysis.load import set_name
    from analysis.report import summarize_set

    old = _expand(args.results)
    new = _expand(args.against) if args.against else []
    if len(old) + len(new) < 2:
        raise UserError("compare needs at least two result sets: isobench compare OLD NEW [MORE...].")
    paths = old + new
    out = _out_dir(args.out) or paths[-1].parent / f"compare_{paths[0].stem}__{paths[-1].stem}"
    loaded = _load(check_result_paths(paths))
    frame = _compare_frame(loaded)
    rule = replace(_rule(args), reference=args.reference)
    new_sets = [set_name(p) for p in new] or None
    cmp = compare(loaded, frame, [set_name(p) for p in old], rule, new_sets=new_sets, order_by=args.order_by,
                  force=args.force)  # fmt: skip
    print_comparison(cmp)
    summary = summarize_set(frame) if len(cmp.sets) > 2 else None
    figures = write_comparison(cmp, out, summary if summary is not None else frame.iloc[0:0])
    print(f"comparison: {out / 'compare.md'} ({len(figures)} figure files)")
    return _compare_exit(cmp, args)


def _rule(args: argparse.Namespace):  # -> analysis.compare.Rule
    """The decision rule the command line sets (--min-effect, --alpha, --metric, --plan-rounds)."""
    from analysis.compare import Rule

    min_effect = args.min_effect if args.min_effect is not None else 0.05
    return Rule(min_effect=min_effect, alpha=args.alpha, metrics=args.metric, plan_rounds=args.plan_rounds)


def ab_report(path: Path, base: str, candidate: str, args: argparse.Namespace) -> int:
    """In-run A/B of one set: the paired verdict per phase, printed and written beside the set."""
    from analysis.compare import ab
    from analysis.compare_report import print_comparison, write_comparison
    from analysis.load import set_name

    loaded = _load(check_result_paths([path]))
    frame = _compare_frame(loaded)
    cmp = ab(loaded, frame, set_name(path), base, candidate, _rule(args))
    print_comparison(cmp)
    out = path.parent / f"ab_{path.stem}"
    write_comparison(cmp, out, frame.iloc[0:0])
    print(f"comparison: {out / 'compare.md'}")
    return _compare_exit(cmp, args)


def _compare_exit(cmp, args: argparse.Namespace) -> int:
    """1 on a slowdown (--fail-on-regression) or on any row not shown equivalent
    (--require-equivalence); the reason on stderr."""
    code = 0
    if args.fail_on_regression and cmp.regressions:
        worst = max(cmp.regressions, key=lambda r: r.ratio)
        print(
            f"regression: {len(cmp.regressions)} significant slowdown(s), worst {worst.mode} {worst.phase} "
            f"x{worst.ratio:.3f}",
            file=sys.stderr,
        )
        code = 1
    if args.require_equivalence and cmp.not_equivalent:
        rows = ", ".join(f"{r.mode} {r.phase} ({r.verdict})" for r in cmp.not_equivalent[:5])
        more = f" and {len(cmp.not_equivalent) - 5} more" if len(cmp.not_equivalent) > 5 else ""
        print(
            f"not shown equivalent within ±{cmp.min_effect:.0%}: {len(cmp.not_equivalent)} of "
            f"{len(cmp.family_rows)} rows: "
            f"{rows}{more}",
            file=sys.stderr,
        )
        code = 1
    return code


def _history_dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    """RESULTS_DIR and -o SITE_DIR, refused up front when they cannot be what they must be."""
    root = Path(args.results_dir) if args.results_dir else DEFAULT_RESULTS
    if not root.exists():
        raise UserError(f"{root} does not exist: pass the folder that holds the result sets (default results/).")
    if not root.is_dir():
        raise UserError(f"{root} is a file: pass the folder that holds the result sets, such as results/.")
    site = Path(args.out) if args.out else DEFAULT_RESULTS.parent / "build" / "history"
    if site.exists() and not site.is_dir():
        raise UserError(f"-o {site} is a file: pass a folder to write the site into (it is created if missing).")
    if site.resolve() == root.resolve():
        raise UserError(f"-o {site} is the results folder: write the site into a folder of its own.")
    return root, site


def cmd_history(args: argparse.Namespace) -> int:
    """The site of every set under RESULTS_DIR; with --fail-on-new-change, exit 1 when a host's newest
    set starts a change beyond the minimum effect (the sentence on stderr)."""
    from analysis.history.build import Settings, build_history
    from analysis.history.gate import gate_sentence
    from analysis.history.site import write_site

    root, site = _history_dirs(args)
    if args.accept:
        _accept_baseline(root, args.accept)
    effect = args.min_effect if args.min_effect is not None else 0.05
    settings = Settings(effect, args.alpha, args.window, reference=args.reference or "")
    history = build_history(root, site, _claims(args), settings, figures=args.figures)
    pages = write_site(history, site)
    n_sets = sum(len(h.sets) for h in history.hosts)
    for bad in history.unreadable:
        print(f"not read: {bad.path}: {bad.reason}", file=sys.stderr)
    print(
        f"history: {n_sets} sets of {len(history.hosts)} host(s), {len(history.changes)} change point(s), "
        f"{len(history.unreadable)} unreadable: {pages[0]}"
    )
    sentence = gate_sentence(history)
    if sentence:
        print(sentence, file=sys.stderr if args.fail_on_new_change else sys.stdout)
    return 1 if sentence and args.fail_on_new_change else 0


def _accept_baseline(root: Path, name: str) -> None:
    """--accept SET: the changes up to that set are known; a change after it is open (the index's badge)."""
    from analysis.history.build import BASELINE_FILE

    stem = Path(name).stem if name.endswith(".jsonl") else name
    found = sorted(p for p in root.rglob(f"{stem}.jsonl") if p.is_file())
    if len(found) != 1:
        where = "no set" if not found else f"{len(found)} sets"
        raise UserError(
            f"--accept {name}: {where} of that name under {root}: pass the name of one set (its file stem)."
        )
    (found[0].parent / BASELINE_FILE).write_text(stem + "\n")
    print(f"baseline of {found[0].parent.name}: {stem}")


def cmd_bench_history(args: argparse.Namespace) -> int:
    from analysis.history.bench import main as bench_history_main

    root = Path(args.results_dir) if args.results_dir else DEFAULT_RESULTS
    if args.write_sets:
        from analysis.history.bench import synthetic_sets

        out = Path(args.write_sets)
        if out.exists() and any(out.iterdir()):
            raise UserError(f"--write-sets {out} is not empty: pass a new folder for the synthetic sets.")
        synthetic_sets(out, args.write_sets_count)
        print(f"wrote {args.write_sets_count} synthetic sets of 3 modes under {out}")
        return 0
    return bench_history_main(root, args.series, args.seed, args.reference or "")


def cmd_bench(args: argparse.Namespace) -> int:
    from analysis.perf import main as perf_main

    return perf_main(args.samples)


def cmd_bench_compare(args: argparse.Namespace) -> int:
    from analysis.compare_bench import main as bench_compare_main

    return bench_compare_main(Path(args.manifest), args.plant_ms, args.small_ms)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis", description="Statistics, claim checks and reports on isobench result sets."
    )
    add_commands(p.add_subparsers(dest="command", required=True))
    return p


def add_commands(sub: Any, bench_name: str = "bench") -> None:
    """The analysis subcommands, for `python -m analysis` and the `isobench` command (where the
    analysis benchmark is called ``bench-analysis``)."""

    def common(sp: argparse.ArgumentParser, many: bool = True) -> None:
        sp.add_argument("results", nargs="*", help="result set(s) (.jsonl); default: the newest under results/")
        sp.add_argument("--latest", action="store_true", help="use the newest result set under results/")
        sp.add_argument("--claims", default=str(CLAIMS_FILE), help="claims file (default: claims.toml)")
        sp.add_argument("--min-effect", type=unit_float, help="minimum effect a difference must clear (default 0.05)")

    r = sub.add_parser("report", help="write the report folder and print the summary and verdict")
    common(r)
    r.add_argument("--out", help="report folder (default: RESULT.report/ beside the set)")
    r.set_defaults(fn=_guarded(cmd_report))

    c = sub.add_parser(
        "check", help="print the claim verdict; exit 0 supported, 1 contradicted, 3 inconclusive/untestable"
    )
    common(c)
    c.set_defaults(fn=_guarded(cmd_check))

    m = sub.add_parser("compare", help="compare result sets (old -> new; more form a series)")
    m.add_argument(
        "results", nargs="+", help="OLD NEW [MORE...], or replicated runs: A1 A2 ... -- B1 B2 ... (patterns allowed)"
    )
    m.add_argument(AGAINST, nargs="+", metavar="NEW", help=argparse.SUPPRESS)
    m.add_argument("--force", action="store_true", help="compare even when host, CPU or image differ")
    m.add_argument(
        "--order-by",
        metavar="KEY",
        help="order a series by this header key (e.g. engine.version, host.currentbuild, packages.docker); "
        "default: the first version that differs",
    )
    add_design_options(m)
    m.add_argument(
        "--reference",
        metavar="MODE",
        help="compare each mode's per-round ratio to MODE (measured in the same rounds): cancels whatever "
        "slowed the whole host between the runs",
    )
    m.add_argument("--out", help="output folder")
    m.set_defaults(fn=_guarded(cmd_compare))

    bc = sub.add_parser(
        "bench-compare", help="benchmark: what compare detects here (make bench-compare runs it on its own sets)"
    )
    bc.add_argument("manifest", help="OUT/runs/manifest, as scripts/bench-compare.sh writes it")
    bc.add_argument("--plant-ms", type=float, default=40.0)
    bc.add_argument("--small-ms", type=float, default=10.0)
    bc.set_defaults(fn=_guarded(cmd_bench_compare))

    add_history_commands(sub)

    b = sub.add_parser(bench_name, help="benchmark the analysis on a synthetic result set")
    b.add_argument("--samples", type=positive_int, default=1_000_000)
    b.set_defaults(fn=_guarded(cmd_bench))


def add_history_commands(sub: Any) -> None:
    """`history` (the site, and its gate) and `bench-history` (how well it finds changes)."""
    h = sub.add_parser("history", help="the site of every result set of every host, with change points found")
    h.add_argument("results_dir", nargs="?", metavar="RESULTS_DIR", help="where the sets are (default results/)")
    h.add_argument("-o", "--out", metavar="SITE_DIR", help="the site's folder (default build/history/)")
    h.add_argument("--claims", default=str(CLAIMS_FILE), help="claims file (default: claims.toml)")
    h.add_argument("--min-effect", type=unit_float, help="smallest change that counts (default 0.05)")
    h.add_argument("--alpha", type=unit_float, default=0.05)
    h.add_argument("--window", type=positive_int, default=12, help="sets the drift rule looks back over (12)")
    h.add_argument("--figures", action="store_true", help="draw each set's report figures (slower)")
    h.add_argument(
        "--reference",
        metavar="MODE",
        help="track each mode's per-round ratio to MODE (measured in the same rounds) instead of its time: "
        "cancels whatever slowed the whole host between sets",
    )
    h.add_argument(
        "--accept",
        metavar="SET",
        help="accept the changes up to SET (a set's name) as the host's baseline: only later ones stay open",
    )
    h.add_argument(
        "--fail-on-new-change",
        action="store_true",
        help="exit 1 when a host's newest set starts a change beyond the minimum effect",
    )
    h.set_defaults(fn=_guarded(cmd_history))

    bh = sub.add_parser("bench-history", help="benchmark: how well history finds steps and creep (make bench-history)")
    bh.add_argument("results_dir", nargs="?", metavar="RESULTS_DIR", help="real sets to take the noise from")
    bh.add_argument("--series", type=positive_int, default=200, help="series per case (200)")
    bh.add_argument("--seed", type=int, default=0)
    bh.add_argument("--reference", metavar="MODE", help="noise of each mode's per-round ratio to MODE (as history)")
    bh.add_argument("--write-sets", metavar="DIR", help="only write synthetic sets of 3 modes there (to time history)")
    bh.add_argument("--write-sets-count", type=positive_int, default=1000, metavar="N")
    bh.set_defaults(fn=_guarded(cmd_bench_history))


def add_design_options(m: argparse.ArgumentParser) -> None:
    """What compare and ab share: the family, the effect that matters, the planned rounds."""
    m.add_argument("--min-effect", type=unit_float, help="minimum factor for a change (default 0.05)")
    m.add_argument("--alpha", type=unit_float, default=0.05)
    m.add_argument(
        "--metric",
        action="append",
        metavar="PHASE",
        help="the family the verdicts are corrected over and the gates read (repeatable: --metric startup "
        "--metric exec; default: the startup metrics); every other phase is a descriptive row",
    )
    m.add_argument(
        "--plan-rounds",
        type=positive_int,
        default=100,
        help="also give the smallest detectable change with this many rounds a set (default 100)",
    )
    m.add_argument("--fail-on-regression", action="store_true", help="exit 1 on any significant slowdown")
    m.add_argument(
        "--require-equivalence",
        action="store_true",
        help="exit 1 unless every row of the family (--metric) is shown equivalent within the minimum effect",
    )


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Reading and writing files: an OS error the checks above did not foresee (a full
    disk, a folder without write permission) is still one sentence, exit 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except BrokenPipeError:
            raise  # stdout closed (`| head`): not a file problem to explain
        except OSError as exc:
            where = exc.filename or "a file"
            raise UserError(f"{where}: {exc.strerror or exc}: check the path and its permissions.") from None

    return run


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(sides_argv(sys.argv[1:] if argv is None else argv))
    return run_command(args.fn, args)
