"""The on-disk format: round trips, truncated tails, and damaged files named by line."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.core.phases import PHASES
from bench.results.records import Cost, End, Header, Record, Resume, Sample
from bench.results.resultset import SCHEMA_VERSION, ResultFileError, ResultWriter, read_resultset

HEADER_REC = Header(
    schema="isobench.resultset", version=SCHEMA_VERSION, run_id="r1", created="2026-12-01T00:00:00+00:00",
    created_ns=1, seed=0, config={}, host={}, python={}, packages={}, modes={}, skipped={}, swept_at_start=0,
    harness={}, label="isobench.run",
)  # fmt: skip
HEADER = HEADER_REC.to_json()
HEADER_V1 = {"type": "header", "schema": "isobench.resultset", "version": 1, "run_id": "r1", "modes": {}, "host": {}}


def sample_line(**kw: object) -> dict:
    """A minimal sample line as JSON (for writing damaged or older files by hand)."""
    base = dict(round=0, pos=0, mode="m", phase="create", duration_ns=5, ok=True, warmup=False, wall_ns=1)
    return Sample(**{**base, **kw}).to_json()  # type: ignore[arg-type]


samples_st = st.builds(
    lambda rnd, pos, mode, phase, dur, ok, warm, err: Sample(
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
    w = ResultWriter.create(path, HEADER_REC)
    for b in batches:
        w.append(b)
    w.close(End(status="complete", reason="x"))
    rs = read_resultset(path)
    assert rs.header == HEADER_REC
    assert rs.samples == [s for b in batches for s in b]
    assert rs.end is not None and rs.end.status == "complete" and rs.warnings == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(samples_st, min_size=1, max_size=10), cut=st.integers(1, 10_000))
def test_truncated_last_line_is_tolerated(tmp_path_factory, batch, cut):
    path = tmp_path_factory.mktemp("tr") / "set.jsonl"
    w = ResultWriter.create(path, HEADER_REC)
    w.append(batch)
    w.close()
    data = path.read_bytes()
    last = json.dumps(batch[-1].to_json(), separators=(",", ":")).encode()
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
    good = json.dumps(sample_line())
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
    h, s = mutate(dict(HEADER), sample_line())
    p = _write(tmp_path / "y.jsonl", [json.dumps(h), json.dumps(s)])
    with pytest.raises(ResultFileError) as info:
        read_resultset(p)
    assert fragment in str(info.value) and "y.jsonl" in str(info.value)


def test_writer_never_overwrites(tmp_path):
    p = tmp_path / "z.jsonl"
    ResultWriter.create(p, HEADER_REC).close()
    with pytest.raises(FileExistsError):
        ResultWriter.create(p, HEADER_REC)


def test_reopen_cuts_a_partial_tail_and_appends(tmp_path):
    p = tmp_path / "r.jsonl"
    ResultWriter.create(p, HEADER_REC).close()
    with open(p, "a") as fh:
        fh.write('{"type":"sam')
    w = ResultWriter.reopen(p)
    w.close(End(status="failed", reason="r"))
    rs = read_resultset(p)
    assert rs.end is not None and rs.end.status == "failed" and rs.warnings == []


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
    assert rs.header.version == SCHEMA_VERSION and rs.header.upgraded_from == 1 and rs.header.cold == {}
    assert rs.samples[0].scenario == "warm"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**HEADER, "version": 2}) + "\n" + json.dumps({**sample, "scenario": "Hot Day"}) + "\n")
    with pytest.raises(ResultFileError, match=r"bad.jsonl:2: sample scenario is 'Hot Day', not a scenario's name"):
        read_resultset(bad)
    # a scenario added after this reader was written is a name it reads, not damage
    newer = tmp_path / "newer.jsonl"
    newer.write_text(
        json.dumps({**HEADER, "version": 2}) + "\n" + json.dumps({**sample, "scenario": "cold-ish"}) + "\n"
    )
    assert read_resultset(newer).samples[0].scenario == "cold-ish"


def test_records_are_frozen_and_a_change_is_a_new_record():
    s = Sample.from_json(sample_line(ok=False, duration_ns=None, error="exit_code"))
    with pytest.raises(AttributeError):
        s.error = "oom_killed"  # type: ignore[misc]
    t = s.but(error="oom_killed")
    assert (s.error, t.error) == ("exit_code", "oom_killed") and t.phase == "create"


def test_every_kind_round_trips_through_json_and_the_reader_checks_what_the_class_declares():
    from bench.results import records
    from bench.results.resultset import REQUIRED_SAMPLE_FIELDS, SAMPLE_FIELDS

    assert set(records.KINDS) == {"header", "sample", "cost", "resume", "end"}
    assert list(SAMPLE_FIELDS) == [f.name for f in dataclasses.fields(Sample)]  # one declaration, in line order
    assert REQUIRED_SAMPLE_FIELDS == ("round", "pos", "mode", "phase", "duration_ns", "ok", "warmup", "wall_ns")
    cost = Cost(round=0, pos=0, mode="m", scenario="burst", warmup=False, group=2, level=8,
                level_unit="containers", metric="cpu_engine", value_ns=3, ok=False, failed_at="start", wall_ns=1,
                detail={"containers": 8})  # fmt: skip
    for rec in (HEADER_REC, Sample.from_json(sample_line(group=3, level=4, level_unit="containers", slot=1)), cost,
                Resume(resumed_ns=5, warnings=["w"]), End(status="complete", counts={"m": {}})):  # fmt: skip
        text = json.dumps(rec.to_json())
        line = json.loads(text)
        assert line["type"] == rec.KIND and json.dumps(records.KINDS[line["type"]].from_json(line).to_json()) == text
    # a section written only when set stays absent rather than null, as sets have always had it
    assert "scale" not in HEADER and "written_by" not in End(status="complete").to_json()


def _v4_line(**kw: object) -> dict:
    line = {k: v for k, v in sample_line(**kw).items() if k not in ("group", "level_unit")}
    return line


@pytest.mark.parametrize("fast", [False, True])
def test_a_version_4_set_reads_with_burst_as_group_and_the_unit_of_its_scenario(tmp_path, fast, monkeypatch):
    """Sets written before typed records (version 4) call the group `burst` and name no unit: the reader
    upgrades them in one place, so the frame and the records look current."""
    from analysis import fastread
    from analysis.load import load

    if fast:  # the arrow reader hands an older set to the exact reader (the one place that upgrades)
        monkeypatch.setattr(fastread, "MIN_BYTES", 0)
    lines = [json.dumps({**HEADER, "version": 4})]
    for scenario, level in (("burst", 8), ("rate", 2.5), ("density", 16), ("service", 3)):
        line = _v4_line(scenario=scenario, level=level, slot=0, phase="create")
        lines.append(json.dumps({**line, "burst": 11}))
    lines.append(json.dumps(_v4_line()))  # a warm sample: no group, no level, no unit
    p = _write(tmp_path / "v4.jsonl", lines)
    rs = read_resultset(p)
    assert rs.header.upgraded_from == 4
    assert [(s.group, s.level, s.level_unit) for s in rs.samples] == [
        (11, 8, "containers"), (11, 2.5, "starts/s"), (11, 16, "running"), (11, 3, "replicas"), (None, None, None)
    ]  # fmt: skip
    frame = load([p], warn=False, use_cache=False).frame
    assert "burst" not in frame.columns
    assert list(frame["group"]) == [11, 11, 11, 11, -1]
    assert list(frame["level_unit"].astype(object).fillna("")) == ["containers", "starts/s", "running", "replicas", ""]


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_set_written_before_typed_records_reads_as_the_same_set_written_now(tmp_path):
    """fixtures/burst_v4.jsonl was written by isobench at 919eb33 (schema 4: the group called `burst`, no
    unit) with the call below; the same call now writes schema 5. Both read to the same records and frame."""
    import pandas as pd

    from analysis.load import load
    from bench.results.synthetic import SyntheticMode, burst_synthetic

    ms = {p: 10.0 for p in ("create", "start", "ready", "remove", "exec", "stop")}
    modes = [SyntheticMode("runc", "native", ms), SyntheticMode("runsc", "hyperv", {p: 30.0 for p in ms})]
    new = burst_synthetic(tmp_path / "burst_v5.jsonl", modes, (1, 2), 3, {"runsc": {2: 1.5}}, seed=7)
    old = FIXTURES / "burst_v4.jsonl"
    assert '"burst":0' in old.read_text().splitlines()[1] and read_resultset(old).header.upgraded_from == 4
    assert read_resultset(old).samples == read_resultset(new).samples
    # The header too, apart from what differs by when it was written (and the version it was read from).
    was, now = read_resultset(old).header, read_resultset(new).header
    same = {"run_id": now.run_id, "created": now.created, "created_ns": now.created_ns, "upgraded_from": None}
    assert isinstance(was, Header) and was.but(**same) == now.but(packages=was.packages)
    assert was.host["hostname"] == "synthetic" and was.roles() == {"runc": "native", "runsc": "hyperv"}
    frames = [load([p], warn=False, use_cache=False).frame.drop(columns="set") for p in (old, new)]
    pd.testing.assert_frame_equal(*frames)
    assert set(frames[1]["level_unit"].dropna()) == {"containers"} and frames[1]["group"].max() == 11


def _cycle_with_costs(rnd: int) -> list[Record]:
    base = {"round": rnd, "pos": 0, "mode": "runc", "warmup": False, "wall_ns": 1}
    samples: list[Record] = [Sample(**base, phase=p, duration_ns=5, ok=True) for p in PHASES]  # type: ignore[arg-type]
    costs = [Cost(**base, scenario="warm", metric=m, value_ns=7, ok=True)  # type: ignore[arg-type]
             for m in ("cpu_engine", "cpu_harness", "wf_shim")]  # fmt: skip
    return samples + costs


def test_cost_records_are_read_apart_from_the_samples(tmp_path):
    """Issue 23: what a cycle cost the host is a record of its own kind (version 6), so no reader counts it
    among the cycle's phases; the analysis reads it into a table of its own."""
    from analysis.load import load

    path = tmp_path / "v6.jsonl"
    w = ResultWriter.create(path, HEADER_REC)
    for rnd in range(3):
        w.append(_cycle_with_costs(rnd))
    w.close(End(status="complete", reason="t"))
    rs = read_resultset(path)
    assert [s.phase for s in rs.samples] == list(PHASES) * 3
    assert [c.metric for c in rs.costs] == ["cpu_engine", "cpu_harness", "wf_shim"] * 3
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
    rec = _cycle_with_costs(0)[-1].to_json()
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
    recs = [_v4_line(**base, phase=p, duration_ns=5, ok=True) for p in PHASES]
    recs += [_v4_line(**base, phase=p, duration_ns=9, ok=False, error="runtime_error", message="the cycle failed",
                      scenario="burst", level=8, slot=2) | {"burst": 4}
             for p in ("cpu_engine", "wf_sandbox", "waterfall")]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in [{**HEADER, "version": 4}, *recs]) + "\n")
    rs = read_resultset(path)
    assert [s.phase for s in rs.samples] == list(PHASES)
    assert [(c.metric, c.value_ns, c.ok, c.failed_at) for c in rs.costs] == [
        ("cpu_engine", 9, False, None), ("wf_sandbox", 9, False, None), ("waterfall", 9, False, None)]  # fmt: skip
    # the earlier steps ran first: the group's id and unit as version 5 named them
    assert {(c.group, c.level, c.level_unit, c.slot) for c in rs.costs} == {(4, 8, "containers", 2)}
    assert all("error" not in c.to_json() for c in rs.costs)
    loaded = load([path], warn=False, use_cache=False)
    assert set(loaded.frame["phase"].astype(str)) == set(PHASES) and len(loaded.costs) == 3
    assert set(loaded.costs["level_unit"].astype(str)) == {"containers"}


def test_the_end_records_counts_and_the_batches_hold_costs_apart(tmp_path):
    """The scheduler writes each cycle's cost records in its batch, after its samples, and the end record
    counts only the samples (before: cost samples took the cycle's category and inflated its counts)."""
    from types import SimpleNamespace

    from bench.core.config import RunSettings
    from bench.measure.executor import ScriptedExecutor
    from bench.schedule.scheduler import Output, Position, Scheduler, end_record

    class Costly(ScriptedExecutor):
        def run_cycle(self, rt, round_no, pos, warmup, scenario="warm"):  # type: ignore[no-untyped-def]
            result = super().run_cycle(rt, round_no, pos, warmup, scenario)
            failed = next((s.phase for s in result.samples if not s.ok), None)
            result.costs = [
                Cost(
                    round=round_no,
                    pos=pos,
                    mode=rt.mode.name,
                    warmup=warmup,
                    scenario=scenario,
                    metric="cpu_engine",
                    value_ns=3,
                    ok=failed is None,
                    failed_at=failed,
                    wall_ns=1,
                )
            ]
            return result

    path = tmp_path / "s.jsonl"
    writer = ResultWriter.create(path, HEADER_REC)
    script = lambda mode, phase, rnd: "runtime_error" if (phase == "start" and rnd == 1) else 1_000_000  # noqa: E731
    settings = RunSettings(rounds=3, warmup=0, min_rounds=1, budget_s=None)
    rt = SimpleNamespace(mode=SimpleNamespace(name="a"))
    outcome = Scheduler(settings, [rt], Costly(script), Output(writer), Position(0)).run()  # type: ignore[list-item]
    writer.close(end_record(outcome, 0, []))
    rs = read_resultset(path)
    kinds = [json.loads(line)["type"] for line in path.read_text().splitlines()[1:-1]]
    assert kinds == (["sample"] * len(PHASES) + ["cost"]) * 3
    assert len(rs.costs) == 3 and [c.ok for c in rs.costs] == [True, False, True]
    assert rs.end is not None
    counts = rs.end.counts["a"]
    assert set(counts) - {"_errors"} == set(PHASES) and "cpu_engine" not in counts
    assert sum(counts["_errors"].values()) == sum(not s.ok for s in rs.samples)


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
    writer.append([HEADER_REC])
    writer.append(_cycle_with_costs(0))
    fh.room = 300  # the next batch is cut off after 300 bytes
    with pytest.raises(ResultsDiskFull):
        writer.append(_cycle_with_costs(1))
    fh.room = None  # the truncation freed room for the end record
    assert writer.close(End(status="failed", reason="full", stop="results_disk_full"))
    assert b"\0" not in path.read_bytes()
    rs = read_resultset(path)
    assert {s.round for s in rs.samples} == {0} and rs.end is not None and rs.end.status == "failed"


def test_the_header_reads_as_a_record_with_defaults_for_what_an_old_set_lacks(tmp_path):
    """Version 1 headers (and hand-made ones) hold only what the reader requires; the rest read as defaults."""
    p = _write(tmp_path / "v1.jsonl", [json.dumps(HEADER_V1)])
    header = read_resultset(p).header
    assert isinstance(header, Header) and header.run_id == "r1" and header.upgraded_from == 1
    assert (header.config, header.skipped, header.leases, header.seed, header.created_ns) == ({}, {}, {}, 0, 0)
    assert header.service is None and header.cold == {}  # no service (before 4) or cold scenario (before 2)
    # Written back, an upgraded header says what it was upgraded from; a current one has no such key.
    assert header.to_json()["upgraded_from"] == 1 and "upgraded_from" not in HEADER


@pytest.mark.parametrize(
    "change, says",
    [
        ({"modes": []}, "the header's modes is [], not object"),
        ({"seed": "7"}, "the header's seed is '7', not int"),
        ({"concurrent": 1}, "the header's concurrent is 1, not bool"),
        ({"created_ns": True}, "the header's created_ns is True, not int"),
        ({"scale": 3}, "the header's scale is 3, not object or null"),
    ],
)
def test_a_header_field_of_the_wrong_type_is_named_in_one_sentence(tmp_path, change, says):
    p = _write(tmp_path / "bad.jsonl", [json.dumps({**HEADER, **change})])
    with pytest.raises(ResultFileError, match=r"bad\.jsonl:1: " + re.escape(says) + ": the file is damaged"):
        read_resultset(p)


def test_a_header_without_its_modes_is_refused(tmp_path):
    p = _write(tmp_path / "bad.jsonl", [json.dumps({k: v for k, v in HEADER.items() if k != "modes"})])
    with pytest.raises(ResultFileError, match="the header has no modes: the file is damaged"):
        read_resultset(p)
