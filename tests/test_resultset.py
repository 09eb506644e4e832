"""The on-disk format: round trips, truncated tails, and damaged files named by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.core.phases import PHASES
from bench.results.resultset import SCHEMA_VERSION, ResultFileError, ResultWriter, read_resultset, sample_record

HEADER = {
    "type": "header",
    "schema": "isobench.resultset",
    "version": SCHEMA_VERSION,
    "run_id": "r1",
    "modes": {},
    "host": {},
}
HEADER_V1 = {**HEADER, "version": 1}

samples_st = st.builds(
    lambda rnd, pos, mode, phase, dur, ok, warm, err: sample_record(
        round=rnd,
        pos=pos,
        mode=mode,
        phase=phase,
        duration_ns=dur if ok else None,
        ok=ok,
        warmup=warm,
        wall_ns=1_700_000_000_000_000_000 + rnd,
        error=None if ok else err,
        message=None if ok else f"m {err}",
    ),
    st.integers(0, 10_000),
    st.integers(0, 8),
    st.text(min_size=1, max_size=12),
    st.sampled_from(PHASES),
    st.integers(0, 10**12),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["timeout", "api_error", "not_run"]),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(samples_st, max_size=7), max_size=6))
def test_writer_reader_round_trip(tmp_path_factory, batches):
    path = tmp_path_factory.mktemp("rt") / "set.jsonl"
    w = ResultWriter.create(path, HEADER)
    for b in batches:
        w.append(b)
    w.close({"type": "end", "status": "complete", "reason": "x"})
    rs = read_resultset(path)
    assert rs.header == HEADER
    assert rs.samples == [s for b in batches for s in b]
    assert rs.end["status"] == "complete" and rs.warnings == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(samples_st, min_size=1, max_size=10), cut=st.integers(1, 10_000))
def test_truncated_last_line_is_tolerated(tmp_path_factory, batch, cut):
    path = tmp_path_factory.mktemp("tr") / "set.jsonl"
    w = ResultWriter.create(path, HEADER)
    w.append(batch)
    w.close()
    data = path.read_bytes()
    last = json.dumps(batch[-1], separators=(",", ":")).encode()
    cut = 1 + cut % (len(last) - 1)  # keep 1..len-1 bytes of the last line: never a whole record
    path.write_bytes(data[: len(data) - len(last) - 1] + last[:cut])
    rs = read_resultset(path)
    assert rs.samples == batch[:-1]
    assert any("truncated last line" in w for w in rs.warnings)
    assert any("no end record" in w for w in rs.warnings)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_garbage_in_the_middle_names_file_and_line(tmp_path):
    good = json.dumps(
        sample_record(round=0, pos=0, mode="m", phase="create", duration_ns=5, ok=True, warmup=False, wall_ns=1)
    )
    p = _write(tmp_path / "x.jsonl", [json.dumps(HEADER), good, "{not json", good])
    with pytest.raises(ResultFileError, match=r"x.jsonl:3: not a JSON record"):
        read_resultset(p)


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda h, s: ({**h, "version": 99}, s), "schema version 99"),
        (lambda h, s: ({**h, "schema": "other"}, s), "schema is 'other'"),
        (lambda h, s: (h, {**s, "ok": 1}), "field 'ok' is 1"),
        (lambda h, s: (h, {**s, "duration_ns": "5"}), "field 'duration_ns' is '5'"),
        (lambda h, s: (h, {**s, "duration_ns": -3}), "negative"),
        (lambda h, s: (h, {k: v for k, v in s.items() if k != "phase"}), "has no 'phase'"),
        (lambda h, s: (h, {**s, "type": "sampel"}), "unknown record type 'sampel'"),
    ],
)
def test_wrong_schema_or_types_are_refused(tmp_path, mutate, fragment):
    s = sample_record(round=0, pos=0, mode="m", phase="create", duration_ns=5, ok=True, warmup=False, wall_ns=1)
    h, s = mutate(dict(HEADER), s)
    p = _write(tmp_path / "y.jsonl", [json.dumps(h), json.dumps(s)])
    with pytest.raises(ResultFileError) as info:
        read_resultset(p)
    assert fragment in str(info.value) and "y.jsonl" in str(info.value)


def test_writer_never_overwrites(tmp_path):
    p = tmp_path / "z.jsonl"
    ResultWriter.create(p, HEADER).close()
    with pytest.raises(FileExistsError):
        ResultWriter.create(p, HEADER)


def test_reopen_cuts_a_partial_tail_and_appends(tmp_path):
    p = tmp_path / "r.jsonl"
    ResultWriter.create(p, HEADER).close()
    with open(p, "a") as fh:
        fh.write('{"type":"sam')
    w = ResultWriter.reopen(p)
    w.close({"type": "end", "status": "failed", "reason": "r"})
    rs = read_resultset(p)
    assert rs.end["status"] == "failed" and rs.warnings == []


def test_version_1_sets_read_as_warm_and_a_bad_scenario_is_named(tmp_path):
    from analysis.load import load

    v1 = tmp_path / "v1.jsonl"
    sample = {
        "type": "sample",
        "round": 0,
        "pos": 0,
        "mode": "a",
        "phase": "create",
        "duration_ns": 5,
        "ok": True,
        "error": None,
        "message": None,
        "warmup": False,
        "wall_ns": 1,
        "cid": None,
        "engine": None,
        "detail": None,
    }
    v1.write_text(json.dumps(HEADER_V1) + "\n" + json.dumps(sample) + "\n")
    frame = load([v1], warn=False).frame
    assert list(frame["scenario"]) == ["warm"]
    # Upgraded once, on reading: the header says what it was, the samples look current.
    rs = read_resultset(v1)
    assert rs.header["version"] == SCHEMA_VERSION and rs.header["upgraded_from"] == 1 and rs.header["cold"] == {}
    assert rs.samples[0]["scenario"] == "warm"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**HEADER, "version": 2}) + "\n" + json.dumps({**sample, "scenario": "hot"}) + "\n")
    with pytest.raises(ResultFileError, match=r"bad.jsonl:2: sample scenario is 'hot'"):
        read_resultset(bad)


def _cycle_with_costs(rnd: int) -> list[dict]:
    from bench.results.resultset import cost_record

    base = {"round": rnd, "pos": 0, "mode": "runc", "warmup": False, "wall_ns": 1}
    samples = [sample_record(**base, phase=p, duration_ns=5, ok=True) for p in PHASES]
    costs = [cost_record(**base, metric=m, value_ns=7, ok=True) for m in ("cpu_engine", "cpu_harness", "wf_shim")]
    return samples + costs


def test_cost_records_are_read_apart_from_the_samples(tmp_path):
    """Issue 23: what a cycle cost the host is a record of its own kind (version 5), so no reader counts it
    among the cycle's phases; the analysis reads it into a table of its own."""
    from analysis.load import load

    path = tmp_path / "v5.jsonl"
    w = ResultWriter.create(path, HEADER)
    for rnd in range(3):
        w.append(_cycle_with_costs(rnd))
    w.close({"type": "end", "status": "complete", "reason": "t"})
    rs = read_resultset(path)
    assert [s["phase"] for s in rs.samples] == list(PHASES) * 3
    assert [c["metric"] for c in rs.costs] == ["cpu_engine", "cpu_harness", "wf_shim"] * 3
    loaded = load([path], warn=False, use_cache=False)
    assert set(loaded.frame["phase"].astype(str)) == set(PHASES) and len(loaded.frame) == 3 * len(PHASES)
    assert list(loaded.costs["value_ms"]) == [7e-6] * 9 and set(loaded.costs["metric"]) == {
        "cpu_engine", "cpu_harness", "wf_shim"}  # fmt: skip


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda c: c.pop("metric"), "cost record has no 'metric'"),
        (lambda c: c.update(value_ns=-1), "cost value_ns is negative"),
        (lambda c: c.update(value_ns=None), "cost field 'value_ns' is None"),
        (lambda c: c.update(ok=1), "cost field 'ok' is 1"),
    ],
)
def test_a_damaged_cost_record_is_named_by_line(tmp_path, mutate, fragment):
    rec = _cycle_with_costs(0)[-1]
    mutate(rec)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(HEADER) + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(ResultFileError, match=rf"bad.jsonl:2: {fragment}"):
        read_resultset(path)


def test_a_version_4_set_with_costs_written_as_samples_reads_them_as_cost_records(tmp_path):
    """The first issue-23 build wrote its costs as samples (version 4): they read as the cost records they
    are, without the cycle's failure category they were given, and the cycle's phases are its own again."""
    from analysis.load import load

    path = tmp_path / "v4.jsonl"
    base = {"round": 0, "pos": 0, "mode": "runc", "warmup": False, "wall_ns": 1}
    recs = [sample_record(**base, phase=p, duration_ns=5, ok=True) for p in PHASES]
    recs += [sample_record(**base, phase=p, duration_ns=9, ok=False, error="runtime_error", message="the cycle failed")
             for p in ("cpu_engine", "wf_sandbox", "waterfall")]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in [{**HEADER, "version": 4}, *recs]) + "\n")
    rs = read_resultset(path)
    assert [s["phase"] for s in rs.samples] == list(PHASES)
    assert [(c["metric"], c["value_ns"], c["ok"]) for c in rs.costs] == [
        ("cpu_engine", 9, False), ("wf_sandbox", 9, False), ("waterfall", 9, False)]  # fmt: skip
    assert all("error" not in c for c in rs.costs)
    loaded = load([path], warn=False, use_cache=False)
    assert set(loaded.frame["phase"].astype(str)) == set(PHASES) and len(loaded.costs) == 3


def test_the_end_records_counts_and_the_batches_hold_costs_apart(tmp_path):
    """The scheduler writes each cycle's cost records in its batch, after its samples, and the end record
    counts only the samples (before: cost samples took the cycle's category and inflated its counts)."""
    from types import SimpleNamespace

    from bench.core.config import RunSettings
    from bench.measure.executor import ScriptedExecutor
    from bench.results.resultset import cost_record
    from bench.schedule.scheduler import Scheduler, end_record

    class Costly(ScriptedExecutor):
        def run_cycle(self, rt, round_no, pos, warmup, scenario="warm"):  # type: ignore[no-untyped-def]
            result = super().run_cycle(rt, round_no, pos, warmup, scenario)
            failed = next((s["phase"] for s in result.samples if not s["ok"]), None)
            base = {"round": round_no, "pos": pos, "mode": rt.mode.name, "warmup": warmup, "wall_ns": 1}
            result.costs = [cost_record(**base, metric="cpu_engine", value_ns=3, ok=failed is None, failed_at=failed)]
            return result

    path = tmp_path / "s.jsonl"
    writer = ResultWriter.create(path, HEADER)
    script = lambda mode, phase, rnd: "runtime_error" if (phase == "start" and rnd == 1) else 1_000_000  # noqa: E731
    settings = RunSettings(rounds=3, warmup=0, min_rounds=1, budget_s=None)
    rt = SimpleNamespace(mode=SimpleNamespace(name="a"))
    outcome = Scheduler(settings, [rt], Costly(script), writer, 0).run()  # type: ignore[list-item]
    writer.close(end_record(outcome, 0, []))
    rs = read_resultset(path)
    kinds = [json.loads(line)["type"] for line in path.read_text().splitlines()[1:-1]]
    assert kinds == (["sample"] * len(PHASES) + ["cost"]) * 3
    assert len(rs.costs) == 3 and [c["ok"] for c in rs.costs] == [True, False, True]
    counts = rs.end["counts"]["a"]
    assert set(counts) - {"_errors"} == set(PHASES) and "cpu_engine" not in counts
    assert sum(counts["_errors"].values()) == sum(not s["ok"] for s in rs.samples)


class _FillsUp:
    """A file whose disk fills in the middle of the next batch: part of it is written, then ENOSPC."""

    def __init__(self, path: Path) -> None:
        self.raw = open(path, "xb", buffering=0)
        self.room: "int | None" = None  # bytes that still fit (None: any)

    def fileno(self) -> int:
        return self.raw.fileno()

    def seek(self, pos: int) -> int:
        return self.raw.seek(pos)

    def close(self) -> None:
        self.raw.close()

    def write(self, data: "bytes | memoryview") -> int:
        import errno

        if self.room is not None and self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.raw.write(data[: self.room] if self.room is not None else data)
        if self.room is not None:
            self.room -= n
        return n


def test_a_batch_cut_back_by_a_full_disk_leaves_the_end_record_right_after_the_last_whole_one(tmp_path):
    """A batch that fitted only in part is truncated away, and the writer's offset goes back with it: the
    end record (which fits once the partial batch is freed) follows the last complete record, with no hole
    of NUL bytes before it (seen when a cycle's cost records made its batch larger than a tmpfs page)."""
    from bench.results.resultset import ResultsDiskFull

    path = tmp_path / "full.jsonl"
    fh = _FillsUp(path)
    writer = ResultWriter(path, fh)
    writer.append([HEADER])
    writer.append(_cycle_with_costs(0))
    fh.room = 300  # the next batch is cut off after 300 bytes
    with pytest.raises(ResultsDiskFull):
        writer.append(_cycle_with_costs(1))
    fh.room = None  # the truncation freed room for the end record
    assert writer.close({"type": "end", "status": "failed", "reason": "full", "stop": "results_disk_full"})
    assert b"\0" not in path.read_bytes()
    rs = read_resultset(path)
    assert {s["round"] for s in rs.samples} == {0} and rs.end is not None and rs.end["status"] == "failed"
