"""cold: before each cycle the engine is stopped and started again (a VM booted, a dockerd restarted,
through the mode's engine control: bench.engine.control.restart); the cycle's samples carry scenario
"cold" and the engine's own phases. A mode without a control runs no cold rounds; a run where no
mode has one is refused. Analysis: analysis/scenarios/cold.py."""

from __future__ import annotations

from typing import Any

from bench.core.config import Config
from bench.core.errors import UserError
from bench.core.phases import ALL_PHASES, CLEANUP, COLD, ENGINE_PHASES
from bench.engine.drivers import driver_for
from bench.scenarios.base import RunContext
from bench.scenarios.cycles import CycleScenario


def engine_controls(ctx: RunContext, required: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(mode -> engine control, mode -> what the header records). ``required``: a run of cold cycles
    only, refused before anything runs when no mode has a control."""
    controls, records, reasons = {}, {}, {}
    for rt in ctx.runtimes:
        control, reason = driver_for(rt.mode).control(rt.mode, rt.endpoint)
        if control is None:
            reasons[rt.mode.name] = reason
            records[rt.mode.name] = {"skip_reason": reason}
            ctx.say(f"  {rt.mode.name}: no cold rounds: {reason}")
        else:
            controls[rt.mode.name] = control
            records[rt.mode.name] = control.record()
    if not controls and required:
        raise UserError(
            "no mode can run the cold scenario: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()) + "."
        )
    return controls, records


class Cold(CycleScenario):
    name = COLD
    sample_kinds = ENGINE_PHASES + ALL_PHASES + (CLEANUP,)

    def rounds_planned(self, config: Config) -> int:
        return config.run.cold_rounds

    def controls(self, ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
        return engine_controls(ctx, required=True)


SCENARIO = Cold()
