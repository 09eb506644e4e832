"""Resume planning (bench.scenarios.cycles.plan_resume) without an engine: rounds left, numbering, seed, scenario."""

from __future__ import annotations

from bench.core.config import RunSettings
from bench.results.records import Sample
from bench.scenarios.cycles import plan_resume


def samples(rounds: list[int], scenario: str = "warm", warmup: bool = False, mode: str = "m") -> list[Sample]:
    return [
        Sample(
            round=r,
            pos=0,
            mode=mode,
            phase="create",
            duration_ns=1,
            ok=True,
            warmup=warmup,
            wall_ns=1,
            scenario=scenario,
        )
        for r in rounds
    ]


def test_warm_rounds_go_on_after_the_last_one_written():
    done = samples([0, 1], warmup=True) + samples([2, 3, 4])
    plan = plan_resume(done, RunSettings(rounds=10, min_rounds=8, scenario="warm"), seed=5, resumes_so_far=0)
    assert (plan.rounds_done, plan.rounds_remaining, plan.first_round) == (3, 7, 5)
    assert plan.settings.rounds == 7 and plan.settings.min_rounds == 7 and plan.settings.scenario == "warm"
    assert plan.seed == 5 + 7919  # a fresh order after the gap, reproducible from the header's seed
    assert plan_resume(done, RunSettings(rounds=10), seed=5, resumes_so_far=1).seed == 5 + 2 * 7919


def test_both_scenarios_finish_warm_first_then_cold():
    settings = RunSettings(rounds=3, scenario="both", cold_rounds=2)
    warm_left = plan_resume(samples([0, 1]), settings, 1, 0)
    assert warm_left.settings.scenario == "both" and warm_left.rounds_remaining == 1
    only_cold = plan_resume(samples([0, 1, 2]) + samples([3], "cold"), settings, 1, 0)
    assert only_cold.settings.scenario == "cold" and only_cold.cold_remaining == 1 and only_cold.first_round == 4


def test_a_cold_set_with_every_cold_round_done_has_nothing_cold_left():
    plan = plan_resume(samples([0, 1], "cold"), RunSettings(scenario="cold", cold_rounds=2), 1, 0)
    assert plan.cold_remaining == 0 and plan.settings.scenario == "warm" and plan.rounds_remaining == 0


def test_a_round_cut_between_its_modes_runs_again_whole():
    """Round 4 holds a's cycle but not b's (the run was stopped between them): it is not done, so b
    gets its tenth round; a's cycle of round 4 stays in the set, unpaired."""
    done = samples([0, 1, 2, 3, 4], mode="a") + samples([0, 1, 2, 3], mode="b")
    plan = plan_resume(done, RunSettings(rounds=10), seed=5, resumes_so_far=0)
    assert (plan.rounds_done, plan.rounds_remaining, plan.first_round) == (4, 6, 5)
