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
from bench.scenarios.base import HeaderFacts, ResumePlan, RunContext, Start, cannot_resume
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
    """Where each image comes from: ``refs`` local reference -> registry reference (registry source), or
    ``tarballs`` local reference -> saved tarball (load source)."""

    registry: Optional[registries.Registry] = None
    refs: dict[str, str] = field(default_factory=dict)
    tarballs: dict[str, Path] = field(default_factory=dict)
    folder: Optional[Path] = None

    def record(self) -> dict[str, Any]:
        if self.registry is not None:
            return {**self.registry.record(), "images": dict(self.refs)}
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
        if self.images.registry is not None:
            registry_ref = self.images.refs[ref]
            source = pull.from_registry(api, registry_ref, self.images.registry.addr)
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

    @property
    def tally(self) -> Any:
        return self.scheduler.tally

    def run(self) -> Outcome:
        try:
            return self.scheduler.run()
        except RegistryGone as gone:
            measured = getattr(self.scheduler, "_measured", 0)
            return Outcome("failed", str(gone), measured, self.scheduler.tally, stop=REGISTRY_UNAVAILABLE)


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
        return FirstStartUnits(Scheduler(settings, self.ctx.runtimes, executor, start.output(), start.position()))

    def close(self) -> None:
        if self.images is not None:
            put_back(self.ctx, self.images, self.ctx.runtimes)
        say_lost_tags(self.ctx, self.executors)


def prepare(ctx: RunContext, runtimes: list[ModeRuntime]) -> Images:
    """The registry up (the user's, or one started here) and every mode's image pushed to it, untimed; or,
    without a registry binary, each image saved to a tarball for `docker load`."""
    wanted = {rt.image: rt for rt in runtimes}
    addr = settings_of(ctx.config).registry
    if addr is None and not registries.available():
        return _save_tarballs(ctx, wanted)
    reg = registries.users(addr) if addr else registries.start_local()
    images = Images(registry=reg)
    try:
        for ref, rt in wanted.items():
            registry_ref = reg.ref(ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest")
            if not reg.owned:
                registry_ref = reg.ref(f"isobench-first-start/{registry_ref.split('/', 1)[1]}")
            ctx.say(f"  first-start: pushing {ref} to {reg.addr} (untimed)")
            call_with_timeout(partial(_push, rt.client, ref, registry_ref), PUSH_TIMEOUT_S, "push")
            images.refs[ref] = registry_ref
    except BaseException as exc:
        put_back(ctx, images, runtimes)
        _refuse_preparation(exc, f"pushing the images to the registry {reg.addr}")
    return images


def _refuse_preparation(exc: BaseException, doing: str) -> NoReturn:
    """An engine call that failed or hung while the images were prepared (untimed, before any cycle): one
    sentence, not a traceback; a stop signal and the user's own refusals pass through as they are."""
    if isinstance(exc, (CallTimeout, docker.errors.DockerException, OSError)):
        raise UserError(f"first-start: {doing} failed ({str(exc).strip()[:200]}): nothing was measured; "
                        "check the engine and the registry, then run again.") from None  # fmt: skip
    raise exc


def _save_tarballs(ctx: RunContext, wanted: dict[str, ModeRuntime]) -> Images:
    folder = Path(tempfile.mkdtemp(prefix="isobench-first-start-"))
    images = Images(folder=folder)
    try:
        for i, (ref, rt) in enumerate(wanted.items()):
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


def say_lost_tags(ctx: RunContext, executors: list[FirstStartExecutor]) -> None:
    lost = sorted({tag for e in executors for tag in e.lost_tags})
    if lost:
        ctx.say(f"  warning: first-start could not put back the tag(s) {', '.join(lost)}: docker tag them again")


def put_back(ctx: RunContext, images: Images, runtimes: list[ModeRuntime]) -> None:
    """Every exit path: each image under its own reference again, no registry tag left, the registry this
    run started stopped and its storage removed, the saved tarballs deleted. Each step guarded."""
    try:
        for rt in {rt.image: rt for rt in runtimes}.values():
            registry_ref = images.refs.get(rt.image)
            for step in (partial(_retag, rt, registry_ref), partial(_rebuild_if_absent, ctx, rt)):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - said, and the next step still runs
                    ctx.say(f"  warning: first-start could not put back {rt.image} ({exc}): docker pull or rebuild it")
    finally:  # a stop signal during a rebuild still stops the registry and removes the files
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

    def check(self, config: Config) -> None:
        vm = [m.name for m in config.modes if m.endpoint == "vm"]
        if vm:
            raise UserError(
                f"the first-start scenario cannot reach the VM engine yet (modes {', '.join(vm)}: its pulls would "
                "need a port forwarded to the loopback registry): leave those modes out (--mode runc --mode runsc)."
            )

    def rounds_planned(self, config: Config) -> int:
        return config.run.warmup + config.run.rounds

    def open(self, ctx: RunContext) -> FirstStartSession:
        return FirstStartSession(self, ctx, {}, {})

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan:
        return cannot_resume(rs, "first-start")


SCENARIO = FirstStart()
