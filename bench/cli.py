"""The `python -m bench` command line.

Every user mistake ends as one sentence on stderr and a non-zero exit, never a
traceback: UserError carries the sentence and the exit code.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence

from bench import scenarios
from bench.core import signals
from bench.core.arguments import positive_float, positive_int, whole_number
from bench.core.command import run_command
from bench.core.errors import UserError
from bench.core.paths import DEFAULT_CONFIG, VM_DIR
from bench.fleet.cli import add_fleet


def _load(args: argparse.Namespace):  # -> Config
    from bench.core.config import load_config

    config = load_config(Path(args.config)).select(args.mode or [])
    overrides = {
        k: getattr(args, k)
        for k in ("rounds", "warmup", "min_rounds", "budget_s", "precision", "seed", "scenario", "cold_rounds")
        if getattr(args, k, None) is not None
    }
    if getattr(args, "results", None):
        overrides["results_dir"] = str(args.results)
    if getattr(args, "sizes", None):
        from bench.core.sizes import parse_sizes

        overrides["sizes"] = parse_sizes(args.sizes)
    if getattr(args, "first_start", False):
        overrides["size_first_start"] = True
    if getattr(args, "size_max", None):
        overrides["size_max"] = {**config.run.size_max, **_size_caps(args.size_max)}
    if getattr(args, "cycle", None):
        config = replace(config, modes=tuple(replace(m, cycle=args.cycle) for m in config.modes))
        bare = [m.name for m in config.modes if m.cycle == "run" and not m.run_command]
        if bare:
            raise UserError(
                f"--cycle run needs a run_command for mode {bare[0]!r}: set run_command (a command that "
                "prints the ready line and exits) in its [[mode]], or use a preset."
            )
    if overrides:
        run = replace(config.run, **overrides)
        if run.min_rounds > run.rounds:
            run = replace(run, min_rounds=run.rounds)
        config = replace(config, run=run)
    return _service_overrides(_scale_overrides(config, args), args)


def _size_caps(items: list[str]) -> dict[str, str]:
    """--size-max MODE=SIZE (repeatable): each checked, in one sentence when wrong."""
    from bench.core.sizes import parse_size

    caps = {}
    for item in items:
        mode, eq, size = item.partition("=")
        if not eq or not mode:
            raise UserError(f"--size-max {item!r}: give MODE=SIZE, e.g. --size-max vm-engine=100M.")
        parse_size(size, f"--size-max {mode}=")
        caps[mode] = size
    return caps


def _service_overrides(config: Any, args: argparse.Namespace) -> Any:
    """--replicas on top of the config's [service] table."""
    if getattr(args, "replicas", None) is None:
        return config
    return replace(config, service=replace(config.service, replicas=args.replicas))


def _replica_counts(text: str) -> tuple[int, ...]:
    """An argparse type for --replicas 1,4,8."""
    from bench.core.service import parse_replicas

    try:
        return parse_replicas(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


SCALE_FLAGS = ("burst", "repeat", "rates", "density_step", "density_max", "reserve_gib", "slo_s", "rate_duration_s")


def _scale_overrides(config: Any, args: argparse.Namespace) -> Any:
    """The scale flags (--burst, --rate, --density-step, ...) on top of the config's [scale] table."""
    from bench.core.scale import with_overrides

    changes = {k: getattr(args, k, None) for k in SCALE_FLAGS}
    if getattr(args, "scale_budget_s", None) is not None:
        changes["budget_s"] = args.scale_budget_s
    return replace(config, scale=with_overrides(config.scale, **changes))


def _levels(integer: bool) -> Any:
    """An argparse type for --burst 1,2,4,8 (whole numbers) and --rate 0.5,1,2 (numbers)."""
    from bench.core.scale import parse_levels

    def parse(text: str) -> tuple[Any, ...]:
        try:
            return parse_levels(text, "--burst" if integer else "--rate", integer)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None

    parse.__name__ = "list of whole numbers" if integer else "list of numbers"
    return parse


def cmd_run(args: argparse.Namespace) -> int:
    from bench.run import resume, run

    if args.resume:
        code, path = resume(Path(args.resume), show_progress=not args.quiet, allow_concurrent=args.allow_concurrent)
    else:
        code, path = run(_load(args), show_progress=not args.quiet, allow_concurrent=args.allow_concurrent)
    # After a second stop signal the user wants out: the summary (the analysis's imports, the claims' and
    # the costs' bootstrap CIs: most of a second) would run past the hurried cleanup's bound.
    if path is not None and code in (0, 130, 143) and not args.no_summary and not signals.hurrying():
        _print_summary(path)
    return code


def _print_summary(path: Path) -> None:
    """The answer at the end of every run: per-mode startup and the claim verdict, as `report` prints
    them (nothing written). The set is safe on disk already, so nothing here may end the run badly."""
    try:
        from analysis.summary import print_run_summary
    except ImportError:  # the analysis half is not installed beside the harness
        return
    try:
        print_run_summary(path)
    except (OSError, ValueError, SystemExit):
        pass  # stdout closed (`make bench | tee log` after Ctrl-C): the set is written, that is what counts
    except UserError as exc:
        print(f"isobench: no summary: {exc}", file=sys.stderr)


def cmd_doctor(args: argparse.Namespace) -> int:
    import uuid

    from bench.engine import preflight
    from bench.engine.drivers import driver_for
    from bench.measure.leftovers import sweep_all

    config = _load(args)
    run_id = "doctor-" + uuid.uuid4().hex[:8]
    checks = preflight.check_modes(config.modes, run_id)
    sweep_all([c.runtime for c in checks if c.runtime], run_id)
    for c in checks:
        r = c.record
        if not c.usable:
            print(f"{c.name:12} SKIP  {c.reason}")
            continue
        eng, img = r.get("engine", {}), r.get("image", {})
        print(
            f"{c.name:12} ok    engine {eng.get('version')} (API {r.get('api_version')}, {eng.get('os_type')}, "
            f"{eng.get('storage_driver')}), runtime {r.get('runtime_reported') or eng.get('default_runtime')}, "
            f"isolation {r.get('isolation_reported') or 'default'}, ping {r['ping_rtt_ns'] / 1e6:.2f} ms, "
            f"image {str(img.get('id'))[7:19]} ({(img.get('size') or 0) / 1e6:.1f} MB)"
        )
        if r.get("isolation_mismatch"):
            print(
                f"{'':12} warning: requested isolation {r['requested']['isolation']!r} but the engine applies "
                f"{r['isolation_reported']!r}"
            )
        if c.runtime is not None:
            control, why = driver_for(c.runtime.mode).control(c.runtime.mode, c.runtime.endpoint)
            print(
                f"{'':12} cold starts: "
                + (f"engine restarted by {control.kind}" if control else f"not possible: {why}")
            )
    if not any(c.usable for c in checks):
        raise UserError(preflight.none_usable_message(checks))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bench.results.pyperf import export

    result = Path(args.result)
    out = Path(args.output) if args.output else result.with_suffix(".pyperf.json")
    count = export(result, out)
    print(f"wrote {count} benchmarks to {out} (try: python -m pyperf stats {out})")
    return 0


def default_client() -> Any:
    """A client to the default engine: DOCKER_HOST (and its TLS variables) or the local one."""
    from bench.core.config import EndpointSettings
    from bench.engine.endpoints import make_client, resolve

    return make_client(resolve(EndpointSettings(endpoint="env", allow_plain_tcp=True)), timeout=10)


def cmd_ping(args: argparse.Namespace) -> int:
    try:
        client = default_client()
        client.ping()
    except UserError:
        raise
    except Exception as exc:
        print(f"no engine answers: {exc}", file=sys.stderr)
        return 1
    print(f"engine {client.version().get('Version')} answers (API {client.api_version})")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench.engine.lease import live_runs
    from bench.engine.sweep import sweep

    client = default_client()
    keep = set() if args.force or args.run_id else live_runs(client)
    services = _sweep_services(client, args.run_id, keep)  # first: swarm would restart their tasks
    removed, stuck = sweep(client, args.run_id, keep_runs=keep)
    if services:
        print(f"removed {len(services)} isobench service(s): {', '.join(services)}")
    print(
        f"removed {removed} isobench container(s)"
        + (f"; could not remove {', '.join(stuck)}" if stuck else "")
        + (
            f"; kept those of {len(keep)} live run(s) ({', '.join(sorted(keep))}): --force removes them too"
            if keep
            else ""
        )
    )
    return 1 if stuck else 0


def _sweep_services(client: Any, run_id: Optional[str], keep: set[str]) -> list[str]:
    """On a swarm manager, the services of isobench runs (those of live runs kept, as their containers are)."""
    from bench.engine.service import api

    try:
        if not (client.info().get("Swarm") or {}).get("ControlAvailable"):
            return []
    except Exception:  # noqa: BLE001 - the container sweep says what is wrong with the engine
        return []
    return api.sweep(client, run_id, timeout=30.0, keep_runs=keep)


def cmd_image(args: argparse.Namespace) -> int:
    from bench.engine.image import ensure_image

    if args.size is not None:
        return _sized_images(args)
    client = default_client()
    if client.info().get("OSType") == "windows":
        from bench.engine import windows

        ref = windows.pull_image_for_engine(client)
        print(f"image {ref} ready")
        return 0
    image_id, built = ensure_image(client, force=args.force)
    print(f"image isobench/busybox:latest {'built' if built else 'present'} ({image_id[7:19]})")
    from bench.engine.image import build_record

    rec = build_record(client.inspect_image(image_id))  # the layer is what compare matches on
    print(
        f"layer {(rec.get('observed_layers') or ['?'])[0][7:19]}: "
        + (
            "as this host's busybox gives on every build"
            if rec["reproducible"]
            else rec.get("reason")
            or "differs from what this host's busybox gives now: rebuild with 'isobench image --force'"
        )
    )
    return 0


def _sized_images(args: argparse.Namespace) -> int:
    """`image --size 10M,100M,1G`: the test image plus seeded random data, one image per size (bench.engine.sized)."""
    from bench.core.sizes import parse_sizes
    from bench.engine import sized

    labels = parse_sizes(args.size)  # checked before the engine is asked anything
    client = default_client()
    if client.info().get("OSType") == "windows":
        raise UserError(
            "--size builds Linux images: on Windows the size series is the host's nanoserver/servercore pair."
        )
    for label in labels:
        if args.remove:
            gone = sized.remove_sized(client, label)
            print(f"image {sized.ref_of(label)} {'removed' if gone else 'not present'}")
            continue
        b = sized.ensure_sized(client, label, force=args.force)
        print(
            f"image {b.ref} {'built' if b.built else 'present'} ({b.image_id[7:19]}, {b.layers} layers, "
            f"{b.size / 2**20:.0f} MiB): "
            + (
                "the id every build gives"
                if b.image_id == sized.expected_id(sized.plan(label))
                else "NOT the expected id"
            )
        )
    return 0


def cmd_vm(args: argparse.Namespace) -> int:
    from bench.engine.control.vm import qemu as vm

    if args.action == "up":
        state = vm.up()
        from bench.engine.image import ensure_image

        try:
            image_id, built = ensure_image(vm.vm_client(timeout=120))
        except Exception as exc:  # the VM is up but unusable: say so, and leave nothing running
            vm.down()
            raise UserError(
                f"the VM engine came up but the test image could not be loaded ({exc}): see {VM_DIR / 'console.log'}."
            ) from None
        print(f"vm: test image {'loaded' if built else 'present'} ({image_id[7:19]}); accelerator {state.accel}")
    elif args.action == "down":
        vm.down()
    else:
        return 0 if vm.status() else 1
    return 0


def cmd_overhead(args: argparse.Namespace) -> int:
    from bench.overhead.main import DEFAULT_ROUNDS
    from bench.overhead.main import main as overhead_main

    return overhead_main(rounds=args.rounds or DEFAULT_ROUNDS)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench", description="Times container startup cycles per isolation mode."
    )
    add_commands(p.add_subparsers(dest="command", required=True))
    return p


def build_isobench_parser() -> argparse.ArgumentParser:
    """The one `isobench` command: the harness's subcommands and the analysis's, side by side."""
    from analysis.cli import add_commands as add_analysis_commands

    p = argparse.ArgumentParser(
        prog="isobench",
        description="Container startup per isolation mode: measure "
        "(run, doctor, ...), then analyse (report, check, compare).",
    )
    p.add_argument("--version", action="version", version=f"isobench {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(sub)
    _add_ab(sub)
    add_analysis_commands(sub, bench_name="bench-analysis")
    add_fleet(sub, cmd_fleet_report)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("isobench")
    except PackageNotFoundError:
        return "(not installed)"


def _with_config(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", default=str(DEFAULT_CONFIG), help="TOML config (default: bench.toml)")
    sp.add_argument("--mode", action="append", help="run only this mode (repeatable)")


def _add_run(sub: Any) -> None:
    r = sub.add_parser("run", help="run the benchmark and write a result set under results/")
    _add_run_options(r)
    r.add_argument("--resume", metavar="RESULT", help="continue an interrupted or killed result set")
    r.add_argument("--no-summary", action="store_true", help="do not print the startup summary and claim verdict")
    r.set_defaults(fn=cmd_run)


def _add_run_options(r: argparse.ArgumentParser) -> None:
    """What a run is: shared by run and ab."""
    _with_config(r)
    r.add_argument("--rounds", type=positive_int, help="measured rounds at most")
    r.add_argument("--warmup", type=whole_number, help="warm-up rounds (kept, flagged)")
    r.add_argument(
        "--min-rounds", dest="min_rounds", type=positive_int, help="rounds before the precision rule may stop"
    )
    r.add_argument("--budget", dest="budget_s", type=positive_float, help="time budget in seconds")
    r.add_argument(
        "--precision", type=positive_float, help="stop when every startup median is known to this relative half-width"
    )
    r.add_argument("--seed", type=whole_number, help="seed for the round order")
    r.add_argument("--results", help="results directory (default: results/)")
    r.add_argument("--sizes", metavar="SIZES", help="--scenario size: image sizes (default 10M,100M,1G)")
    r.add_argument("--first-start", dest="first_start", action="store_true",
                   help="--scenario size: each cycle a first start (image removed, then pulled)")  # fmt: skip
    r.add_argument("--size-max", dest="size_max", action="append", metavar="MODE=SIZE",
                   help="--scenario size: the largest size MODE runs (repeatable; run.size_max)")  # fmt: skip
    r.add_argument(
        "--scenario",
        choices=scenarios.names(),
        help="warm (default): the engine is up; cold: each cycle first stops and starts the engine; both; "
        "burst, rate, density: many containers at once (see --burst, --rate, --density-step); scale: burst, "
        "then rate when --rate is given, then density; service: swarm services (see --replicas); first-start: "
        "each cycle first removes and pulls the image (from a registry the run starts on loopback); size: "
        "each mode x each image size (--sizes; with --first-start each cycle a first start)",
    )
    r.add_argument("--cold-rounds", dest="cold_rounds", type=positive_int, help="cold rounds (default 8)")
    r.add_argument(
        "--cycle",
        choices=["full", "run"],
        help="cycle shape for every mode: full (default: create..exec, stop, remove) or run "
        "(create, start, ready, wait, remove: what `docker run --rm` does)",
    )
    _add_scale_flags(r)
    r.add_argument(
        "--replicas",
        type=_replica_counts,
        metavar="N,N,...",
        help="service scenario: replica counts, one per round in a seeded shuffled order (default 1,4,8)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument(
        "--allow-concurrent",
        action="store_true",
        help="run beside another run that leases the same engine (both sets are marked concurrent)",
    )


def _add_ab(sub: Any) -> None:
    from analysis.cli import add_design_options

    a = sub.add_parser(
        "ab",
        help="in-run A/B: two modes (--mode BASE --mode CANDIDATE) in the same interleaved rounds, compared "
        "round by round",
    )
    _add_run_options(a)
    a.add_argument("--from", dest="source", metavar="RESULT", help="analyse this set instead of running anew")
    add_design_options(a)
    a.set_defaults(fn=cmd_ab)


def cmd_ab(args: argparse.Namespace) -> int:
    """Runs BASE and CANDIDATE in one set (or reads one), then prints the paired verdict."""
    from analysis.cli import ab_report
    from bench.run import run

    if not args.mode or len(args.mode) != 2 or args.mode[0] == args.mode[1]:
        raise UserError(
            "ab needs exactly two different modes: --mode BASE --mode CANDIDATE (the base first), e.g. "
            "--mode runc --mode runc-candidate."
        )
    base, candidate = args.mode
    if args.source:
        path: Optional[Path] = Path(args.source)
    else:
        code, path = run(_load(args), show_progress=not args.quiet, allow_concurrent=args.allow_concurrent)
        if code != 0 or path is None:
            return code
    assert path is not None
    return ab_report(path, base, candidate, args)


def _add_scale_flags(r: argparse.ArgumentParser) -> None:
    g = r.add_argument_group("scale scenarios (defaults: bench.toml [scale])")
    g.add_argument("--burst", type=_levels(True), metavar="N,N,...", help="burst sizes, e.g. 1,2,4,8,16")
    g.add_argument("--repeat", type=positive_int, help="bursts per (mode, size), in seeded shuffled rounds")
    g.add_argument(
        "--rate", dest="rates", type=_levels(False), metavar="R,R,...", help="open-loop arrival rates (starts/s)"
    )
    g.add_argument("--rate-duration", dest="rate_duration_s", type=positive_float, help="seconds per rate run")
    g.add_argument("--density-step", dest="density_step", type=positive_int, help="idle containers added per step")
    g.add_argument("--density-max", dest="density_max", type=positive_int, help="containers running at most")
    g.add_argument(
        "--reserve-gib", dest="reserve_gib", type=positive_float, help="stop density below this much free memory"
    )
    g.add_argument("--slo-s", dest="slo_s", type=positive_float, help="startup SLO in seconds (default 5)")
    g.add_argument(
        "--scale-budget", dest="scale_budget_s", type=positive_float, help="no new group starts after this many s"
    )


def add_commands(sub: Any) -> None:
    """The harness's subcommands, for `python -m bench` and the `isobench` command."""
    _add_run(sub)
    d = sub.add_parser("doctor", help="check every mode without running the benchmark")
    _with_config(d)
    d.set_defaults(fn=cmd_doctor)

    e = sub.add_parser("export", help="export a result set")
    e.add_argument("--pyperf", dest="result", required=True, help="result set to export as a pyperf suite")
    e.add_argument("-o", "--output", help="output file (default: RESULT.pyperf.json)")
    e.set_defaults(fn=cmd_export)

    sub.add_parser("ping", help="exit 0 when the default engine (DOCKER_HOST or local) answers").set_defaults(
        fn=cmd_ping
    )

    s = sub.add_parser("sweep", help="remove containers left by isobench runs")
    s.add_argument("--run-id", help="only this run's containers")
    s.add_argument("--force", action="store_true", help="also the containers of runs that still hold a lease")
    s.set_defaults(fn=cmd_sweep)

    i = sub.add_parser("image", help="build (Linux) or pull (Windows) the test image on the default engine")
    i.add_argument("--force", action="store_true", help="rebuild even if present")
    i.add_argument("--size", metavar="SIZES", help="instead: images of the test image plus seeded random data, "
                   "one per size (binary units: 10M,100M,1G), tagged isobench/size:SIZE")  # fmt: skip
    i.add_argument("--remove", action="store_true", help="with --size: remove those images")
    i.set_defaults(fn=cmd_image)

    v = sub.add_parser("vm", help="the VM-hosted engine (the toolbox role on Linux)")
    v.add_argument("action", choices=["up", "down", "status"])
    v.set_defaults(fn=cmd_vm)

    o = sub.add_parser("overhead", help="benchmark: the harness's own cost against raw HTTP and the docker CLI")
    o.add_argument("--rounds", type=positive_int)
    o.set_defaults(fn=cmd_overhead)

    w = sub.add_parser("swarm", help="a real three-node Docker Swarm on this machine, for service startup")
    w.add_argument("action", choices=["up", "down", "status"])
    w.set_defaults(fn=cmd_swarm)


def cmd_fleet_report(args: argparse.Namespace) -> int:
    from analysis.fleet_report import write_fleet_report

    return write_fleet_report(Path(args.results), Path(args.out) if args.out else None)


def cmd_swarm(args: argparse.Namespace) -> int:
    from bench.engine.swarm import main as swarm_main

    return swarm_main(args.action)


def _ended(fn: Any, args: argparse.Namespace) -> int:
    """The command, then whatever an engine driver started stops (the Podman services), on every exit path."""
    from bench.engine.drivers import close_all

    try:
        return run_command(fn, args)
    finally:
        close_all()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return _ended(args.fn, args)


def isobench_main(argv: Optional[Sequence[str]] = None) -> int:
    """The `isobench` console script."""
    from analysis.cli import sides_argv

    args = build_isobench_parser().parse_args(sides_argv(sys.argv[1:] if argv is None else argv))
    return _ended(args.fn, args)
