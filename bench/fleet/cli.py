"""`isobench fleet run|status|report`: the subcommand's options (the report itself is analysis's, so
bench/cli.py hands in its function: bench never imports analysis)."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from bench.core.paths import DEFAULT_CONFIG

# The `run` options a fleet passes on to every host's run, as given.
RUN_OPTIONS: dict[str, Any] = {
    "--rounds": int,
    "--warmup": int,
    "--min-rounds": int,
    "--budget": float,
    "--precision": float,
    "--seed": int,
    "--scenario": str,
}


def run_args_of(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for flag in RUN_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            out += [flag, str(value)]
    return out


def add_fleet(sub: Any, report: Callable[[argparse.Namespace], int]) -> None:
    f = sub.add_parser("fleet", help="one benchmark on every host (a swarm's nodes or an inventory's hosts), by host")
    acts = f.add_subparsers(dest="fleet_action", required=True, metavar="ACTION")
    r = acts.add_parser("run", help="run the benchmark on every host; other options go to each host's `run`")
    r.add_argument("--host", action="append", help="only this host (repeatable; default: every node)")
    r.add_argument("--mode", action="append", help="a mode every host must run (default: runc, runsc where present)")
    r.add_argument("--manager", help="the swarm manager's endpoint (default: the local swarm's)")
    r.add_argument(
        "--inventory",
        help="an Ansible inventory: its hosts run the benchmark over SSH instead of through a swarm (needs '.[fleet]')",
    )
    r.add_argument("--local-swarm", action="store_true", help="bring the local swarm up if none is, and down after")
    r.add_argument("--image", help="a harness image the nodes already hold or can pull (default: build and load)")
    r.add_argument("--windows-image-build", type=int, help="the Windows build the harness image was made for")
    r.add_argument("--results", help="results directory (default: results/)")
    r.add_argument("--config", default=str(DEFAULT_CONFIG), help="the bench.toml every host runs")
    for flag, kind in RUN_OPTIONS.items():
        r.add_argument(flag, type=kind, help="passed to every host's `run` (see `isobench run --help`)")
    r.set_defaults(fn=cmd_run, budget_default=420.0)
    s = acts.add_parser("status", help="what fleet jobs run where")
    s.add_argument("--manager", help="the swarm manager's endpoint (default: the local swarm's)")
    s.set_defaults(fn=cmd_status)
    p = acts.add_parser("report", help="the fleet report: one row per host, the mixed model across hosts")
    p.add_argument("results", nargs="?", default="results", help="the results folder (default: results/)")
    p.add_argument("--out", help="where to write fleet.html, fleet.md, fleet.csv (default: RESULTS/fleet/report)")
    p.set_defaults(fn=report)


def cmd_run(args: argparse.Namespace) -> int:
    run_args = run_args_of(args)
    from bench.fleet.main import fleet_run

    return fleet_run(args, run_args)


def cmd_status(args: argparse.Namespace) -> int:
    from bench.fleet.main import fleet_status

    return fleet_status(args)
