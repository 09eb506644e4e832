"""size: does the ranking hold for bigger images? Each round runs one cycle of each mode with each image
size (`[scenario.size] sizes`, default 10M, 100M, 1G: the images of `isobench image --size`, built here when missing,
untimed), all interleaved in one seeded shuffled order. Samples carry scenario "size", `level` = the
image's size in MiB (`level_unit` MiB) and `group` = the cycle's number in the run (so each cycle is its own group).

With `first_start = true` there (`--first-start`) each of these cycles is a first start (bench/scenarios/
first_start.py: image removed, pulled from the run's registry, then the cycle), and its samples carry
scenario "first-start" with the same `level`: the warm and first-start series of one size line up.

Images this run built are removed at its end (those that were there before are left). Analysis:
analysis/scenarios/size.py; claims select a size by `level`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Mapping, Optional

import docker

from bench.core.config import Config
from bench.core.errors import UserError
from bench.core.outcomes import CallTimeout
from bench.core.phases import ALL_PHASES, CLEANUP, PULL, SIZE
from bench.core.scenario_settings import Option, ScenarioSettings
from bench.core.sizes import parse_size, parse_sizes
from bench.core.table import Table
from bench.core.watchdog import call_with_timeout
from bench.engine import sized
from bench.engine.preflight import ModeRuntime
from bench.measure.executor import CycleResult, EnginePhases
from bench.results.records import MIB, Place
from bench.results.resultset import ResultSet
from bench.scenarios.base import Cleanup, HeaderFacts, ResumePlan, RunContext, Start, cannot_resume
from bench.scenarios.cycles import CycleScenario, CycleSession, cycle_harness
from bench.scenarios.first_start import (
    FirstStartExecutor,
    FirstStartUnits,
    Images,
    prepare,
    pushers,
    put_back,
    with_registry_left,
)
from bench.schedule.scheduler import Scheduler

BUILD_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class SizeSettings(ScenarioSettings):
    """`[scenario.size]`: ``sizes``, the image sizes (isobench/size:SIZE), each mode x each size per round;
    ``first_start``: each of those cycles a first start (its samples then carry scenario "first-start")."""

    RUN_KEYS = {"sizes": "sizes", "size_first_start": "first_start"}
    OPTIONS = (
        Option("--sizes", "sizes", "--scenario size: image sizes (default 10M,100M,1G)", "SIZES",
               lambda text: parse_sizes(text, "--sizes")),
        Option("--first-start", "first_start",
               "--scenario size: each cycle a first start (image removed, then pulled)"),
        Option("--size-max", "size_max", "--scenario size: the largest size a mode runs (e.g. vm-engine=100M)",
               "MODE=SIZE[,...]", lambda text: _size_caps(text)),
    )  # fmt: skip

    sizes: tuple[str, ...] = ("10M", "100M", "1G")
    first_start: bool = False
    # mode -> the largest size it runs (the VM engine under TCG: a 1G first start does not fit in its
    # in-memory storage, so make bench-workloads stops it at 100M)
    size_max: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, table: Table) -> SizeSettings:
        d = cls()
        sizes = table.argv("sizes", d.sizes) or d.sizes
        where = f"{table.source}: {table.path('sizes')}"
        return cls(
            sizes=parse_sizes(",".join(sizes), where),
            first_start=table.boolean("first_start", d.first_start),
            size_max=_size_max(table.take("size_max"), f"{table.source}: {table.path('size_max')}"),
        )

    def sizes_of(self, mode: str) -> tuple[str, ...]:
        """The sizes ``mode`` runs: every size, up to its ``size_max``."""
        cap = self.size_max.get(mode)
        return self.sizes if cap is None else tuple(s for s in self.sizes if parse_size(s) <= parse_size(cap))


def _size_max(value: Any, where: str) -> dict[str, str]:
    """``size_max``: mode name -> a size (``{ vm-engine = "100M" }``)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UserError(f'{where} must map mode names to sizes, e.g. {{ vm-engine = "100M" }}.')
    for mode, size in value.items():
        parse_size(size, f"{where}.{mode}")
    return dict(value)


def _size_caps(text: str) -> dict[str, str]:
    """--size-max MODE=SIZE[,MODE=SIZE...]: each checked, in one sentence when wrong."""
    caps = {}
    for item in text.split(","):
        mode, eq, size = (part.strip() for part in item.partition("="))
        if not eq or not mode:
            raise UserError(f"--size-max {item!r}: give MODE=SIZE, e.g. --size-max vm-engine=100M.")
        parse_size(size, f"--size-max {mode}=")
        caps[mode] = size
    return caps


def settings_of(config: Config) -> SizeSettings:
    return config.settings_of(SIZE, SizeSettings)


class SizeExecutor:
    """The inner executor's cycle, its samples marked with the image's size (`level`) and the cycle's number."""

    def __init__(self, inner: Any, mib: dict[str, float]) -> None:
        self.inner, self.mib, self.cycles = inner, mib, 0

    def run_cycle(self, rt: ModeRuntime, round_no: int, pos: int, warmup: bool, scenario: str = SIZE) -> CycleResult:
        result: CycleResult = self.inner.run_cycle(rt, round_no, pos, warmup, scenario=SIZE)
        self.cycles += 1
        mib = self.mib[rt.image]
        result.samples[:] = [s.but(level=mib, group=self.cycles, level_unit=MIB) for s in result.samples]
        result.costs[:] = [c.but(level=mib, group=self.cycles, level_unit=MIB) for c in result.costs]
        return result

    def restart_engine(self, rt: ModeRuntime, control: Any, base: Place) -> EnginePhases:
        return self.inner.restart_engine(rt, control, base)

    def retry_pending(self, deadline_s: float) -> list[str]:
        return self.inner.retry_pending(deadline_s)


@dataclass
class SizeSession(CycleSession):
    sized_runtimes: Optional[list[ModeRuntime]] = None
    built: Optional[list[tuple[ModeRuntime, str]]] = None
    images: Optional[Images] = None

    def facts(self) -> HeaderFacts:
        r = settings_of(self.ctx.config)
        self.built, records = [], {}
        self.sized_runtimes = [replace(rt, image=sized.ref_of(label)) for label in r.sizes
                               for rt in self.ctx.runtimes if label in r.sizes_of(rt.mode.name)]  # fmt: skip
        # First starts: each image is built on one engine and pushed from there; another engine's first
        # pull brings it (loading 1 GB into the TCG guest only to remove it would take minutes)
        carriers = {(p.endpoint.base_url, ref) for ref, p in pushers(self.sized_runtimes).items()}
        for rt in self.sized_runtimes:
            label = rt.image.split(":", 1)[1]
            if r.first_start and (rt.endpoint.base_url, rt.image) not in carriers:
                continue
            self.ctx.say(f"  size: {rt.image} on {rt.mode.name}'s engine")
            try:
                b = call_with_timeout(partial(sized.ensure_sized, rt.client, label), BUILD_TIMEOUT_S, "build")
            except (CallTimeout, docker.errors.DockerException, OSError) as exc:
                raise UserError(f"size: building {rt.image} on {rt.mode.name}'s engine failed "
                                f"({str(exc).strip()[:200]}): nothing was measured; check the engine's free "
                                "space, then run again.") from None  # fmt: skip
            if b.built:
                self.built.append((rt, label))
            records[label] = {"ref": b.ref, "mib": parse_size(label) / 2**20, "image_id": b.image_id,
                              "layers": b.layers, "bytes": b.size}  # fmt: skip
        size = {"sizes": records, "first_start": r.first_start, "size_max": dict(r.size_max)}
        if r.first_start:
            self.images = prepare(self.ctx, self.sized_runtimes)
        first_start = self.images.record() if self.images is not None else None
        return HeaderFacts(harness=cycle_harness(self.ctx), size=size, first_start=first_start)

    def units(self, start: Start) -> FirstStartUnits:  # type: ignore[override]
        assert self.sized_runtimes is not None
        settings = replace(self.ctx.config.run, scenario="warm", precision=None)  # every size, every round
        self.executing = self.ctx.open_executor()
        inner: Any = self.executing.executor
        first = FirstStartExecutor(inner, self.images) if self.images is not None else None
        mib = {sized.ref_of(label): parse_size(label) / 2**20 for label in settings_of(self.ctx.config).sizes}
        scheduler = Scheduler(settings, self.sized_runtimes, SizeExecutor(first or inner, mib), start.output(),
                              start.position())  # fmt: skip
        return FirstStartUnits(scheduler, first)

    def finish(self, units: Any) -> Cleanup:
        return with_registry_left(super().finish(units), self.ctx, self.images)

    def close(self) -> None:
        if self.images is not None and self.sized_runtimes is not None:
            put_back(self.ctx, self.images, self.sized_runtimes)
        for rt, label in self.built or []:
            try:
                call_with_timeout(partial(sized.remove_sized, rt.client, label), rt.mode.timeouts.remove, "remove")
            except Exception as exc:  # noqa: BLE001 - said; the rest are still removed
                self.ctx.say(f"  warning: could not remove {sized.ref_of(label)} ({exc}): isobench image --size "
                             f"{label} --remove")  # fmt: skip


class Size(CycleScenario):
    name = SIZE
    sample_kinds = (PULL,) + ALL_PHASES + (CLEANUP,)
    settings = SizeSettings

    def check(self, config: Config) -> None:
        """A cap must name a mode of the run (a misspelt one would cap nothing, and the VM would get a 1G
        first start it cannot hold), and leave that mode at least one size."""
        own, names = settings_of(config), [m.name for m in config.modes]
        for mode, cap in own.size_max.items():
            if mode not in names:
                raise UserError(f"size_max names {mode!r}, which is not a mode of this run ({', '.join(names)}): "
                                "use one of those names, or leave it out.")  # fmt: skip
            if not own.sizes_of(mode):
                raise UserError(f"size_max caps {mode} at {cap}, below every size of the run "
                                f"({', '.join(own.sizes)}): raise the cap or leave the mode out.")  # fmt: skip

    def rounds_planned(self, config: Config) -> int:
        return (config.run.warmup + config.run.rounds) * len(settings_of(config).sizes)

    def open(self, ctx: RunContext) -> SizeSession:
        return SizeSession(self, ctx, {}, {})

    def plan_resume(self, rs: ResultSet, config: Config, seed: int) -> ResumePlan:
        return cannot_resume(rs, "size")


SCENARIO = Size()
