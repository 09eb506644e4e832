"""isobench history on synthetic series and sets (no engine): change points where they are and nowhere
else, the drift rule, what changed, unreadable sets listed, the gate's exit and sentence, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from analysis.cli import main
from analysis.history.attribute import attribute
from analysis.history.build import Settings, build_history
from analysis.history.changes import find_changes
from analysis.history.drift import find_drift
from analysis.history.setstats import Level, level_of
from history_sets import HOST, history_sets


def _level(center: float, se: float = 0.01) -> Level:
    return Level("runc", "startup", 30, 0, center, center, center, center, math.log(center), se, 9.0, "batches")


def _series(factors: list[float], spread: float = 0.02, seed: int = 0) -> list[Level]:
    rng = np.random.default_rng(seed)
    return [_level(300 * f * math.exp(rng.normal(0, spread))) for f in factors]


def test_a_step_is_found_where_it_is_with_its_size() -> None:
    changes = find_changes(_series([1.0] * 10 + [1.10] * 10))
    assert [c.index for c in changes] == [10]
    assert 1.05 < changes[0].ratio < 1.15 and changes[0].low < changes[0].ratio < changes[0].high


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_series_has_no_change_and_no_drift(seed: int) -> None:
    levels = _series([1.0] * 20, seed=seed)
    assert find_changes(levels) == ()
    assert find_drift(levels, ()) is None


def test_a_step_smaller_than_the_minimum_effect_is_no_change() -> None:
    """Significant (2% spread, 20 sets) but only 3%: not a change that matters."""
    assert find_changes(_series([1.0] * 10 + [1.03] * 10, spread=0.005)) == ()


def test_the_newest_set_alone_can_start_a_change() -> None:
    changes = find_changes(_series([1.0] * 9 + [1.15]))
    assert [c.index for c in changes] == [9]


def test_creep_without_a_step_is_drift() -> None:
    """1.00 -> 1.12 in twelve small steps: no step reaches 5%, the drift rule flags the sum."""
    levels = _series([1.0 + 0.01 * i for i in range(12)], spread=0.005)
    drift = find_drift(levels, ())
    assert drift is not None and 1.08 < drift.ratio < 1.16
    assert drift.start == 0 and drift.end == 11


def test_level_is_compares_batch_model() -> None:
    rng = np.random.default_rng(1)
    lv = level_of(300 * np.exp(rng.normal(0, 0.05, 40)))
    assert lv is not None and lv.method == "batches" and lv.low < lv.center < lv.high
    assert level_of(np.array([1.0, 2.0])) is None


def test_attribution_names_the_one_factor_that_changed() -> None:
    from bench.results.synthetic import header
    from history_sets import modes

    old = header(modes(), host=HOST)
    new = header(modes(), host=HOST, engine_version="24.0.7")
    assert attribute(old, new, "runc").factor == "runc: engine.version"
    assert "20.10.24 -> 24.0.7" in attribute(old, new, "runc").sentence
    assert "not in the headers" in attribute(old, old, "runc").sentence


def test_a_runtime_asked_for_and_reported_is_one_factor() -> None:
    """A mode moved to another runtime: the runtime it asked for and the one the engine reported both
    differ, and are named as the one change they are; a second, unrelated factor still makes two."""
    import copy

    from bench.results.synthetic import header
    from history_sets import modes

    old = header(modes(), host=HOST)
    new = copy.deepcopy(old)
    old.modes["runc"]["runtime_reported"] = "isobench-plant-a"
    old.modes["runc"]["requested"]["runtime"] = "isobench-plant-a"
    new.modes["runc"]["runtime_reported"] = "isobench-plant-b"
    new.modes["runc"]["requested"]["runtime"] = "isobench-plant-b"
    found = attribute(old, new, "runc")
    assert found.factor == "runc: requested.runtime"
    assert "isobench-plant-a -> isobench-plant-b" in found.sentence
    newer = header(modes(), host=HOST, engine_version="24.0.7")
    newer.modes["runc"].update(copy.deepcopy(new.modes["runc"]) | {"engine": newer.modes["runc"].get("engine")})
    assert attribute(old, newer, "runc").factor == ""


def test_history_finds_the_planted_step_at_its_set_and_names_the_factor(tmp_path: Path) -> None:
    paths = history_sets(tmp_path / "results")
    history = build_history(tmp_path / "results")
    [host] = history.hosts
    found = [(f.mode, f.at) for f in history.changes]
    assert found == [("runc", paths[6].stem)]
    assert history.changes[0].attribution.factor == "runc: engine.version"
    assert all(not s.changes for s in host.series if s.mode == "runsc")


def test_unreadable_sets_are_listed_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history_sets(tmp_path / "results", n=4)
    (tmp_path / "results" / "histhost" / "broken.jsonl").write_text("{not json\n")
    (tmp_path / "results" / "histhost" / "empty.jsonl").write_text("")
    assert main(["history", str(tmp_path / "results"), "-o", str(tmp_path / "site")]) == 0
    err = capsys.readouterr().err
    assert err.count("not read:") == 2 and "Traceback" not in err
    index = (tmp_path / "site" / "index.html").read_text()
    assert "broken.jsonl" in index and "empty.jsonl" in index


def test_gate_exits_1_when_the_newest_set_starts_a_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history_sets(tmp_path / "results", n=8, step_at=7)
    assert main(["history", str(tmp_path / "results"), "-o", str(tmp_path / "site"), "--fail-on-new-change"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("new change beyond ±5% at the newest set: histhost runc startup x1.1")
    assert "engine.version changed: 20.10.24 -> 24.0.7" in err[0]


def test_gate_passes_when_the_change_is_older(tmp_path: Path) -> None:
    history_sets(tmp_path / "results", n=10, step_at=5)
    assert main(["history", str(tmp_path / "results"), "-o", str(tmp_path / "site"), "--fail-on-new-change"]) == 0


def test_the_site_links_each_report_back_to_its_timeline(tmp_path: Path) -> None:
    paths = history_sets(tmp_path / "results", n=5)
    assert main(["history", str(tmp_path / "results"), "-o", str(tmp_path / "site")]) == 0
    report = (tmp_path / "site" / "sets" / "histhost" / paths[0].stem / "index.html").read_text()
    assert "href='../../../hosts/histhost/startup.html'" in report
    assert "class='card'" in report and "class='sortable'" in report


@pytest.mark.parametrize(
    "args, words",
    [
        (["history", "/nonexistent/results"], "does not exist"),
        (["history", "{file}"], "is a file"),
        (["history", "{dir}", "-o", "{file}"], "is a file"),
        (["history", "{empty}"], "no result set under"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    history_sets(tmp_path / "dir", n=2)
    names = {"file": str(tmp_path / "f.txt"), "dir": str(tmp_path / "dir"), "empty": str(tmp_path / "empty")}
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_accepting_a_baseline_closes_the_changes_up_to_it(tmp_path: Path) -> None:
    # 10 sets: with 8 (4 a side), E-Divisive's permutation p cannot fall below alpha * SPLIT_SHARE (0.025)
    paths = history_sets(tmp_path / "results", n=10, step_at=5)
    site = str(tmp_path / "site")
    assert main(["history", str(tmp_path / "results"), "-o", site]) == 0
    badge = "<span class='badge'>open change</span>"
    assert badge in (tmp_path / "site" / "index.html").read_text()
    assert main(["history", str(tmp_path / "results"), "-o", site, "--accept", paths[5].stem]) == 0
    assert badge not in (tmp_path / "site" / "index.html").read_text()
    assert main(["history", str(tmp_path / "results"), "-o", site, "--accept", "nosuchset"]) == 2


def test_a_reference_mode_takes_out_what_slowed_the_whole_host(tmp_path: Path) -> None:
    """Every mode 30% slower in the last 4 sets (the host), runc alone 13% slower from set 6: by time runsc
    changes with the host; as ratios to runsc, only runc changes, and at its own set."""
    from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
    from bench.schedule.scripted import scripted_run

    folder = tmp_path / "results" / "histhost"
    folder.mkdir(parents=True)
    for i in range(12):  # the host's change needs 4 sets after it: see test_accepting_a_baseline...
        host = 1.3 if i >= 8 else 1.0
        runc = {**DEFAULT_PHASE_MS, "create": 20.0 + (40.0 if i >= 6 else 0.0)}
        ms = [
            SyntheticMode("runc", "baseline", {k: v * host for k, v in runc.items()}, noise=0.03),
            SyntheticMode("runsc", "candidate", {k: v * host for k, v in DEFAULT_PHASE_MS.items()}, noise=0.03),
        ]
        scripted_run(folder / f"202612{i:02d}T000000Z_histhost_docker-20.10.24.jsonl", ms, rounds=24, seed=i, host=HOST)
    by_time = build_history(tmp_path / "results")
    assert "runsc" in {f.mode for f in by_time.changes}
    ratios = build_history(tmp_path / "results", settings=Settings(reference="runsc"))
    assert [(f.mode, f.at) for f in ratios.changes] == [("runc", "20261206T000000Z_histhost_docker-20.10.24")]
    assert 1.1 < ratios.changes[0].change.ratio < 1.2


def test_a_reference_no_set_has_is_one_sentence_and_sets_without_it_are_no_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history_sets(tmp_path / "results", n=3)
    site = tmp_path / "site"
    assert main(["history", str(tmp_path / "results"), "-o", str(site), "--reference", "kata"]) == 2
    assert "--reference kata: no set" in capsys.readouterr().err
    # Only the reference mode in a set (its other mode was skipped at preflight): no level, no crash.
    from bench.schedule.scripted import scripted_run
    from history_sets import modes

    only = tmp_path / "only" / "histhost"
    only.mkdir(parents=True)
    scripted_run(only / "20261201T000000Z_histhost_docker-20.10.24.jsonl", modes()[1:], rounds=24, host=HOST)
    assert main(["history", str(tmp_path / "only"), "-o", str(site), "--reference", "runsc"]) == 0
    assert (site / "hosts" / "histhost" / "startup.html").is_file()


def test_the_bound_grows_with_the_step_and_falls_with_the_spread() -> None:
    """The oracle's yardstick: a step many spreads tall is found nearly always, one within the noise
    seldom; its false alarms on flat series are its level (the found share at step 1.0 counts hits
    within one set of a random position, so it is at most 5%)."""
    from analysis.history.bound import bound, step_found

    creep = [1.0, 1.0, 1.0, 1.04, 1.04, 1.04, 1.08, 1.08, 1.08, 1.12, 1.12, 1.12]
    quiet = bound(0.01, 1.10, 20, 4, 16, creep, 0.05, 0)
    assert quiet.step > 0.95 and quiet.creep > 0.95 and quiet.smallest_step is not None
    assert quiet.smallest_step <= 1.05
    noisy = bound(0.045, 1.10, 20, 4, 16, creep, 0.05, 0)
    assert 0.5 < noisy.step < quiet.step and noisy.smallest_step is not None
    assert noisy.smallest_step > quiet.smallest_step
    assert step_found(1.0, 0.045, 20, 4, 16, 0.05, 0) <= 0.05


@pytest.mark.parametrize("between", [0.0, 0.04, 0.08])
def test_bench_noise_reads_what_the_host_adds_between_sets_beyond_their_own_ci(tmp_path: Path, between: float) -> None:
    """bench-history's noise model (make bench-history REFERENCE=runsc): 12 real-format sets whose runc
    moves by a drawn factor from set to set (runsc does not). As ratios to runsc, the part of the
    set-to-set spread beyond each set's own sampling error is read back as the drawn factors' own spread
    (by the same estimator: 12 draws are too few for their spread to be ``between`` itself), and near 0
    when nothing moves."""
    from analysis.history.bench import real_noise, spread_of
    from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
    from bench.schedule.scripted import scripted_run

    folder = tmp_path / "results" / "histhost"
    folder.mkdir(parents=True)
    shifts = np.random.default_rng(7).normal(0, between, 12)
    for i, shift in enumerate(shifts):
        ms = [
            SyntheticMode(
                "runc", "baseline", {k: v * math.exp(shift) for k, v in DEFAULT_PHASE_MS.items()}, noise=0.03
            ),
            SyntheticMode("runsc", "candidate", {**DEFAULT_PHASE_MS, "start": 400.0}, noise=0.03),
        ]
        scripted_run(folder / f"202612{i:02d}T000000Z_histhost_docker-20.10.24.jsonl", ms, rounds=40, seed=i, host=HOST)
    noise = real_noise(tmp_path / "results", "runsc")
    assert noise is not None and len(noise.runs) == 12 and "ratios to runsc" in noise.source
    if between:
        drawn = spread_of([shifts])
        assert 0.8 * drawn < noise.between < 1.2 * drawn
    else:  # the real levels spread no more than the resampled runs alone make them
        assert 0 < noise.spread < 0.01 and noise.between < 0.3 * noise.spread


def test_the_regressions_table_is_drawn_when_the_sets_differ_in_the_changed_runtime(tmp_path: Path) -> None:
    """compare alone refuses two sets whose modes asked for different runtimes; the regressions page still
    draws the table of the sets either side of the change (the difference is what the change is about)
    and its note names the difference."""
    import json

    from analysis.history.regressions import either_side

    before, at = history_sets(tmp_path / "results", n=2, step_at=1)
    lines = at.read_text().splitlines()
    head = json.loads(lines[0])
    head["modes"]["runc"]["requested"] = {**(head["modes"]["runc"].get("requested") or {}), "runtime": "runc-b"}
    at.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    table = either_side(before, at, 0.05, 0.05)
    assert "modes.runc.requested.runtime" in table.note, table.note
    verdicts = {(r.mode, r.phase): r.verdict for r in table.rows}
    assert verdicts[("runc", "startup")] == "slower" and verdicts[("runsc", "startup")] != "slower", verdicts
