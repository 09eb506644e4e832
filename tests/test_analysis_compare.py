"""compare: verdicts that say what the data show, images matched by content, series in
version order, and one sentence (exit 2) for every bad input. Synthetic result sets
written through the real scheduler and writer (bench.results.synthetic)."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import effects, stats
from analysis.cli import main as analysis_main
from analysis.compare import EQUIVALENT, NO_CHANGE, VERDICT_OF_EFFECT, Rule, compare, verdict_of
from analysis.load import load
from analysis.metrics import measured, with_derived
from analysis.series import version_key
from bench.core.errors import UserError
from bench.results.synthetic import DEFAULT_PHASE_MS, IMAGE_CONTENT, SyntheticMode
from bench.schedule.scripted import scripted_run


def runc(factor: float = 1.0, noise: float = 0.05) -> list[SyntheticMode]:
    return [SyntheticMode("runc", "native", {k: v * factor for k, v in DEFAULT_PHASE_MS.items()}, noise)]


def write(
    tmp_path: Path, name: str, factor: float = 1.0, noise: float = 0.05, rounds: int = 60, seed: int = 1, **header_kw
) -> Path:
    return scripted_run(tmp_path / f"{name}.jsonl", runc(factor, noise), rounds=rounds, seed=seed, **header_kw)


def compare_paths(*paths: Path, **kw):
    loaded = load(list(paths), warn=False)
    rule = Rule(**{k: kw.pop(k) for k in list(kw) if k in Rule.__dataclass_fields__})
    return compare(loaded, measured(with_derived(loaded.frame)), rule=rule, **kw)


def verdicts(cmp, phase: str | None = None) -> Counter:
    return Counter(r.verdict for r in cmp.rows if phase is None or r.phase == phase)


# -- verdicts: equivalent, no change detected, slower ------------------------------------


def test_a_known_3_percent_difference_with_tight_noise_is_equivalent(tmp_path):
    cmp = compare_paths(
        write(tmp_path, "20260101T000000Z_a", 1.0, 0.01, seed=1),
        write(tmp_path, "20260101T000100Z_b", 1.03, 0.01, seed=2),
    )
    assert verdicts(cmp) == Counter({EQUIVALENT: len(cmp.rows)})
    assert all(1.01 < r.ratio < 1.05 and r.ci_high <= 1.05 and r.rounds_needed is None for r in cmp.rows)


def test_the_same_3_percent_with_loose_noise_is_no_change_detected_with_rounds_to_settle(tmp_path):
    cmp = compare_paths(
        write(tmp_path, "20260101T000000Z_a", 1.0, 0.15, seed=1),
        write(tmp_path, "20260101T000100Z_b", 1.03, 0.15, seed=2),
    )
    assert verdicts(cmp, "startup") == Counter({NO_CHANGE: 1})
    assert not verdicts(cmp) & Counter({"slower": 1, "faster": 1})
    assert verdicts(cmp)[NO_CHANGE] >= len(cmp.rows) - 1  # the sum of six phases (cycle) is less noisy
    startup = next(r for r in cmp.rows if r.phase == "startup")
    # the CI crosses the band, and more rounds than these 60 would most likely settle it
    assert startup.ci_low < 1 / 1.05 or startup.ci_high > 1.05
    assert startup.rounds_needed > 60 and startup.more_rounds == startup.rounds_needed - 60


def test_a_known_12_percent_slowdown_is_slower(tmp_path):
    cmp = compare_paths(
        write(tmp_path, "20260101T000000Z_a", 1.0, 0.05, seed=1),
        write(tmp_path, "20260101T000100Z_b", 1.12, 0.05, seed=2),
    )
    assert verdicts(cmp) == Counter({"slower": len(cmp.rows)})
    assert all(1.07 < r.ratio < 1.17 and r.ci_low > 1 for r in cmp.rows)


@settings(max_examples=500, deadline=None)
@given(
    ratio=st.floats(0.5, 2.0),
    spread=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)),
    p=st.floats(0, 1),
    min_effect=st.floats(0.001, 0.5),
)
def test_the_verdict_never_says_equivalent_when_the_ci_crosses_the_band(ratio, spread, p, min_effect):
    low, high = ratio / (1 + spread[0]), ratio * (1 + spread[1])
    verdict = VERDICT_OF_EFFECT[stats.decide(ratio, low, high, p, 0.05, min_effect)]
    inside = 1 / (1 + min_effect) <= low and high <= 1 + min_effect
    if verdict == EQUIVALENT:
        assert inside
    if inside:  # (a CI touching the band's edge with a significant test may still say slower/faster)
        assert verdict in (EQUIVALENT, "slower", "faster")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(0.9, 1.1), noise=st.floats(0.005, 0.3), n=st.integers(5, 80))
def test_on_data_equivalent_rows_have_their_whole_ci_inside_the_band(seed, shift, noise, n):
    rng = np.random.default_rng(seed)
    a, b = 100 * rng.lognormal(0, noise, n), 100 * shift * rng.lognormal(0, noise, n)
    ratio, low, high = stats.ratio_ci(a, b, paired=False)
    _, p = stats.rank_test(a, b, paired=False)
    verdict = VERDICT_OF_EFFECT[stats.decide(ratio, low, high, p, 0.05, 0.05)]
    if verdict == EQUIVALENT:
        assert 1 / 1.05 <= low and high <= 1.05
    elif low < 1 / 1.05 or high > 1.05:
        assert verdict in (NO_CHANGE, "slower", "faster")


def _two_runs(a: np.ndarray, b: np.ndarray, min_effect: float = 0.05) -> tuple[float, float, float, float, str]:
    """(ratio, low, high, p, verdict) as compare decides a one-metric family of two runs."""
    est = effects.two_runs(a, b)
    assert est is not None
    low, high = est.interval()
    p = est.p_beyond(min_effect)
    return est.ratio, low, high, p, verdict_of(est.ratio, low, high, p, 0.05, min_effect)


def test_rounds_to_settle_does_settle_most_comparisons():
    """The estimate is a sample-size calculation at 80% power: run the rounds it names and
    about four in five comparisons that were undecided come out decided (without the power
    margin, about half would). Both sides of the band: estimates inside it (settled as
    equivalent) and beyond it (settled as slower)."""
    rng = np.random.default_rng(7)

    def experiment(n: int, true: float) -> tuple[float, float, float, float, str]:
        return _two_runs(100 * rng.lognormal(0, 0.1, n), 100 * true * rng.lognormal(0, 0.1, n))

    outcome = {}
    for true in (1.0, 1.02, 1.12):
        settled = tried = 0
        for _ in range(15):
            r, lo, hi, _, verdict = experiment(30, true)
            needed = stats.rounds_to_settle(r, lo, hi, 30, 30, 0.05)
            if verdict != NO_CHANGE or needed is None or needed > 3000:
                continue
            assert needed > 30
            for _ in range(5):
                settled += experiment(needed, true)[4] != NO_CHANGE
                tried += 1
        outcome[true] = (settled, tried)
    settled, tried = (sum(v[i] for v in outcome.values()) for i in (0, 1))
    assert tried >= 60 and settled / tried >= 0.68, outcome
    assert outcome[1.12][1] >= 10, outcome  # beyond the band: more rounds settle it too


def test_rounds_to_settle_answers_on_both_sides_of_the_band():
    """The issue-24 row: 1.20 [1.087, 1.325] is slower now; a row beyond the band whose CI still
    reaches into it gets a count, as does one inside the band, faster ones likewise."""
    assert verdict_of(1.2, 1.087, 1.325, 0.01, 0.05, 0.05) == "slower"
    beyond = stats.rounds_to_settle(1.10, 1.02, 1.19, 30, 30, 0.05)
    inside = stats.rounds_to_settle(1.01, 0.93, 1.10, 30, 30, 0.05)
    faster = stats.rounds_to_settle(1 / 1.10, 1 / 1.19, 1 / 1.02, 30, 30, 0.05)
    assert beyond is not None and inside is not None and faster == beyond
    assert beyond > 30 and inside > 30
    # the stricter level of a larger family asks for more rounds
    assert stats.rounds_to_settle(1.10, 1.02, 1.19, 30, 30, 0.05, alpha=0.05 / 4) > beyond


def test_rounds_to_settle_refuses_what_no_count_can_settle():
    assert stats.rounds_to_settle(1.0, 0.9, 1.1, 30, 30, 0.0) is None  # no band: equivalence impossible
    assert stats.rounds_to_settle(1.0488, 0.98, 1.12, 30, 30, 0.05) is None  # on the band's edge
    assert stats.rounds_to_settle(math.nan, 0.9, 1.1, 30, 30, 0.05) is None
    wide, narrow = (stats.rounds_to_settle(1.0, 1 / f, f, 30, 30, 0.05) for f in (1.2, 1.1))
    assert wide > narrow > 30  # a wider interval needs more rounds


# -- images: by content, not by id ------------------------------------------------------


def test_a_reimported_image_with_a_new_id_is_the_same_image(tmp_path):
    a = write(tmp_path, "20260101T000000Z_a", image_id="sha256:" + "a" * 64)
    b = write(tmp_path, "20260101T000100Z_b", seed=2, image_id="sha256:" + "b" * 64)
    cmp = compare_paths(a, b)
    assert cmp.mismatches == {}
    assert any("image ids differ" in n and "content is the same" in n for n in cmp.notes), cmp.notes


@pytest.mark.parametrize(
    "part, value, words",
    [
        ("layers", ["sha256:" + "2" * 64], "filesystem layers"),
        ("cmd", ["/bin/true"], "command"),
        ("os_version", "10.0.17763.1", "OS version"),
    ],
)
def test_a_different_image_content_is_refused_naming_the_part(tmp_path, part, value, words):
    other = {**IMAGE_CONTENT, part: value}
    a = write(tmp_path, "20260101T000000Z_a")
    b = write(tmp_path, "20260101T000100Z_b", seed=2, image_content=other)
    with pytest.raises(UserError, match=f"modes.runc.image.content.{part} \\(.*{words}") as err:
        compare_paths(a, b)
    assert "--force" in str(err.value) and "\n" not in str(err.value)
    assert compare_paths(a, b, force=True).mismatches[f"modes.runc.image.content.{part}"][1] == value


def test_a_different_busybox_is_named_in_the_refusal(tmp_path):
    a = write(tmp_path, "20260101T000000Z_a")
    b = write(tmp_path, "20260101T000100Z_b", seed=2, image_content={**IMAGE_CONTENT, "layers": ["sha256:" + "3" * 64]})
    for path, sha in ((a, "4"), (b, "5")):  # as preflight records the build of isobench's own image
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
        header["modes"]["runc"]["image"]["build"] = {"busybox_sha256": "sha256:" + sha * 64, "reproducible": True}
        path.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    with pytest.raises(UserError, match=r"different busybox binaries \(sha256:444444444444… vs sha256:555555555555…\)"):
        compare_paths(a, b)


def test_old_sets_without_content_identity_fall_back_to_the_id_and_say_so(tmp_path):
    a = write(tmp_path, "20260101T000000Z_a", image_content=None)
    same = write(tmp_path, "20260101T000100Z_b", seed=2)  # same id; content recorded on one side only
    cmp = compare_paths(a, same)
    assert cmp.mismatches == {} and any("compared by id" in n and a.stem in n for n in cmp.notes)
    other = write(tmp_path, "20260101T000200Z_c", seed=3, image_id="sha256:" + "c" * 64)
    with pytest.raises(
        UserError, match=r"modes.runc.image.id: sha256:000000000000… vs sha256:cccccccccccc….*compared by id"
    ):
        compare_paths(a, other)


def test_a_windows_image_that_follows_the_build_is_the_factor_not_a_confound(tmp_path):
    a = write(tmp_path, "20260101T000000Z_a", image_content={**IMAGE_CONTENT, "os_version": "10.0.17763.1"})
    b = write(
        tmp_path,
        "20260101T000100Z_b",
        seed=2,
        image_id="sha256:" + "d" * 64,
        image_content={**IMAGE_CONTENT, "os_version": "10.0.20348.1", "layers": ["sha256:" + "9" * 64]},
    )
    with pytest.raises(UserError):
        compare_paths(a, b)  # a fixed image ref that changed content: refused
    for path in (a, b):
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
        header["modes"]["runc"]["requested"]["image"] = "mcr.microsoft.com/windows/nanoserver:auto"
        path.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    cmp = compare_paths(a, b)
    assert cmp.factors["modes.runc.image.content.os_version"] == ["10.0.17763.1", "10.0.20348.1"]
    assert cmp.mismatches == {} and not any("content is the same" in n for n in cmp.notes)


# -- a series in version order -----------------------------------------------------------


def test_a_series_is_ordered_by_the_engine_version_not_the_arguments(tmp_path):
    paths = [
        write(tmp_path, f"20260101T00000{i}Z_h", seed=i, engine_version=v)
        for i, v in enumerate(["24.0.7", "20.10.9", "20.10.24"])
    ]
    cmp = compare_paths(*paths)
    assert [p.stem for p in (paths[1], paths[2], paths[0])] == cmp.sets
    assert cmp.ordered_by == "modes.runc.engine.version"
    assert {(r.old_set, r.new_set) for r in cmp.rows} == {(cmp.sets[0], cmp.sets[1]), (cmp.sets[1], cmp.sets[2])}


def test_order_by_a_named_key_and_a_key_no_set_has(tmp_path):
    paths = [write(tmp_path, f"20260101T00000{i}Z_h", seed=i) for i in range(3)]
    for path, version in zip(paths, ["7.1.0", "6.1.3", "7.0.1"]):
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
        header["packages"]["docker"] = version
        path.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    assert compare_paths(*paths).sets == [p.stem for p in (paths[1], paths[2], paths[0])]  # auto: packages.docker
    cmp = compare_paths(*paths, order_by="packages.docker")
    assert cmp.sets == [p.stem for p in (paths[1], paths[2], paths[0])] and cmp.ordered_by == "packages.docker"
    with pytest.raises(UserError, match="--order-by host.currentbuild: .* has no value for it"):
        compare_paths(*paths, order_by="host.currentbuild")


def test_two_sets_keep_the_order_given(tmp_path):
    new = write(tmp_path, "20260101T000000Z_h", engine_version="24.0")
    old = write(tmp_path, "20260101T000100Z_h", seed=2, engine_version="20.10")
    assert compare_paths(new, old).sets == [new.stem, old.stem]


def test_versions_sort_naturally():
    assert sorted(["24.0.7", "20.10.24+dfsg1", "20.10.9", "1.13"], key=version_key) == [
        "1.13",
        "20.10.9",
        "20.10.24+dfsg1",
        "24.0.7",
    ]
    assert sorted(["14393", "17763", "9600"], key=version_key) == ["9600", "14393", "17763"]


# -- the CLI: outputs, exit codes, bad input ----------------------------------------------


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = analysis_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs")
    base = write(d, "20260101T000000Z_base", 1.0, 0.01)
    return {
        "base": base,
        "tight": write(d, "20260101T000100Z_tight", 1.03, 0.01, seed=2),
        "loose_a": write(d, "20260101T000200Z_loose", 1.0, 0.15, seed=3),
        "loose_b": write(d, "20260101T000300Z_loose", 1.03, 0.15, seed=4),
        "slow": write(d, "20260101T000400Z_slow", 1.12, 0.01, seed=5),
    }


def test_every_output_shows_the_verdicts(pairs, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "compare", pairs["loose_a"], pairs["loose_b"], "--out", tmp_path / "c")
    assert code == 0
    assert "no change detected" in out and "rounds to settle" in out and "unchanged" not in out
    table = pd.read_csv(tmp_path / "c" / "compare.csv")
    assert set(table["verdict"]) <= {EQUIVALENT, NO_CHANGE} and NO_CHANGE in set(table["verdict"])
    undecided = table[table["verdict"] == NO_CHANGE]
    assert (undecided["rounds_needed"].dropna() > 60).all() and undecided["rounds_needed"].notna().any()
    md = (tmp_path / "c" / "compare.md").read_text()
    assert "no change detected: not significant, and not shown to be within ±5%" in md
    assert "| no change detected |" in md


def test_require_equivalence_exits_1_unless_every_chosen_row_is_equivalent(pairs, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "compare",
        pairs["base"],
        pairs["tight"],
        "--out",
        tmp_path / "a",
        "--require-equivalence",
        "--metric",
        "startup",
    )
    assert code == 0 and "1 equivalent" in out
    code, _, err = run_cli(
        capsys,
        "compare",
        pairs["loose_a"],
        pairs["loose_b"],
        "--out",
        tmp_path / "b",
        "--require-equivalence",
        "--metric",
        "startup",
    )
    assert code == 1 and "not shown equivalent within ±5%: 1 of 1 rows: runc startup (no change detected)" in err
    table = pd.read_csv(tmp_path / "b" / "compare.csv")
    assert set(table.loc[table["family"], "phase"]) == {"startup"}
    assert len(table) > 1 and not table.loc[table["phase"] != "startup", "family"].any()  # the rest: descriptive


def test_fail_on_regression_behaves_as_before(pairs, tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "compare", pairs["base"], pairs["slow"], "--out", tmp_path / "a", "--fail-on-regression"
    )
    assert code == 1 and "significant slowdown" in err
    code, _, _ = run_cli(
        capsys, "compare", pairs["loose_a"], pairs["loose_b"], "--out", tmp_path / "b", "--fail-on-regression"
    )
    assert code == 0  # no change detected is not a regression


def _header_only(source: Path, path: Path, end: bool) -> Path:
    header = json.loads(source.read_text().splitlines()[0])
    lines = [json.dumps(header)] + (
        [json.dumps({"type": "end", "status": "failed", "reason": "engine gone"})] if end else []
    )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "missing-compare",
        "directory",
        "empty",
        "header-only",
        "header-and-end",
        "warmup-only",
        "twice",
        "out-is-a-file",
        "bad-metric",
        "bad-order-by",
        "no-common-mode",
        "not-json",
        "claims-directory",
        "device",
        "samples-negative",
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(pairs, tmp_path, capsys, case):
    good = pairs["base"]
    (tmp_path / "dir").mkdir()
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "file").write_text("x")
    (tmp_path / "not.jsonl").write_bytes(b"\x89PNG\r\n")
    other_mode = scripted_run(
        tmp_path / "20260102T000000Z_o.jsonl", [SyntheticMode("runsc", "hyperv", DEFAULT_PHASE_MS)], rounds=3
    )
    warm = scripted_run(tmp_path / "20260103T000000Z_w.jsonl", runc(), rounds=0, warmup=2)
    args, expect = {
        "missing": (["report", "/no/such.jsonl"], "result file /no/such.jsonl does not exist"),
        "missing-compare": (["compare", "/no/such.jsonl", good], "result file /no/such.jsonl does not exist"),
        "directory": (["check", tmp_path / "dir"], "is a directory: pass the path of a .jsonl result file"),
        "empty": (["report", tmp_path / "empty.jsonl"], "the file is empty"),
        "header-only": (["report", _header_only(good, tmp_path / "h.jsonl", False)], "holds no samples (no end record"),
        "header-and-end": (
            ["compare", good, _header_only(good, tmp_path / "he.jsonl", True)],
            "holds no samples (the run ended failed: engine gone)",
        ),
        "warmup-only": (["check", warm], "holds only warm-up samples"),
        "twice": (["compare", good, good], "is given twice"),
        "out-is-a-file": (["compare", good, pairs["tight"], "--out", tmp_path / "file"], "is a file: pass a folder"),
        "bad-metric": (["compare", good, pairs["tight"], "--metric", "boot"], "--metric boot: not in these sets"),
        "bad-order-by": (["compare", good, pairs["tight"], "--order-by", "host.nothing"], "has no value for it"),
        "no-common-mode": (["compare", good, other_mode], "nothing to compare: the sets share no mode"),
        "not-json": (["report", tmp_path / "not.jsonl"], "not a JSON record"),
        "claims-directory": (["check", good, "--claims", tmp_path / "dir"], "Is a directory"),
        "device": (["report", "/dev/null"], "is not a regular file"),
        "samples-negative": (["bench", "--samples", "-5"], "must be greater than 0"),
    }[case]
    if case == "samples-negative":  # argparse's own usage error: also exit 2, no traceback
        with pytest.raises(SystemExit) as stop:
            analysis_main([str(a) for a in args])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and expect in err and "Traceback" not in err
        return
    code, _, err = run_cli(capsys, *args)
    last = err.strip().splitlines()[-1]
    assert code == 2, err
    assert last.startswith("isobench: ") and expect in last and "Traceback" not in err


def test_an_unwritable_output_folder_is_one_sentence(pairs, tmp_path, capsys, monkeypatch):
    """An OS error nothing checked for (here: writing the comparison) still ends in one sentence."""
    from analysis import compare_report

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro"))

    monkeypatch.setattr(compare_report, "write_comparison", refuse)
    code, _, err = run_cli(capsys, "compare", pairs["base"], pairs["tight"], "--out", tmp_path / "ro")
    assert code == 2 and f"isobench: {tmp_path / 'ro'}: Permission denied" in err and "Traceback" not in err


def test_series_through_the_cli_names_its_order(tmp_path, capsys):
    paths = [
        write(tmp_path, f"20260101T00000{i}Z_h", seed=i, engine_version=v, rounds=20)
        for i, v in enumerate(["24.0.7", "19.03.1", "20.10.24"])
    ]
    code, out, _ = run_cli(capsys, "compare", *paths, "--out", tmp_path / "s")
    assert code == 0 and "ordered by modes.runc.engine.version" in out
    md = (tmp_path / "s" / "compare.md").read_text()
    assert f"Sets, in order (modes.runc.engine.version): {paths[1].stem}, {paths[2].stem}, {paths[0].stem}" in md


def test_a_header_keeps_loading_when_it_has_extra_image_fields(tmp_path):
    """New header fields are additive: a set with content and build records loads like any other."""
    a = write(tmp_path, "20260101T000000Z_a")
    header = json.loads(a.read_text().splitlines()[0])
    assert header["modes"]["runc"]["image"]["content"] == IMAGE_CONTENT
    h2 = copy.deepcopy(header)
    h2["modes"]["runc"]["image"]["build"] = {"expected_layer": "sha256:" + "1" * 64, "reproducible": True}
    a.write_text("\n".join([json.dumps(h2)] + a.read_text().splitlines()[1:]) + "\n")
    assert load([a], warn=False).headers[a.stem].modes["runc"]["image"]["build"]["reproducible"] is True


# -- drift within a run is not a change ----------------------------------------------------


def _drifting(rng: np.random.Generator, n: int, median: float, rho: float = 0.9, drift: float = 0.1) -> np.ndarray:
    """Lognormal noise times a slowly wandering load factor (AR(1) on the log scale), as a
    host's background work makes it: neighbouring rounds share it, distant ones do not."""
    log_load = np.empty(n)
    log_load[0] = rng.normal(0, drift)
    shocks = rng.normal(0, drift * np.sqrt(1 - rho**2), n)
    for i in range(1, n):
        log_load[i] = rho * log_load[i - 1] + shocks[i]
    return median * rng.lognormal(0, 0.08, n) * np.exp(log_load)


def test_drift_within_runs_is_not_taken_for_a_change():
    """A/A pairs whose runs each drift (as on a shared host): taken sample by sample, about
    half come out slower or faster; by stretches of rounds, at most the test's 5% do."""
    rng = np.random.default_rng(11)
    batched = per_sample = 0
    trials = 60
    for _ in range(trials):
        a, b = _drifting(rng, 200, 100.0), _drifting(rng, 200, 100.0)
        batched += _two_runs(a, b)[4] in ("slower", "faster")
        ratio, low, high = stats.ratio_ci(a, b, paired=False)
        per_sample += VERDICT_OF_EFFECT[
            stats.decide(ratio, low, high, stats.rank_test(a, b, False)[1], 0.05, 0.05)
        ] in ("slower", "faster")
    assert batched / trials <= 0.05, (batched, per_sample)
    assert per_sample >= 10, (batched, per_sample)  # the drift here is strong enough to matter


def test_without_drift_the_batched_interval_keeps_its_coverage_and_power():
    rng = np.random.default_rng(5)
    covered = found = 0
    trials = 150
    for _ in range(trials):
        a, b = 100 * rng.lognormal(0, 0.1, 60), 115 * rng.lognormal(0, 0.1, 60)
        ratio, low, high, _, verdict = _two_runs(a, b)
        covered += low <= 1.15 <= high
        found += verdict == "slower"
    assert 0.89 <= covered / trials <= 0.99, covered
    assert found / trials >= 0.7, found  # a 15% slowdown in 60 rounds a side is found beyond the 5% band


def test_short_sets_are_compared_sample_by_sample_and_say_so(tmp_path):
    long = compare_paths(write(tmp_path, "20260101T000000Z_a"), write(tmp_path, "20260101T000100Z_b", seed=2))
    assert {r.method for r in long.rows} == {"batches"} and not any("independent" in n for n in long.notes)
    short = compare_paths(
        write(tmp_path, "20260101T000200Z_c", rounds=12, seed=3),
        write(tmp_path, "20260101T000300Z_d", rounds=12, seed=4),
    )
    assert {r.method for r in short.rows} == {"samples"}
    assert any("fewer than 20 successful samples a side take samples as independent" in n for n in short.notes)
