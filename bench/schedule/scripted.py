"""Result sets written by a real run's machinery on scripted times: the scheduler and the writer
driven through the ScriptedExecutor (the executor seam), so what they write is exactly what a run
writes. For tests and demonstrations of the analysis without an engine."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Union

from bench.core.config import RunSettings
from bench.measure.executor import ScriptedExecutor
from bench.results import resultset
from bench.results.synthetic import SyntheticMode, header
from bench.schedule.scheduler import Output, Position, Scheduler, end_record


def _script(modes: list[SyntheticMode], seed: int) -> Callable[[str, str, int], Union[int, str]]:
    rng = random.Random(seed)
    by_name = {m.name: m for m in modes}

    def script(mode: str, phase: str, rnd: int) -> Union[int, str]:
        m = by_name[mode]
        if phase == m.failure_phase and rng.random() < m.failure_rate:
            return m.failure_error
        return int(m.phase_ms[phase] * 1e6 * rng.lognormvariate(0, m.noise))

    return script


def scripted_run(
    path: Path, modes: list[SyntheticMode], rounds: int, warmup: int = 1, seed: int = 0, **header_kw: Any
) -> Path:
    """A full run through Scheduler + ScriptedExecutor + ResultWriter."""
    writer = resultset.ResultWriter.create(path, header(modes, seed=seed, **header_kw))
    runtimes: list[Any] = [SimpleNamespace(mode=SimpleNamespace(name=m.name)) for m in modes]
    settings = RunSettings(rounds=rounds, warmup=warmup, min_rounds=1, budget_s=None)
    outcome = Scheduler(
        settings, runtimes, ScriptedExecutor(_script(modes, seed)), Output(writer), Position(seed)
    ).run()
    writer.close(end_record(outcome, 0, []))
    return path
