"""First start and size without an engine: the pull's progress stream read into per-layer times, the
pull's failure categories, the first-start cycle (remove, pull, cycle), a registry gone mid-run ending
the run with its own stop, and the size executor's marks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bench.core import outcomes
from bench.core.config import Mode
from bench.core.phases import FIRST_START, PHASES, PULL, SIZE
from bench.measure import pull
from bench.measure.executor import CycleResult
from bench.results.records import MIB, Place, Sample
from bench.scenarios.first_start import FirstStartExecutor, FirstStartUnits, Images, RegistryGone
from bench.scenarios.size import SizeExecutor
from bench.schedule.scheduler import Tally

STREAM = [
    {"status": "Pulling from isobench/size", "id": "10M"},
    {"status": "Already exists", "id": "aaa"},
    {"status": "Pulling fs layer", "id": "bbb"},
    {"status": "Downloading", "id": "bbb", "progressDetail": {"current": 10, "total": 100}},
    {"status": "Downloading", "id": "bbb", "progressDetail": {"current": 100, "total": 100}},
    {"status": "Download complete", "id": "bbb"},
    {"status": "Extracting", "id": "bbb"},
    {"status": "Extracting", "id": "bbb"},
    {"status": "Pull complete", "id": "bbb"},
    {"status": "Digest: sha256:00"},
]


def test_the_progress_stream_gives_each_layers_download_and_extract_times() -> None:
    clock = iter(range(0, 10**9, 1000))
    stamps: list[int] = []

    def stream() -> Any:
        for event in STREAM:
            stamps.append(next(clock))
            yield event

    layers = {x.id: x.record() for x in pull.read_progress(stream(), 0)}
    assert set(layers) == {"aaa", "bbb"}  # the repository line and the digest are no layers
    assert layers["aaa"] == {"id": "aaa", "status": "Already exists", "bytes": None, "download_ns": None,
                             "extract_ns": None}  # fmt: skip
    bbb = layers["bbb"]
    assert bbb["status"] == "Pull complete" and bbb["bytes"] == 100
    assert bbb["download_ns"] is not None and bbb["download_ns"] > 0
    assert bbb["extract_ns"] is not None and bbb["extract_ns"] > 0


def test_an_error_line_fails_the_pull() -> None:
    with pytest.raises(pull.PullError, match="manifest unknown"):
        pull.read_progress(iter([{"status": "Pulling fs layer", "id": "b"}, {"error": "manifest unknown"}]), 0)


@pytest.mark.parametrize(
    "words, category",
    [
        ("Get http://127.0.0.1:5000/v2/: dial tcp 127.0.0.1:5000: connect: connection refused",
         outcomes.REGISTRY_UNAVAILABLE),
        ("unexpected EOF", outcomes.REGISTRY_UNAVAILABLE),
        ("manifest for 127.0.0.1:5000/x:1 not found: manifest unknown", outcomes.IMAGE_NOT_FOUND),
        ("something else", outcomes.API_ERROR),
    ],
)  # fmt: skip
def test_pull_failures_have_categories(words: str, category: str) -> None:
    assert pull.classify_pull(RuntimeError(words))[0] == category


class Api:
    def __init__(self, pull_fails: bool = False, tags: tuple[str, ...] = (), tag_fails: bool = False) -> None:
        self.calls: list[str] = []
        self.pull_fails, self.tags, self.tag_fails = pull_fails, tags, tag_fails

    def inspect_image(self, ref: str) -> dict:
        self.calls.append(f"inspect {ref}")
        return {"Id": "sha256:abc", "RepoTags": [ref, *self.tags]}

    def remove_image(self, ref: str, force: bool = False) -> None:
        self.calls.append(f"remove {ref} force={force}")

    def pull(self, repo: str, tag: str, stream: bool, decode: bool) -> Any:
        self.calls.append(f"pull {repo}:{tag}")
        if self.pull_fails:
            raise RuntimeError("dial tcp 127.0.0.1:5000: connect: connection refused")
        return iter(STREAM)

    def tag(self, ref: str, repo: str, tag: str) -> None:
        if self.tag_fails:
            raise RuntimeError("no such image")
        self.calls.append(f"tag {ref} {repo}:{tag}")


class Inner:
    """The warm cycle's executor: one ok sample per phase, with the scenario it was given."""

    def run_cycle(self, rt: Any, round_no: int, pos: int, warmup: bool, scenario: str = "warm") -> CycleResult:
        base = Place(round=round_no, pos=pos, mode=rt.mode.name, warmup=warmup, scenario=scenario)
        return CycleResult([Sample(**base, phase=p, duration_ns=1000, ok=True, wall_ns=1) for p in PHASES])


class Gone:
    addr = "127.0.0.1:5000"

    def alive(self) -> bool:
        return False


def runtime(api: Api) -> Any:
    mode = Mode(name="runc", role="native", image="isobench/size:10M", command=("x",), exec_command=("y",))
    return SimpleNamespace(mode=mode, client=api, image="isobench/size:10M")


def test_a_first_start_removes_the_image_times_its_pull_then_runs_the_cycle() -> None:
    api = Api()
    images = Images(registry=SimpleNamespace(addr="127.0.0.1:5000"),  # type: ignore[arg-type]
                    refs={"isobench/size:10M": "127.0.0.1:5000/isobench/size:10M"})  # fmt: skip
    result = FirstStartExecutor(Inner(), images).run_cycle(runtime(api), 3, 0, False)
    assert [s.phase for s in result.samples] == [PULL, *PHASES]
    assert {s.scenario for s in result.samples} == {FIRST_START}
    first = result.samples[0]
    assert first.ok and first.detail is not None and first.detail["pull"]["registry"] == "127.0.0.1:5000"
    assert [x["id"] for x in first.detail["pull"]["layers"]] == ["aaa", "bbb"]
    assert api.calls == [
        "inspect isobench/size:10M", "remove sha256:abc force=True", "pull 127.0.0.1:5000/isobench/size:10M",
        "tag 127.0.0.1:5000/isobench/size:10M isobench/size:10M",
    ]  # fmt: skip


def test_a_registry_gone_mid_run_fails_that_pull_with_a_category_then_ends_the_run() -> None:
    images = Images(registry=Gone(), refs={"isobench/size:10M": "127.0.0.1:5000/isobench/size:10M"})  # type: ignore[arg-type]
    executor = FirstStartExecutor(Inner(), images)
    result = executor.run_cycle(runtime(Api(pull_fails=True)), 5, 0, False)
    assert result.samples[0].error == outcomes.REGISTRY_UNAVAILABLE
    assert [s.error for s in result.samples[1:]] == [outcomes.NOT_RUN] * len(PHASES)
    with pytest.raises(RegistryGone, match=r"^the registry 127.0.0.1:5000 stopped answering in round 5"):
        executor.run_cycle(runtime(Api()), 6, 0, False)

    class Scheduler:
        tally, _measured = Tally(), 5

        def run(self) -> Any:
            return executor.run_cycle(runtime(Api()), 6, 0, False)

    outcome = FirstStartUnits(Scheduler()).run()  # type: ignore[arg-type]
    assert outcome.status == "failed" and outcome.stop == outcomes.REGISTRY_UNAVAILABLE
    assert outcome.measured_rounds == 5 and "\n" not in outcome.reason


def test_the_size_executor_marks_each_cycle_with_its_size_and_number() -> None:
    executor = SizeExecutor(Inner(), {"isobench/size:10M": 10.0})
    for expected in (1, 2):
        result = executor.run_cycle(runtime(Api()), 0, 0, False)
        assert {(s.level, s.group, s.level_unit, s.scenario) for s in result.samples} == {(10.0, expected, MIB, SIZE)}


def test_a_first_start_puts_back_the_images_other_tags_after_the_pull() -> None:
    api = Api(tags=("mine/keep:1",))
    images = Images(registry=SimpleNamespace(addr="127.0.0.1:5000"),  # type: ignore[arg-type]
                    refs={"isobench/size:10M": "127.0.0.1:5000/isobench/size:10M"})  # fmt: skip
    FirstStartExecutor(Inner(), images).run_cycle(runtime(api), 0, 0, False)
    assert api.calls[-1] == "tag isobench/size:10M mine/keep:1"


def test_a_pulled_image_that_cannot_be_tagged_keeps_its_pull_sample_and_fails_the_cycle_at_create() -> None:
    images = Images(registry=SimpleNamespace(addr="127.0.0.1:5000"),  # type: ignore[arg-type]
                    refs={"isobench/size:10M": "127.0.0.1:5000/isobench/size:10M"})  # fmt: skip
    result = FirstStartExecutor(Inner(), images).run_cycle(runtime(Api(tag_fails=True)), 0, 0, False)
    assert [s.phase for s in result.samples] == [PULL, *PHASES]
    assert result.samples[0].ok and not result.samples[1].ok
    assert "tagging the pulled image failed" in (result.samples[1].message or "")
    assert all(s.error == outcomes.NOT_RUN for s in result.samples[2:])
