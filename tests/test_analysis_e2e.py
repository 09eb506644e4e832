"""The analysis on real result sets produced by the timing core on the local engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, only_result, run_bench, write_config

pytestmark = pytest.mark.engine

A_A = """
[[mode]]
preset = "runc"

[[mode]]
preset = "runc"
name = "runc-twin"

[[mode]]
preset = "runsc"
"""


def analysis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def two_runs(engine, tmp_path_factory):
    """Two short runs of the same config: runc, an identical runc twin, and runsc."""
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = write_config(tmp / "bench.toml", A_A, rounds=12, warmup=1)
    paths = []
    for i in range(2):
        out = tmp / f"r{i}"
        run_bench("run", "--config", str(cfg), "--results", str(out), "--quiet", "--seed", str(i), check=True)
        paths.append(only_result(out))
    return paths


def test_report_writes_everything_and_the_verdict_matches_summary(two_runs, tmp_path):
    out = tmp_path / "rep"
    proc = analysis("report", str(two_runs[0]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in (
        "index.html",
        "report.md",
        "summary.csv",
        "claims.json",
        "breakdown.png",
        "ecdf_startup.png",
        "drift_startup.png",
        "distribution_startup.png",
        "distribution_ready.svg",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = pd.read_csv(out / "summary.csv")
    claims = json.loads((out / "claims.json").read_text())
    startup = summary[summary["phase"] == "startup"].set_index("mode")
    # roles: runc and runc-twin both play native, so the role claim is untestable
    # and says why; its numbers are checked through a by-mode claim below.
    role_claim = claims[0]
    assert role_claim["verdict"] == "untestable"
    assert "2 modes play role 'native'" in role_claim["pairs"][0]["reason"]
    claims_file = tmp_path / "claims.toml"
    claims_file.write_text(
        '[[claim]]\nid = "m"\ntext = "runc < runsc"\nmetric = "startup"\nby = "mode"\n'
        'order = ["runc", "runsc"]\n\n[[claim]]\nid = "aa"\ntext = "runc < runc-twin (A/A)"\n'
        'metric = "startup"\nby = "mode"\norder = ["runc", "runc-twin"]\n'
    )
    out2 = tmp_path / "rep2"
    proc = analysis("report", str(two_runs[0]), "--out", str(out2), "--claims", str(claims_file))
    assert proc.returncode == 0, proc.stderr
    mode_claim, aa = json.loads((out2 / "claims.json").read_text())
    pair = mode_claim["pairs"][0]
    assert pair["median_base"] == pytest.approx(startup.loc["runc", "median"])
    assert pair["median_other"] == pytest.approx(startup.loc["runsc", "median"])
    assert pair["n_base"] == startup.loc["runc", "n"] and pair["paired"] is True
    assert mode_claim["verdict"] == "supported", mode_claim
    # A/A: the same settings under two names must not come out as a difference
    # (a significant one beyond the minimum effect happens in well under 1% of runs)
    assert aa["pairs"][0]["effect"] not in ("slower", "faster"), aa
    assert aa["verdict"] != "supported"
    assert "SUPPORTED" in proc.stdout
    assert (out2 / "claims_forest.png").is_file()
    html = (out2 / "index.html").read_text()
    # One script only: the report's own table sorting (marked); nothing from the data.
    assert "runc-twin" in html and html.lower().count("<script") == 1 and '<script data-isobench="sort">' in html


def test_check_exit_codes(two_runs, tmp_path):
    ok = tmp_path / "ok.toml"
    ok.write_text('[[claim]]\nid = "m"\ntext = "t"\nmetric = "startup"\nby = "mode"\norder = ["runc", "runsc"]\n')
    assert analysis("check", str(two_runs[0]), "--claims", str(ok)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[[claim]]\nid = "m"\ntext = "t"\nmetric = "startup"\nby = "mode"\norder = ["runsc", "runc"]\n')
    proc = analysis("check", str(two_runs[0]), "--claims", str(bad))
    assert proc.returncode == 1 and "contradicted" in proc.stdout
    assert analysis("check", str(two_runs[0])).returncode == 3  # role claim untestable here


def test_compare_two_runs_of_the_same_config(two_runs, tmp_path):
    proc = analysis(
        "compare", str(two_runs[0]), str(two_runs[1]), "--out", str(tmp_path / "cmp"), "--fail-on-regression"
    )
    assert proc.returncode in (0, 1), proc.stderr
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert set(table["mode"]) == {"runc", "runc-twin", "runsc"}
    assert set(table["phase"]) >= {"create", "start", "ready", "exec", "stop", "remove", "startup"}
    # two short runs of one config: nothing is a large, significant change
    assert (tmp_path / "cmp" / "forest.png").is_file()
    assert "factor under study" in proc.stdout


def _rounds_of(source: Path, dest: Path, parity: int) -> Path:
    """The header, the samples of the rounds with this parity, and the end record of one result set."""
    records = [json.loads(line) for line in source.read_text().splitlines()]
    kept = [r for r in records if r["type"] != "sample" or r["round"] % 2 == parity]
    dest.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return dest


def test_compare_finds_no_change_between_interleaved_halves_of_one_run(two_runs, tmp_path):
    """A/A: the even and the odd rounds of one run. Two runs one after the other are not an A/A test on a
    shared machine: whatever else loads it between them (CI once saw every mode 1.4-1.7x slower in the
    second run) is a real change, and compare rightly calls it one. Interleaved halves share that load."""
    even = _rounds_of(two_runs[0], tmp_path / "even.jsonl", 0)
    odd = _rounds_of(two_runs[0], tmp_path / "odd.jsonl", 1)
    proc = analysis("compare", str(even), str(odd), "--out", str(tmp_path / "cmp"))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    startup = table[table["phase"] == "startup"]
    assert set(startup["mode"]) == {"runc", "runc-twin", "runsc"}
    # A significant change of more than 25% is a false positive here. (One of 5% may be: the family-wise
    # error rate is 5%, and an assertion that fails that often would be a flaky test, not a check.)
    large = (startup["ratio"] - 1).abs() > 0.25
    assert not (startup["verdict"].isin(["slower", "faster"]) & large).any(), startup
    assert "an A/A comparison" in proc.stdout


def test_corrupt_input_is_one_sentence_naming_the_line(two_runs, tmp_path):
    lines = two_runs[0].read_text().splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    proc = analysis("report", str(bad))
    assert proc.returncode == 2 and f"{bad}:6: not a JSON record" in proc.stderr and "Traceback" not in proc.stderr
    truncated = tmp_path / "cut.jsonl"
    truncated.write_text("\n".join(lines[:5]) + "\n" + lines[5])
    proc = analysis("check", str(truncated))
    assert "truncated last line ignored" in proc.stderr and "Traceback" not in proc.stderr
