"""Fuzzing the inputs: configs and result files. Only the one-sentence errors may come out."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.load import load
from bench.core.config import parse_config
from bench.core.errors import UserError
from bench.results.resultset import ResultFileError, read_resultset
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
from bench.schedule.scripted import scripted_run
from helpers import REPO, run_bench

pytestmark = pytest.mark.faults

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True), st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "name",
        "preset",
        "role",
        "endpoint",
        "isolation",
        "runtime",
        "image",
        "command",
        "exec",
        "timeouts",
        "stop_grace_s",
        "tls_verify",
        "bogus",
    ]
)
mode_st = st.dictionaries(keys, values | st.sampled_from(["runc", "runsc", "tcp://x:1", "hyperv"]), max_size=6)
run_st = st.dictionaries(
    st.sampled_from(["rounds", "warmup", "min_rounds", "budget_s", "precision", "seed", "nonsense"]), values, max_size=4
)
config_st = st.one_of(
    values, st.fixed_dictionaries({}, optional={"run": run_st | values, "mode": st.lists(mode_st, max_size=3) | values})
)


@settings(max_examples=400, deadline=None)
@given(data=config_st)
def test_any_config_is_accepted_or_refused_in_one_sentence(data):
    try:
        parse_config(data, "fuzz.toml")
    except UserError as exc:
        msg = str(exc)
        assert msg.startswith("fuzz.toml") and "\n" not in msg and "Traceback" not in msg


@pytest.mark.parametrize(
    "text",
    [
        "[run]\nrounds = -3\n",
        "[[mode]]\n",
        "mode = 3\n",
        "[run]\nwarmup = 'x'\n",
        '[[mode]]\npreset = "runc"\nendpoint = "ftp://x"\n',
        "\x00\x01",
    ],
)
def test_bad_configs_on_the_command_line(tmp_path, text, fault_row):
    row = fault_row(f"config: {text.strip()[:28]!r}", "exit 2, one sentence, no traceback")
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    proc = run_bench("doctor", "--config", str(cfg))
    row.observed(f"exit {proc.returncode}: {proc.stderr.strip()[:60]}", 0, 0)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def valid_set(tmp_path_factory):
    modes = [SyntheticMode("a", "native", DEFAULT_PHASE_MS), SyntheticMode("b", "hyperv", DEFAULT_PHASE_MS)]
    return scripted_run(tmp_path_factory.mktemp("fz") / "set.jsonl", modes, rounds=3, seed=1).read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pos=st.integers(0, 10**6),
    junk=st.binary(min_size=1, max_size=20),
    mode=st.sampled_from(["insert", "replace", "cut"]),
)
def test_damaged_result_files_fail_cleanly(valid_set, tmp_path_factory, pos, junk, mode):
    pos %= len(valid_set)
    data = {
        "insert": valid_set[:pos] + junk + valid_set[pos:],
        "replace": valid_set[:pos] + junk + valid_set[pos + len(junk) :],
        "cut": valid_set[:pos],
    }[mode]
    path = tmp_path_factory.mktemp("d") / "d.jsonl"
    path.write_bytes(data)
    for reader in (read_resultset, lambda p: load([p], warn=False)):
        try:
            reader(path)
        except ResultFileError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda lines: lines[:3] + ["garbage"] + lines[3:], ":4: not a JSON record"),
        (lambda lines: [re.sub(r'"version":\d+', '"version":7', lines[0], count=1)] + lines[1:], "schema version 7"),
        (lambda lines: lines[:2] + [lines[2].replace('"ok":true', '"ok":"yes"')] + lines[3:], ":3: sample field 'ok'"),
        (lambda lines: lines[:-1] + [lines[-1][:10]], None),  # truncated tail: tolerated
    ],
)
def test_result_file_faults_named_by_line(valid_set, tmp_path, edit, fragment, fault_row):
    row = fault_row(
        f"result file: {'truncated tail' if fragment is None else fragment.strip(':0123456789 ')}",
        "names file and line, or tolerates a truncated tail",
    )
    lines = valid_set.decode().splitlines()
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(edit(lines)) + ("" if fragment is None else "\n"))
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "analysis", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=str(REPO),
    )
    row.observed(
        f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[0][:70] if proc.stderr.strip() else 'ok'}", 0, 0
    )
    assert "Traceback" not in proc.stderr
    if fragment is None:
        assert "truncated last line ignored" in proc.stderr and proc.returncode in (0, 1, 3)
    else:
        assert proc.returncode == 2 and fragment in proc.stderr and str(path) in proc.stderr
