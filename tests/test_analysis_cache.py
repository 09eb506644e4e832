"""The columnar cache beside a result set: used only while the JSONL's size, mtime and
header hash match, rebuilt (with one line on stderr) when stale or damaged, never a
reason for the analysis to fail. Small synthetic sets; no engine."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import cache, fastread
from analysis import load as load_mod
from analysis.load import load
from bench.results.records import Cost, End, Resume, Sample
from bench.results.resultset import ResultWriter
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
from bench.schedule.scripted import scripted_run

MODES = [
    SyntheticMode("runc", "native", DEFAULT_PHASE_MS),
    SyntheticMode("runsc", "hyperv", {k: v * 1.4 for k, v in DEFAULT_PHASE_MS.items()}, failure_rate=0.2),
]


def with_costs(path: Path) -> Path:
    """The set with cost records in each cycle's batch, after its samples, as a run writes them (a failed
    cycle's not ok, with the phase it failed at; a waterfall with its detail on the first mode's)."""
    lines = path.read_text().splitlines()
    out = [lines[0]]
    body = [json.loads(line) for line in lines[1:]]
    for i, rec in enumerate(body):
        out.append(json.dumps(rec))
        nxt = body[i + 1] if i + 1 < len(body) else {}
        if rec.get("type") != "sample" or (nxt.get("round"), nxt.get("mode")) == (rec["round"], rec["mode"]):
            continue
        cycle = [
            r for r in body if r.get("type") == "sample" and (r["round"], r["mode"]) == (rec["round"], rec["mode"])
        ]
        failed = next((r["phase"] for r in cycle if not r["ok"]), None)
        base = {k: rec[k] for k in ("round", "pos", "mode", "warmup", "scenario")}
        for metric, ns in (("cpu_engine", 9), ("cpu_harness", 1)):
            cost = Cost(**base, metric=metric, value_ns=ns + rec["round"], ok=failed is None, failed_at=failed,
                        wall_ns=2)  # fmt: skip
            out.append(json.dumps(cost.to_json()))
        if failed is None and rec["mode"] == "runc":
            detail = {"events": [[0, "exec", 7, 1, "runc", "create"]], "markers": {"create": 0}}
            out.append(
                json.dumps(Cost(**base, metric="waterfall", value_ns=5, ok=True, wall_ns=2, detail=detail).to_json())
            )
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture
def result(tmp_path: Path) -> Path:
    """A complete set with failures (so error, null durations and not_run rows are present) and cost records."""
    return with_costs(scripted_run(tmp_path / "20260101T000000Z_h_docker-1.jsonl", MODES, rounds=20, seed=3))


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def reference(path: Path) -> load_mod.Loaded:
    """The set read from the JSONL alone: what the cache must reproduce exactly."""
    return load([path], warn=False, use_cache=False)


def assert_same(a: load_mod.Loaded, b: load_mod.Loaded) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True, check_categorical=True)
    pd.testing.assert_frame_equal(a.costs, b.costs, check_exact=True, check_categorical=True)
    assert (a.headers, a.ends, a.warnings) == (b.headers, b.ends, b.warnings)


def test_first_read_writes_the_cache_and_the_second_reads_only_the_cache(result, monkeypatch, capsys):
    first = load([result], warn=False)
    assert first.sources == {result.stem: "jsonl"}
    assert cache.cache_path(result).is_file() and cache.cache_path(result).name.startswith(".")
    assert cache.costs_path(result).is_file() and cache.costs_path(result).name.startswith(".")
    assert len(first.costs) and not first.frame["phase"].isin(["cpu_engine", "cpu_harness", "waterfall"]).any()

    def no_jsonl(*_: object) -> None:
        raise AssertionError("the JSONL was parsed although a fresh cache exists")

    monkeypatch.setattr(load_mod, "read_jsonl", no_jsonl)
    second = load([result], warn=False)
    assert second.sources == {result.stem: "cache"}
    assert_same(first, second)
    assert stderr_lines(capsys) == []  # a cache that works is silent


@pytest.mark.parametrize("fast", [False, True], ids=["exact-reader", "arrow-reader"])
def test_data_from_the_cache_equal_data_from_the_jsonl(result, monkeypatch, fast):
    if fast:  # the pyarrow reader normally starts at 4 MB
        monkeypatch.setattr(fastread, "MIN_BYTES", 0)
    load([result], warn=False)
    cached = load([result], warn=False)
    assert cached.sources[result.stem] == "cache"
    assert_same(reference(result), cached)


def test_two_sets_from_their_caches_equal_two_sets_from_the_jsonl(tmp_path, result):
    other = scripted_run(tmp_path / "20260102T000000Z_h_docker-1.jsonl", MODES[:1], rounds=10, seed=4)
    load([result, other], warn=False)
    cached = load([result, other], warn=False)
    assert set(cached.sources.values()) == {"cache"}
    assert_same(load([result, other], warn=False, use_cache=False), cached)


def append_resumed_rounds(path: Path, rounds: int = 2, end: bool = True) -> None:
    """What `bench run --resume` does: a resume record, more samples, maybe a new end."""
    writer = ResultWriter.reopen(path)
    writer.append([Resume(resumed_ns=1)])
    writer.append(
        [
            Sample(round=100 + r, pos=0, mode="runc", phase=ph, duration_ns=1_000_000, ok=True, warmup=False, wall_ns=1)
            for r in range(rounds)
            for ph in DEFAULT_PHASE_MS
        ]
    )
    writer.close(End(status="complete", reason="resumed") if end else None)


def test_an_appended_set_makes_the_cache_stale_and_it_is_rebuilt(result, capsys):
    load([result], warn=False)
    append_resumed_rounds(result)
    again = load([result], warn=False)
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "stale" in lines[0] and "rebuilt" in lines[0], lines
    assert again.sources[result.stem] == "jsonl"
    assert (again.frame["round"] >= 100).sum() == 12  # the appended rows, not the cached ones
    third = load([result], warn=False)
    assert third.sources[result.stem] == "cache" and stderr_lines(capsys) == []
    assert_same(reference(result), third)


def test_a_growing_set_is_never_served_stale_and_gets_no_cache(result, capsys):
    load([result], warn=False)
    append_resumed_rounds(result, end=False)  # a run still writing: no end record yet
    for _ in range(2):
        loaded = load([result], warn=False)
        assert loaded.sources[result.stem] == "jsonl"
        assert (loaded.frame["round"] >= 100).sum() == 12
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "stale" in lines[0] and "no end record" in lines[0], lines
    assert not cache.cache_path(result).exists()
    assert load_mod.write_cache(result) is not None  # says why, does not raise


def test_a_set_without_an_end_record_gets_no_cache_and_no_message(tmp_path, capsys):
    path = tmp_path / "20260101T000000Z_h_docker-1.jsonl"
    lines = scripted_run(path, MODES, rounds=5).read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # cut off before the end record
    assert load([path], warn=False).sources[path.stem] == "jsonl"
    assert not cache.cache_path(path).exists()
    assert stderr_lines(capsys) == []


def rewrite_keeping_size_and_mtime(path: Path, old: bytes, new: bytes) -> None:
    st = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_changed_header_of_the_same_size_and_mtime_rebuilds_the_cache(result, capsys):
    load([result], warn=False)
    run_id = json.loads(result.read_text().splitlines()[0])["run_id"]
    rewrite_keeping_size_and_mtime(result, f'"run_id":"{run_id}"'.encode(), b'"run_id":"ffffffffffff"')
    again = load([result], warn=False)
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "header" in lines[0] and "rebuilt" in lines[0], lines
    assert again.headers[result.stem].run_id == "ffffffffffff"
    assert load([result], warn=False).sources[result.stem] == "cache"


def test_a_touched_set_rebuilds_the_cache(result, capsys):
    load([result], warn=False)
    st = result.stat()
    os.utime(result, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load([result], warn=False).sources[result.stem] == "jsonl"
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "modified" in lines[0], lines


def test_a_cache_from_another_frame_version_is_not_trusted(result, monkeypatch, capsys):
    load([result], warn=False)
    monkeypatch.setattr(load_mod, "FRAME_VERSION", load_mod.FRAME_VERSION + 1)
    assert load([result], warn=False).sources[result.stem] == "jsonl"
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "another version" in lines[0], lines


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "footer-key"])
def test_a_damaged_cache_is_detected_reported_in_one_line_and_rebuilt(result, capsys, damage):
    load([result], warn=False)
    where = cache.cache_path(result)
    blob = where.read_bytes()
    if damage == "truncated":
        where.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty":
        where.write_bytes(b"")
    elif damage == "garbage":
        where.write_bytes(os.urandom(len(blob)))
    else:  # the stored end record edited in the footer: caught by the metadata digest
        assert blob.count(b"complete") == 1
        where.write_bytes(blob.replace(b"complete", b"complet3"))
    again = load([result], warn=False)
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "damaged" in lines[0] and "rebuilt" in lines[0], lines
    assert again.sources[result.stem] == "jsonl"
    assert_same(reference(result), again)
    assert load([result], warn=False).sources[result.stem] == "cache"


def test_flipped_bytes_anywhere_in_the_cache_never_give_wrong_data(result, capsys):
    """Page checksums and the metadata digest: a flip is caught, or it touched nothing read."""
    expected = reference(result)
    load([result], warn=False)
    where = cache.cache_path(result)
    good = where.read_bytes()
    caught = 0
    for offset in range(4, len(good) - 8, max(1, len(good) // 60)):
        where.write_bytes(good[:offset] + bytes([good[offset] ^ 0xFF]) + good[offset + 1 :])
        loaded = load([result], warn=False)
        assert_same(expected, loaded)
        caught += loaded.sources[result.stem] == "jsonl"
        where.write_bytes(good)  # the next flip starts from the intact cache
    assert caught >= 50, caught
    assert all("damaged" in line or "stale" in line for line in stderr_lines(capsys))


def make_unwritable(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only results folder. root ignores permission bits, so there the refusal the
    kernel would give is raised where the cache creates its temp file."""
    directory.chmod(0o555)
    if os.geteuid() == 0:

        def refuse(*_: object, **__: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(cache.tempfile, "mkstemp", refuse)


def test_a_read_only_folder_still_analyses_and_says_so_in_one_line(result, monkeypatch, capsys):
    make_unwritable(result.parent, monkeypatch)
    try:
        loaded = load([result], warn=False)
        assert_same(reference(result), loaded)
        lines = stderr_lines(capsys)
        assert len(lines) == 1 and "cannot write the cache" in lines[0] and "Permission denied" in lines[0], lines
        assert not cache.cache_path(result).exists()
        assert sorted(p.name for p in result.parent.iterdir()) == [result.name]  # no temp file left
        assert load_mod.write_cache(result) is not None
    finally:
        result.parent.chmod(0o755)


def test_a_stale_cache_in_a_read_only_folder_is_not_used_and_one_line_says_both(result, monkeypatch, capsys):
    load([result], warn=False)
    append_resumed_rounds(result)
    make_unwritable(result.parent, monkeypatch)
    try:
        loaded = load([result], warn=False)
        assert loaded.sources[result.stem] == "jsonl" and (loaded.frame["round"] >= 100).sum() == 12
        lines = stderr_lines(capsys)
        assert len(lines) == 1 and "stale" in lines[0] and "cannot write" in lines[0], lines
    finally:
        result.parent.chmod(0o755)


def test_write_cache_at_the_end_of_a_run(result, tmp_path):
    assert load_mod.write_cache(result) is None
    assert load([result], warn=False).sources[result.stem] == "cache"
    missing = load_mod.write_cache(tmp_path / "nope.jsonl")
    assert missing is not None and "does not exist" in missing


def test_the_cache_is_no_result_set(result):
    """`--latest` and `make report` look for *.jsonl: the cache must never be mistaken for one."""
    from analysis.cli import latest_result

    load([result], warn=False)
    assert latest_result(result.parent) == result
    assert [p.name for p in result.parent.glob("*.jsonl")] == [result.name]


def _layout(path: Path, layout: str) -> Path:
    """The same samples (and cost records) in the layouts a real set can have (resumed, cut off, ...)."""
    lines = path.read_text().splitlines()
    header, samples, end = lines[0], lines[1:-1], lines[-1]
    resume = json.dumps({"type": "resume", "reason": "test"})
    half = len(samples) // 2
    body = {
        "complete": samples + [end],
        "no-end": samples,
        "resumed": samples[:half] + [end, resume] + samples[half:] + [end],
        "end-then-samples": samples[:half] + [end] + samples[half:],
        "ends-with-resume": samples + [end, resume],
        "truncated": samples + [samples[-1][:25]],
    }[layout]
    text = "\n".join([header] + body) + ("" if layout == "truncated" else "\n")
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "layout", ["complete", "no-end", "resumed", "end-then-samples", "ends-with-resume", "truncated"]
)
def test_the_arrow_reader_agrees_with_the_exact_reader(result, monkeypatch, layout):
    """The cache stores what the arrow reader makes of large sets: it must be what the
    exact reader (bench.results.resultset, the authority) makes of them, categories' order aside."""
    path = _layout(result, layout)
    exact = load([path], warn=False, use_cache=False)
    monkeypatch.setattr(fastread, "MIN_BYTES", 0)
    calls = []
    real = fastread.read_fast
    monkeypatch.setattr(load_mod, "read_fast", lambda p: calls.append(p) or real(p))
    fast = load([path], warn=False, use_cache=False)
    assert calls and real(path) is not None  # the arrow reader did read it
    pd.testing.assert_frame_equal(exact.frame, fast.frame, check_exact=True, check_categorical=False)
    pd.testing.assert_frame_equal(exact.costs, fast.costs, check_exact=True, check_categorical=False)
    assert len(exact.costs) and (exact.ends, exact.warnings) == (fast.ends, fast.warnings)


def test_warnings_of_a_cached_set_are_replayed(result):
    """A set whose end record is followed by samples keeps its end and warns; from the cache too."""
    path = _layout(result, "end-then-samples")
    first = load([path], warn=False)
    assert first.warnings and first.ends[path.stem] is not None
    cached = load([path], warn=False)
    assert cached.sources[path.stem] == "cache"
    assert_same(first, cached)


def test_the_cache_given_as_a_result_set_is_one_sentence(result):
    from bench.results.resultset import ResultFileError

    load([result], warn=False)
    with pytest.raises(ResultFileError, match="is the columnar cache of a result set, not a result set"):
        load([cache.cache_path(result)], warn=False)


@pytest.mark.parametrize(
    "values, categories",
    [(["b", "a"], ["b", "a"]), (["a", "c"], ["a", "c"]), ([None], None), (["a", "b"], ["a", "b"])],
    ids=["same-set-other-order", "other-set", "all-null", "same"],
)
def test_concat_frames_joins_categoricals_as_pd_concat_would(values, categories):
    """Frames from different readers (arrow: categories in order of appearance; exact reader:
    sorted) or sets with other modes are joined on their codes, yet as pd.concat then
    astype("category") would join them."""
    first = pd.DataFrame({"mode": pd.Categorical(["a", "b", "a"], categories=["a", "b"]), "x": [1, 2, 3]})
    other = pd.DataFrame({"mode": pd.Categorical(values, categories=categories), "x": range(4, 4 + len(values))})
    reference = pd.concat([first, other], ignore_index=True)
    if reference["mode"].dtype != "category":
        reference["mode"] = reference["mode"].astype("category")
    pd.testing.assert_frame_equal(load_mod.concat_frames([first, other]), reference, check_exact=True)


def test_freed_memory_is_kept_on_glibc_and_nothing_changes_elsewhere(monkeypatch):
    from analysis import memory

    glibc = platform.libc_ver()[0] == "glibc"
    assert memory.keep_freed_memory() is (sys.platform.startswith("linux") and glibc)
    monkeypatch.setattr(memory.sys, "platform", "win32")
    assert memory.keep_freed_memory() is False
