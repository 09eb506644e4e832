"""`isobench fleet run|status`: one benchmark on every host of a swarm (or of an Ansible inventory, with
--inventory: bench/fleet/ansiblejob.py), each host's set filed here.

The swarm is the local one (`isobench swarm up`; with --local-swarm the fleet brings it up when none
is healthy, owns it and brings it down on every exit path) or any manager given by --manager. Hosts
run one after another by default (--max-concurrent 1: the local nodes share two cores). A manifest of
the fleet run (hosts, outcomes, hosts left out and why) is written to results/fleet/<id>.json, so the
fleet report can name the hosts that never brought a set back.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Optional

import docker

from bench.core.errors import UserError
from bench.core.paths import DEFAULT_RESULTS
from bench.core.watchdog import call_with_timeout
from bench.fleet import image as harness
from bench.fleet import jobspec, plan
from bench.fleet.sink import HostOutcome
from bench.fleet.swarmjob import CALL_S, Job, SwarmCarrier

API_VERSION = "1.41"  # Swarm jobs need Engine 20.10 / API 1.41
DEADLINE_SLACK_S = 180.0  # on top of the run's budget: preflight, image checks, warm-up, cleanup


def manifest_dir(results_dir: Path) -> Path:
    return results_dir / "fleet"


def _client_factory(endpoint: str) -> Callable[[], docker.APIClient]:
    return lambda: docker.APIClient(base_url=endpoint, version=API_VERSION, timeout=CALL_S)


def _local_swarm(bring_up: bool, say: Callable[[str], None]) -> tuple[Any, bool]:
    """The local swarm's state and whether this fleet run brought it up (and so owns it)."""
    from bench.engine import swarm

    st = swarm.load_state()
    if swarm.health(st) is None:
        return st, False
    if not bring_up:
        raise UserError(
            "no healthy swarm is up here: run `isobench swarm up` first, pass --local-swarm, or name a "
            "manager with --manager."
        )
    return swarm.up(say), True


def _reachable_engines(client: docker.APIClient, local: Any, manager: str) -> dict[str, tuple[str, str]]:
    """node id -> (its engine as reachable from here, its socket on the node): every node of the local swarm;
    of another swarm, the manager's own node (its engine is the one this fleet talks to)."""
    if local is not None:
        return {n.node_id: (n.endpoint, n.socket) for n in local.nodes}
    try:
        info = call_with_timeout(client.info, CALL_S, "info")
    except Exception:  # noqa: BLE001 - the node list below says what is wrong with the manager
        return {}
    node_id = str((info.get("Swarm") or {}).get("NodeID") or "")
    return {node_id: (manager, plan.LINUX_SOCKET)} if node_id else {}


def discover(client: docker.APIClient, local: Any, manager: str = "") -> list[plan.Host]:
    """The manager's nodes; those whose engine answers from here completed by their own engine's facts
    (its runtimes, its Windows build), so the plan can leave out in one sentence a node that cannot run."""
    nodes = call_with_timeout(client.nodes, CALL_S, "node list")
    engines = _reachable_engines(client, local, manager)
    hosts = []
    for node in nodes:
        host = plan.host_of(node)
        mine = engines.get(host.node_id)
        if mine is not None and host.state == "ready":
            endpoint, socket = mine
            try:
                with docker.APIClient(base_url=endpoint, version=API_VERSION, timeout=CALL_S) as c:
                    info = call_with_timeout(c.info, CALL_S, "info")
                host = plan.with_engine_facts(host, info, endpoint, socket)
            except Exception:  # noqa: BLE001 - then only the swarm's view of it is known
                pass
        hosts.append(host)
    return sorted(hosts, key=lambda h: h.name)


def _config_b64(config: Path) -> str:
    try:
        return base64.b64encode(config.read_bytes()).decode("ascii")
    except OSError as exc:
        raise UserError(f"the config {config} cannot be read ({exc.strerror}): pass --config FILE.") from None


def _deadline(run_args: list[str], config_budget: float) -> float:
    budget = config_budget
    if "--budget" in run_args:
        try:
            budget = float(run_args[run_args.index("--budget") + 1])
        except (IndexError, ValueError):
            raise UserError("--budget needs a number of seconds, e.g. --budget 120.") from None
    return budget + DEADLINE_SLACK_S


def fleet_run(opts: Any, run_args: list[str], say: Callable[[str], None] = print) -> int:
    """``opts``: the parsed `fleet run` options; ``run_args``: passed to every host's `run` as given."""
    results_dir = Path(opts.results or DEFAULT_RESULTS)
    fleet_id = uuid.uuid4().hex
    owned = False
    local = None
    if getattr(opts, "inventory", None):
        return fleet_run_inventory(opts, run_args, say)
    if opts.manager is None:
        local, owned = _local_swarm(opts.local_swarm, say)
    endpoint = str(opts.manager or (local.manager_endpoint if local is not None else ""))
    outcomes: list[HostOutcome] = []
    loaded: dict[str, str] = {}
    carrier: Optional[SwarmCarrier] = None
    try:
        carrier = SwarmCarrier(_client_factory(endpoint), results_dir, {}, say)
        chosen = plan.choose(
            discover(carrier.client, local, endpoint), tuple(opts.host or ()), tuple(opts.mode or ()),
            windows_image_build=opts.windows_image_build,
        )  # fmt: skip
        for skip in chosen.skipped:
            say(f"  {skip.host}: {skip.reason}")
        carrier.node_endpoints = {h.name: h.endpoint for h in chosen.hosts if h.endpoint}
        image_ref, image_rec = _image(opts, chosen, loaded, say)
        env = {"ISOBENCH_FLEET_CONFIG": _config_b64(Path(opts.config)), "PYTHONUNBUFFERED": "1"}
        fleet = {"carrier": "swarm-job", "fleet_id": fleet_id, "manager": endpoint, "image": image_rec}
        for host in chosen.hosts:
            args = [*run_args, *[a for m in chosen.modes[host.name] for a in ("--mode", m)]]
            spec = jobspec.job_spec(host, image_ref, fleet_id, args, env)
            job = Job(host, spec, _deadline(run_args, opts.budget_default))
            say(f"  {host.name}: harness job {spec['Name']} ({', '.join(chosen.modes[host.name]) or 'presets'})")
            outcome = carrier.run_one(job, {**fleet, "transport": host.transport})
            outcomes.append(outcome)
            say(f"  {host.name}: {outcome.status}, {outcome.samples} samples" + _why(outcome))
        about = {"carrier": "swarm-job", "manager": endpoint, "image": image_rec}
        _write_manifest(results_dir, fleet_id, about, outcomes, chosen.skipped)
    finally:
        _cleanup(carrier, fleet_id, loaded, owned, say)
    return _exit_code(outcomes, chosen.skipped if outcomes or carrier else ())


def _why(outcome: HostOutcome) -> str:
    return f" -> {outcome.path}" if outcome.status == "complete" else f": {outcome.reason}"


def _image(opts: Any, chosen: plan.Plan, loaded: dict[str, str], say: Callable[[str], None]) -> tuple[str, dict]:
    if opts.image:
        return opts.image, {"ref": opts.image, "loaded_by_fleet": False}
    linux = {h.name: h.endpoint for h in chosen.hosts if h.os == "linux"}
    unreachable = [n for n, ep in linux.items() if ep is None]
    if unreachable:
        raise UserError(
            f"the harness image cannot be loaded onto {', '.join(unreachable)} from here (their engines are not "
            "reachable): push it to a registry the nodes can pull from and pass --image REF."
        )
    if not linux:
        return harness.REF, {"ref": harness.REF}
    built = harness.load_onto({n: str(ep) for n, ep in linux.items()}, say)
    loaded.update({n: str(ep) for n, ep in linux.items()})
    return built.ref, {**built.record(), "loaded_by_fleet": True}


def _cleanup(
    carrier: Optional[SwarmCarrier], fleet_id: str, loaded: dict[str, str], owned: bool, say: Callable[[str], None]
) -> None:
    """Services, then the images it loaded, then (when it brought it up) the swarm: on every exit path."""
    if carrier is not None:
        try:
            carrier.sweep(fleet_id)
        except Exception as exc:  # noqa: BLE001 - named, never raised over the run's own outcome
            say(f"  warning: the fleet's services could not be listed for removal ({exc}).")
        carrier.close()
    left = harness.remove_from(loaded)
    if left:
        say(f"  warning: the harness image could not be removed from {', '.join(left)}.")
    if owned:
        from bench.engine import swarm

        swarm.down(say)


def _write_manifest(
    results_dir: Path, fleet_id: str, about: dict, outcomes: list[HostOutcome], skipped: tuple[plan.Skipped, ...]
) -> Path:
    """``about``: the carrier and what it ran through (the manager and image, or the inventory)."""
    out = manifest_dir(results_dir) / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}_{fleet_id[:8]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "fleet_id": fleet_id,
        **about,
        "hosts": [{**asdict(o), "path": str(o.path) if o.path else None} for o in outcomes],
        "skipped": [asdict(s) for s in skipped],
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, out)
    return out


def fleet_run_inventory(opts: Any, run_args: list[str], say: Callable[[str], None] = print) -> int:
    """The Ansible carrier: every host the inventory names (or those of them --host names), one after another."""
    from bench.fleet.ansiblejob import AnsibleCarrier, inventory_hosts

    inventory, config = Path(opts.inventory), Path(opts.config)
    _config_b64(config)  # an unreadable config is one sentence before any host is touched
    results_dir = Path(opts.results or DEFAULT_RESULTS)
    known = inventory_hosts(inventory)
    wanted = tuple(opts.host or ())
    skipped = tuple(
        plan.Skipped(n, f"the inventory names no host {n!r} (it names {', '.join(known)}).")
        for n in wanted
        if n not in known
    )
    for skip in skipped:
        say(f"  {skip.host}: {skip.reason}")
    fleet_id = uuid.uuid4().hex
    args = [*run_args, *[a for m in opts.mode or () for a in ("--mode", m)]]
    fleet = {"carrier": "ansible", "fleet_id": fleet_id, "inventory": str(inventory.resolve())}
    work = Path(tempfile.mkdtemp(prefix=f"isobench-fleet-{fleet_id[:8]}-"))
    outcomes: list[HostOutcome] = []
    try:
        say("  building isobench's wheel and its run-time wheels for the hosts' venvs")
        carrier = AnsibleCarrier(inventory, work, harness.harness_wheels(work / "build"), config, say)
        for name in [n for n in known if not wanted or n in wanted]:
            say(f"  {name}: install, run, fetch over Ansible")
            outcome = carrier.run_one(
                name, fleet_id, args, _deadline(run_args, opts.budget_default), results_dir, {**fleet, "host": name}
            )
            outcomes.append(outcome)
            say(f"  {name}: {outcome.status}, {outcome.samples} samples" + _why(outcome))
        _write_manifest(results_dir, fleet_id, fleet, outcomes, skipped)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _exit_code(outcomes, skipped)


def _exit_code(outcomes: list[HostOutcome], skipped: Any) -> int:
    if any(o.status != "complete" for o in outcomes):
        return 1
    return 2 if skipped else 0


def fleet_status(opts: Any, say: Callable[[str], None] = print) -> int:
    """What runs where: every fleet job on the manager, with its task's node and state."""
    endpoint = opts.manager
    if endpoint is None:
        from bench.engine import swarm

        st = swarm.load_state()
        if st is None:
            say("no swarm is recorded here and no --manager was given: no fleet runs.")
            return 0
        endpoint = st.manager_endpoint
    with _client_factory(endpoint)() as c:
        services = call_with_timeout(lambda: c.services(filters={"label": jobspec.FLEET_LABEL}), CALL_S, "services")
        nodes = {n["ID"]: plan.host_of(n).name for n in call_with_timeout(c.nodes, CALL_S, "nodes")}
        if not services:
            say("no fleet job runs on this swarm.")
        for svc in services:
            sid: str = svc["ID"]
            for t in call_with_timeout(functools.partial(c.tasks, filters={"service": sid}), CALL_S, "tasks"):
                status = t.get("Status") or {}
                say(
                    f"{svc['Spec']['Name']}  node {nodes.get(t.get('NodeID'), '?')}  {status.get('State')}  "
                    f"since {status.get('Timestamp', '?')[:19]}  "
                    f"fleet {svc['Spec']['Labels'][jobspec.FLEET_LABEL][:8]}"
                )
    return 0
