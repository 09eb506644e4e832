"""first-start: the image is not on the engine. Before each cycle the mode's image is removed (untimed),
then pulled, timed (`pull`, per-layer download and extract times: bench.measure.pull), then the cycle
runs as warm: create, start, ready, exec, stop, remove. Samples carry scenario "first-start".

Where the images come from (the header's `first_start` record says which was used):

- a real registry: Debian's `docker-registry` started by the run on a loopback port with its own config
  and temporary storage (bench.engine.registry), or the user's own (`[scenario.first-start] registry = "host:port"`;
  `run.registry` in older configs); the
  run's images are pushed there once, untimed, before the first round;
- `load` (no registry binary on this host): `docker load` of a tarball saved once per run.

Every exit path (`close`) stops the registry the run started and removes its storage, removes the
registry's tags from the engine and puts each image back under its own reference (rebuilt, for the
images isobench builds, when a failed pull left it absent). A registry that stops answering mid-run
fails that cycle's pull (`registry_unavailable`), and the run ends there, in one sentence.

Analysis: analysis/scenarios/first_start.py.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, Optional

import docker

from bench.core.config import Config
from bench.core.errors import UserError
from bench.core.outcomes import REGISTRY_UNAVAILABLE, CallTimeout
from bench.core.phases import ALL_PHASES, CLEANUP, CYCLE_SHAPES, FIRST_START, PULL, WARM
from bench.core.scenario_settings import ScenarioSettings
from bench.core.table import Table
from bench.core.watchdog import call_with_timeout
from bench.engine import registry as registries
from bench.engine.preflight import ModeRuntime
from bench.measure import pull
from bench.measure.executor import CycleResult, EnginePhases, not_run
from bench.results.records import Place, Sample
from bench.results.resultset import ResultSet
from bench.scenarios.base import Cleanup, HeaderFacts, ResumePlan, RunContext, Start, cannot_resume
from bench.scenarios.cycles import CycleScenario, CycleSession, cycle_harness
from bench.schedule.scheduler import Outcome, Scheduler

PULL_TIMEOUT_S = 600.0  # a 1 GB image through the VM's forward is slow; the watchdog still bounds it
PUSH_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class FirstStartSettings(ScenarioSettings):
    """`[scenario.first-start]`: ``registry``, the user's own registry (host:port) to pull from; None: the
    run starts its own on loopback."""

    RUN_KEYS = {"registry": "registry"}

    registry: Optional[str] = None

    @classmethod
    def read(cls, table: Table) -> FirstStartSettings:
        """``registry``: host:port, the port a whole number from 1 to 65535."""
        addr = table.string("registry")
        if addr is not None:
            host, _, port = addr.rpartition(":")
            if not host or "/" in addr or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise UserError(f"{table.source}: {table.path('registry')} is {addr!r}: give host:port (e.g. "
                                "registry.example:5000), no scheme.")  # fmt: skip
        return cls(registry=addr)


def settings_of(config: Config) -> FirstStartSettings:
    return config.settings_of(FIRST_START, FirstStartSettings)


class RegistryGone(Exception):
    """The registry stopped answering: no further first start can be measured."""


@dataclass
class Images:
    """Where each image comes from: ``paths`` (engine url, local reference) -> its name in the registry,
    without the registry's address (registry source: each engine dials the registry at its own address for
    it, ``registry_ref``; engines whose images of one reference differ pull each their own, under tags of
    their own), or ``tarballs`` local reference -> saved tarball (load source)."""

    registry: Optional[registries.Registry] = None
    paths: dict[tuple[str, str], str] = field(default_factory=dict)
    tarballs: dict[str, Path] = field(default_factory=dict)
    folder: Optional[Path] = None
    seen_by: dict[str, str] = field(default_factory=dict)  # mode -> the registry's address as its engine dials it
    left: list[str] = field(default_factory=list)  # images pushed to the user's registry that stayed there
    registry_cleaned: bool = False
    # (engine url, reference) of the images an engine did not hold before the run (its first pull brings
    # them): removed again at the end, never rebuilt there
    absent_before: set[tuple[str, str]] = field(default_factory=set)
    # ... and those it held: put back (rebuilt if a failed pull left them absent). An engine in neither set
    # was never looked at (preparation stopped before it) and is left alone.
    present_before: set[tuple[str, str]] = field(default_factory=set)

    def note_before(self, rt: ModeRuntime) -> Optional[dict[str, Any]]:
        """Looks whether ``rt``'s engine holds its image before the run touches it; its inspect, or None."""
        got = _inspect(rt)
        (self.absent_before if got is None else self.present_before).add((rt.endpoint.base_url, rt.image))
        return got

    def addr_for(self, rt: ModeRuntime) -> str:
        """The registry's address as ``rt``'s engine dials it (prepare refused the modes that have none)."""
        assert self.registry is not None
        addr = self.registry.addr_seen_by(rt.endpoint.host_alias)
        assert addr is not None
        return addr

    def registry_ref(self, rt: ModeRuntime) -> Optional[str]:
        """The reference ``rt``'s engine pulls its image by: ``127.0.0.1:P/isobench/size:10M`` for an engine on
        this host, ``10.0.2.2:P/...`` for the VM's (qemu's address for the host's loopback)."""
        path = self.paths.get((rt.endpoint.base_url, rt.image))
        if self.registry is None or path is None:
            return None
        return f"{self.addr_for(rt)}/{path}"

    def record(self) -> dict[str, Any]:
        if self.registry is not None:
            images = sorted({(ref, self.registry.ref(p)) for (_, ref), p in self.paths.items()})
            return {**self.registry.record(), "images": {ref: [r for k, r in images if k == ref] for ref, _ in images},
                    "seen_by": dict(self.seen_by)}  # fmt: skip
        return {"source": "load", "registry": None, "images": {k: None for k in self.tarballs},
                "why": f"no {registries.BINARY} on this host (scripts/setup-registry.sh installs it)"}  # fmt: skip


def _push(api: Any, ref: str, registry_ref: str) -> None:
    repo, _, tag = registry_ref.rpartition(":")
    api.tag(ref, repo, tag)
    try:
        for line in api.push(repo, tag=tag, stream=True, decode=True):
            if line.get("error"):
                raise UserError(f"pushing {ref} to the registry {registry_ref} failed: {line['error']}.")
    finally:
        api.remove_image(registry_ref)  # the tag only: the image keeps its own


def _split(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    return (repo, tag) if repo and "/" not in tag else (ref, "latest")


class FirstStartExecutor:
    """Each cycle: remove, timed pull, then the inner executor's cycle (bench.measure.docker)."""

    def __init__(self, inner: Any, images: Images) -> None:
        self.inner, self.images = inner, images
        self.gone: Optional[str] = None
        self.gone_round: Optional[int] = None  # the round whose pull found the registry gone
        self.lost_tags: set[str] = set()  # other tags of an image that could not be put back after its pull

    def run_cycle(self, rt: ModeRuntime, round_no: int, pos: int, warmup: bool, scenario: str = WARM) -> CycleResult:
        if self.gone is not None:
            raise RegistryGone(self.gone)
        base = Place(round=round_no, pos=pos, mode=rt.mode.name, warmup=warmup, scenario=FIRST_START)
        api, ref, t = rt.client, rt.image, rt.mode.timeouts
        shape = CYCLE_SHAPES[rt.mode.cycle]
        wall = time.time_ns()
        try:
            others = pull.remove_image(api, ref, t.remove)
        except Exception as exc:  # noqa: BLE001 - the cycle cannot be a first start: a failed pull sample
            category, message = pull.classify_pull(exc)
            failed = Sample(**base, phase=PULL, duration_ns=None, ok=False, error=category, wall_ns=wall,
                            message=f"removing the image before the pull failed: {message}")  # fmt: skip
            return CycleResult([failed] + [not_run(base, p, PULL) for p in shape])
        pulled_by = self.images.registry_ref(rt)
        if pulled_by is not None:
            registry_ref, source = pulled_by, pull.from_registry(api, pulled_by, self.images.addr_for(rt))
        else:
            registry_ref, source = ref, pull.from_tarball(api, str(self.images.tarballs[ref]))
        sample, signal = pull.timed_pull(base, PULL_TIMEOUT_S, source)
        if not sample.ok:
            self._check_registry(sample, round_no)
            return CycleResult([sample] + [not_run(base, p, PULL) for p in shape], interrupted=signal)
        if registry_ref != ref:  # untimed: the container is created from the image's own reference
            try:
                call_with_timeout(lambda: api.tag(registry_ref, *_split(ref)), t.create, "tag image")
            except Exception as exc:  # noqa: BLE001 - the pull is kept; the cycle fails at create, said why
                category, message = pull.classify_pull(exc)
                said = f"tagging the pulled image failed: {message}"
                failed = Sample(**base, phase=shape[0], duration_ns=None, ok=False, error=category,
                                wall_ns=time.time_ns(), message=said)  # fmt: skip
                return CycleResult([sample, failed, *(not_run(base, p, shape[0]) for p in shape[1:])])
        try:
            pull.retag(api, ref, others, t.create)
        except Exception:  # noqa: BLE001 - the cycle still runs; the session's end names the missing tags
            self.lost_tags.update(others)
        result = self.inner.run_cycle(rt, round_no, pos, warmup, scenario=FIRST_START)
        result.samples.insert(0, sample)
        return result

    def _check_registry(self, sample: Sample, round_no: int) -> None:
        reg = self.images.registry
        if reg is not None and sample.error == REGISTRY_UNAVAILABLE and not reg.alive():
            self.gone_round = round_no
            self.gone = (
                f"the registry {reg.addr} stopped answering in round {round_no} ({(sample.message or '')[:160]}): the "
                "first starts measured until then are kept; the run's registry was stopped and its images put back"
            )

    def restart_engine(self, rt: ModeRuntime, control: Any, base: Place) -> EnginePhases:
        return self.inner.restart_engine(rt, control, base)

    def retry_pending(self, deadline_s: float) -> list[str]:
        return self.inner.retry_pending(deadline_s)


@dataclass
class FirstStartUnits:
    """The scheduler's rounds; a registry gone mid-run ends them as a failed run with its own stop."""

    scheduler: Scheduler
    executor: Optional[FirstStartExecutor] = None  # knows the round in which the registry went

    @property
    def tally(self) -> Any:
        return self.scheduler.tally

    def run(self) -> Outcome:
        try:
            return self.scheduler.run()
        except RegistryGone as gone:
            return Outcome("failed", str(gone), self.measured_rounds(), self.scheduler.tally, stop=REGISTRY_UNAVAILABLE)

    def measured_rounds(self) -> int:
        """The measured rounds before the one whose pull found the registry gone. The scheduler counts that
        round too when its failed pull was the round's last cycle (it ends only at the next cycle)."""
        counted = self.scheduler.measured
        gone = self.executor.gone_round if self.executor is not None else None
        if gone is None:
            return counted
        return max(0, min(counted, gone - self.scheduler.first_measured_round))


@dataclass
class FirstStartSession(CycleSession):
    images: Optional[Images] = None
    executors: list[FirstStartExecutor] = field(default_factory=list)  # their lost tags are said at close

    def facts(self) -> HeaderFacts:
        self.images = prepare(self.ctx, self.ctx.runtimes)  # before the header: it records where the images come from
        return HeaderFacts(harness=cycle_harness(self.ctx), first_start=self.images.record())

    def units(self, start: Start) -> FirstStartUnits:  # type: ignore[override]
        assert self.images is not None
        settings = replace(self.ctx.config.run, scenario=WARM)  # rounds of cycles, each cycle a first start
        self.executing = self.ctx.open_executor()
        executor = FirstStartExecutor(self.executing.executor, self.images)
        self.executors.append(executor)
        scheduler = Scheduler(settings, self.ctx.runtimes, executor, start.output(), start.position())
        return FirstStartUnits(scheduler, executor)

    def finish(self, units: Any) -> Cleanup:
        return with_registry_left(super().finish(units), self.ctx, self.images)

    def close(self) -> None:
        if self.images is not None:
            put_back(self.ctx, self.images, self.ctx.runtimes)
        say_lost_tags(self.ctx, self.executors)


def prepare(ctx: RunContext, runtimes: list[ModeRuntime]) -> Images:
    """The registry up (the user's, or one started here) and every image pushed to it once, untimed, from
    an engine on this host where one runs it (else from the VM's, through its address for the host); or,
    without a registry binary, each image saved to a tarball for `docker load`."""
    addr = settings_of(ctx.config).registry
    if addr is None and not registries.available():
        return _save_tarballs(ctx, runtimes)
    reg = registries.users(addr) if addr else registries.start_local()
    images = Images(registry=reg)
    try:
        ids = _reach(ctx, reg, runtimes, images)
        versions: dict[str, str] = {}  # reference -> the registry path of its first version pushed
        for (ref, image_id), group in _versions(runtimes, ids):
            rt = pushers(group)[ref]
            path = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
            path = path if reg.owned else f"isobench-first-start/{path}"
            path = path if ref not in versions else f"{path}-{image_id.split(':')[-1][:12]}"  # another version
            ctx.say(f"  first-start: pushing {ref} from {rt.mode.name}'s engine to {reg.addr} (untimed)")
            call_with_timeout(partial(_push, rt.client, ref, f"{images.addr_for(rt)}/{path}"), PUSH_TIMEOUT_S, "push")
            versions.setdefault(ref, path)
            images.paths.update({(g.endpoint.base_url, ref): path for g in group})
        for url, ref in images.absent_before:  # the first pull brings the image an engine does not hold
            if ref not in versions:
                raise UserError(f"first-start: no engine of the run holds {ref}: pull or build it, then run again.")
            images.paths[(url, ref)] = versions[ref]
    except BaseException as exc:
        put_back(ctx, images, runtimes)
        _refuse_preparation(exc, f"pushing the images to the registry {reg.addr}")
    return images


def pushers(runtimes: list[ModeRuntime]) -> dict[str, ModeRuntime]:
    """Per image, the engine it is pushed (or saved) from: one on this host where a mode runs there (its
    push goes over loopback, not through the VM's emulated network), else the first that runs it."""
    chosen: dict[str, ModeRuntime] = {}
    for rt in runtimes:
        here = rt.endpoint.host_alias == "127.0.0.1"
        if rt.image not in chosen or (here and chosen[rt.image].endpoint.host_alias != "127.0.0.1"):
            chosen[rt.image] = rt
    return chosen


def _inspect(rt: ModeRuntime) -> Optional[dict[str, Any]]:
    """The engine's inspect of the mode's image; None when it does not hold it."""
    try:
        got: dict[str, Any] = call_with_timeout(partial(rt.client.inspect_image, rt.image), rt.mode.timeouts.ping,
                                                "inspect image")  # fmt: skip
        return got
    except Exception as exc:  # noqa: BLE001 - only "absent" is an answer
        if getattr(exc, "status_code", None) == 404:
            return None
        raise


def _versions(
    runtimes: list[ModeRuntime], ids: dict[tuple[str, str], str]
) -> list[tuple[tuple[str, str], list[ModeRuntime]]]:
    """(reference, image id) and the modes whose engines hold that version (the VM's test image is imported
    at each boot: another id for the same content); each version is pushed once and pulled by its own. The
    versions this host's engine holds first: theirs keeps the reference's own tag in the registry."""
    groups: dict[tuple[str, str], list[ModeRuntime]] = {}
    for rt in runtimes:
        image_id = ids.get((rt.endpoint.base_url, rt.image))
        if image_id is not None:
            groups.setdefault((rt.image, image_id), []).append(rt)
    return sorted(groups.items(), key=lambda kv: not any(r.endpoint.host_alias == "127.0.0.1" for r in kv[1]))


def _reach(
    ctx: RunContext, reg: registries.Registry, runtimes: list[ModeRuntime], images: Images
) -> dict[tuple[str, str], str]:
    """(engine url, reference) -> the image's id there; ``images.seen_by`` (mode -> the registry's address as
    its engine dials it) and ``images.absent_before`` filled. Refused in one sentence: an engine with no way
    to the host's loopback registry, an engine that would refuse its plain HTTP (a VM booted from an older
    image)."""
    ids: dict[tuple[str, str], str] = {}
    for rt in runtimes:
        addr = reg.addr_seen_by(rt.endpoint.host_alias)
        if addr is None:
            raise UserError(f"first-start: mode {rt.mode.name}'s engine ({rt.endpoint.base_url}) has no known way to "
                            f"this host's loopback, where the run's registry {reg.addr} listens: set "
                            "[scenario.first-start] registry to a registry that engine reaches, or leave the mode "
                            "out.")  # fmt: skip
        if addr != reg.addr and not _accepts_plain_http(rt, addr):
            raise UserError(f"first-start: mode {rt.mode.name}'s engine does not accept plain HTTP from {addr} (the "
                            "run's loopback registry as it sees it; the running VM was booted from an older image): "
                            "isobench vm down, then run again.")  # fmt: skip
        images.seen_by[rt.mode.name] = addr
        got = images.note_before(rt)  # None: the size scenario carries its images to one engine only
        if got is not None:
            ids[(rt.endpoint.base_url, rt.image)] = str(got["Id"])
    return ids


def _accepts_plain_http(rt: ModeRuntime, addr: str) -> bool:
    """Does the engine's /info say it pulls from ``addr`` over plain HTTP (an insecure registry, by name or
    by network)? Engines treat loopback registries so on their own; the VM's is told at boot."""
    import ipaddress

    info = call_with_timeout(rt.client.info, rt.mode.timeouts.ping, "info")
    cfg = info.get("RegistryConfig") or {}
    index = (cfg.get("IndexConfigs") or {}).get(addr) or {}
    if index.get("Secure") is False:
        return True
    host = addr.rsplit(":", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cfg.get("InsecureRegistryCIDRs") or [])


def _refuse_preparation(exc: BaseException, doing: str) -> NoReturn:
    """An engine call that failed or hung while the images were prepared (untimed, before any cycle): one
    sentence, not a traceback; a stop signal and the user's own refusals pass through as they are."""
    if isinstance(exc, (CallTimeout, docker.errors.DockerException, OSError)):
        raise UserError(f"first-start: {doing} failed ({str(exc).strip()[:200]}): nothing was measured; "
                        "check the engine and the registry, then run again.") from None  # fmt: skip
    raise exc


def _save_tarballs(ctx: RunContext, runtimes: list[ModeRuntime]) -> Images:
    """Each image saved once (from the engine ``pushers`` names for it) and loaded into every mode's engine;
    those an engine did not hold before are removed from it at the end."""
    folder = Path(tempfile.mkdtemp(prefix="isobench-first-start-"))
    images = Images(folder=folder)
    try:
        for rt in runtimes:
            images.note_before(rt)
        for i, (ref, rt) in enumerate(pushers(runtimes).items()):
            path = folder / f"{i}.tar"
            ctx.say(f"  first-start: no registry here, saving {ref} for docker load (untimed)")

            def save(ref: str = ref, path: Path = path, api: Any = rt.client) -> None:
                with open(path, "wb") as out:
                    for chunk in api.get_image(ref):
                        out.write(chunk)

            call_with_timeout(save, PUSH_TIMEOUT_S, "save image")
            images.tarballs[ref] = path
    except BaseException as exc:  # nobody owns the folder yet: its partial tarballs go here
        shutil.rmtree(folder, ignore_errors=True)
        _refuse_preparation(exc, "saving the images for docker load")
    return images


def delete_pushed(ctx: RunContext, images: Images) -> tuple[str, ...]:
    """The images this run pushed to the user's own registry, deleted through its API (once: the end record
    asks first, every exit path after). Returns those that stayed, with why, said to the user in one line;
    a registry the run started goes whole with its storage."""
    reg = images.registry
    if reg is None or reg.owned or images.registry_cleaned:
        return tuple(images.left)
    images.registry_cleaned = True
    for path in sorted(set(images.paths.values())):
        why = registries.delete_image(reg.addr, path)
        if why is not None:
            images.left.append(f"{reg.ref(path)} ({why})")
    if images.left:
        ctx.say(f"  warning: first-start left {len(images.left)} image(s) it pushed to the registry {reg.addr}: "
                f"{'; '.join(images.left)}: delete them there by hand")  # fmt: skip
    return tuple(images.left)


def with_registry_left(cleanup: Cleanup, ctx: RunContext, images: Optional[Images]) -> Cleanup:
    """The session's end cleanup with the registry's leftovers, for the end record."""
    return replace(cleanup, registry_left=delete_pushed(ctx, images)) if images is not None else cleanup


def say_lost_tags(ctx: RunContext, executors: list[FirstStartExecutor]) -> None:
    lost = sorted({tag for e in executors for tag in e.lost_tags})
    if lost:
        ctx.say(f"  warning: first-start could not put back the tag(s) {', '.join(lost)}: docker tag them again")


def put_back(ctx: RunContext, images: Images, runtimes: list[ModeRuntime]) -> None:
    """Every exit path: each image under its own reference again, no registry tag left, the registry this
    run started stopped and its storage removed, the saved tarballs deleted. Each step guarded."""
    try:
        for rt in {(rt.endpoint.base_url, rt.image): rt for rt in runtimes}.values():  # each image on each engine
            key = (rt.endpoint.base_url, rt.image)
            if key not in images.absent_before and key not in images.present_before:
                continue  # never looked at: preparation stopped before this engine, which the run did not touch
            registry_ref = images.registry_ref(rt)
            last = partial(_remove, rt) if key in images.absent_before else partial(_rebuild_if_absent, ctx, rt)
            for step in (partial(_retag, rt, registry_ref), last):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - said, and the next step still runs
                    ctx.say(f"  warning: first-start could not put back {rt.image} ({exc}): docker pull or rebuild it")
    finally:  # a stop signal during a rebuild still stops the registry and removes the files
        delete_pushed(ctx, images)
        if images.registry is not None:
            images.registry.close()
        if images.folder is not None:
            shutil.rmtree(images.folder, ignore_errors=True)


def _retag(rt: ModeRuntime, registry_ref: Optional[str]) -> None:
    if registry_ref is None:
        return
    api = rt.client
    try:
        call_with_timeout(lambda: api.inspect_image(registry_ref), rt.mode.timeouts.ping, "inspect image")
    except Exception:  # noqa: BLE001 - the registry tag is not there: nothing to do
        return
    call_with_timeout(lambda: api.tag(registry_ref, *_split(rt.image)), rt.mode.timeouts.create, "tag image")
    call_with_timeout(lambda: api.remove_image(registry_ref), rt.mode.timeouts.remove, "untag image")


def _remove(rt: ModeRuntime) -> None:
    """An image the engine did not hold before the run (its first pull brought it) goes again."""
    try:
        call_with_timeout(partial(rt.client.remove_image, rt.image), rt.mode.timeouts.remove, "remove image")
    except Exception as exc:  # noqa: BLE001 - only "not there" is fine
        if getattr(exc, "status_code", None) != 404:
            raise


def _rebuild_if_absent(ctx: RunContext, rt: ModeRuntime) -> None:
    """A pull that failed left the image absent: the images isobench builds are built again (the same
    ids: bench.engine.sized, bench.engine.image); another image is named to the user."""
    from bench.engine import sized
    from bench.engine.image import ensure_image

    try:
        call_with_timeout(lambda: rt.client.inspect_image(rt.image), rt.mode.timeouts.ping, "inspect image")
        return
    except Exception as exc:  # noqa: BLE001 - only "absent" leads on
        if getattr(exc, "status_code", None) != 404:
            raise
    if rt.image.startswith(sized.REPOSITORY + ":"):
        call_with_timeout(lambda: sized.ensure_sized(rt.client, rt.image.split(":")[1]), PUSH_TIMEOUT_S, "rebuild")
    elif rt.image.startswith("isobench/busybox"):
        call_with_timeout(lambda: ensure_image(rt.client, rt.image), PUSH_TIMEOUT_S, "rebuild")
    else:
        ctx.say(f"  warning: {rt.image} is no longer on the engine (its last pull failed): docker pull {rt.image}")
        return
    ctx.say(f"  first-start: {rt.image} was absent after a failed pull: rebuilt")


class FirstStart(CycleScenario):
    name = FIRST_START
    sample_kinds = (PULL,) + ALL_PHASES + (CLEANUP,)
    settings = FirstStartSettings

    def rounds_planned(self, config: Config) -> int:
        return config.run.warmup + config.run.rounds

    def open(self, ctx: RunContext) -> FirstStartSession:
        return FirstStartSession(self, ctx, {}, {})

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan:
        return cannot_resume(rs, "first-start")


SCENARIO = FirstStart()
