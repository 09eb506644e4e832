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
from bench.engine.registry import Registry
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


class Here:
    """The run's loopback registry, as each engine dials it (bench.engine.registry.Registry.addr_seen_by)."""

    addr = "127.0.0.1:5000"

    def addr_seen_by(self, host_alias: Any) -> Any:
        return Registry(self.addr).addr_seen_by(host_alias)

    def alive(self) -> bool:
        return True


class Gone(Here):
    def alive(self) -> bool:
        return False


def runtime(api: Api, host_alias: str = "127.0.0.1", name: str = "runc") -> Any:
    mode = Mode(name=name, role="native", image="isobench/size:10M", command=("x",), exec_command=("y",))
    endpoint = SimpleNamespace(host_alias=host_alias, base_url=f"engine-{host_alias}")
    return SimpleNamespace(mode=mode, client=api, image="isobench/size:10M", endpoint=endpoint)


# (engine url, reference) -> the image's name in the registry, for the engines runtime() makes
PATHS = {(f"engine-{alias}", "isobench/size:10M"): "isobench/size:10M" for alias in ("127.0.0.1", "10.0.2.2")}


def test_a_first_start_removes_the_image_times_its_pull_then_runs_the_cycle() -> None:
    api = Api()
    images = Images(registry=Here(), paths=dict(PATHS))  # type: ignore[arg-type]
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
    images = Images(registry=Gone(), paths=dict(PATHS))  # type: ignore[arg-type]
    executor = FirstStartExecutor(Inner(), images)
    result = executor.run_cycle(runtime(Api(pull_fails=True)), 5, 0, False)
    assert result.samples[0].error == outcomes.REGISTRY_UNAVAILABLE
    assert [s.error for s in result.samples[1:]] == [outcomes.NOT_RUN] * len(PHASES)
    with pytest.raises(RegistryGone, match=r"^the registry 127.0.0.1:5000 stopped answering in round 5"):
        executor.run_cycle(runtime(Api()), 6, 0, False)

    class Scheduler:
        tally, measured = Tally(), 5

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
    images = Images(registry=Here(), paths=dict(PATHS))  # type: ignore[arg-type]
    FirstStartExecutor(Inner(), images).run_cycle(runtime(api), 0, 0, False)
    assert api.calls[-1] == "tag isobench/size:10M mine/keep:1"


def test_a_pulled_image_that_cannot_be_tagged_keeps_its_pull_sample_and_fails_the_cycle_at_create() -> None:
    images = Images(registry=Here(), paths=dict(PATHS))  # type: ignore[arg-type]
    result = FirstStartExecutor(Inner(), images).run_cycle(runtime(Api(tag_fails=True)), 0, 0, False)
    assert [s.phase for s in result.samples] == [PULL, *PHASES]
    assert result.samples[0].ok and not result.samples[1].ok
    assert "tagging the pulled image failed" in (result.samples[1].message or "")
    assert all(s.error == outcomes.NOT_RUN for s in result.samples[2:])


def test_the_vm_engine_pulls_the_loopback_registry_at_qemus_address_for_the_host() -> None:
    """The VM's engine dials 10.0.2.2 (qemu's user network forwards it to the host's 127.0.0.1); the
    per-layer times and the registry it dialled are in its pull sample as for an engine on this host."""
    api = Api()
    images = Images(registry=Here(), paths=dict(PATHS))  # type: ignore[arg-type]
    result = FirstStartExecutor(Inner(), images).run_cycle(runtime(api, "10.0.2.2", "vm-engine"), 0, 0, False)
    first = result.samples[0]
    assert first.ok and first.detail is not None and first.detail["pull"]["registry"] == "10.0.2.2:5000"
    assert first.detail["pull"]["layers"][1]["extract_ns"] is not None
    assert "pull 10.0.2.2:5000/isobench/size:10M" in api.calls
    assert api.calls[-1] == "tag 10.0.2.2:5000/isobench/size:10M isobench/size:10M"


def test_a_registry_address_as_each_engine_dials_it() -> None:
    here, theirs = Registry("127.0.0.1:5000"), Registry("registry.example:5000")
    assert here.addr_seen_by("127.0.0.1") == "127.0.0.1:5000" and here.addr_seen_by("10.0.2.2") == "10.0.2.2:5000"
    assert here.addr_seen_by(None) is None  # an engine elsewhere cannot reach this host's loopback
    assert theirs.addr_seen_by("10.0.2.2") == theirs.addr_seen_by(None) == "registry.example:5000"


def test_a_registry_gone_in_a_rounds_last_cycle_does_not_count_that_round(tmp_path: Any) -> None:
    """One mode: each round is one cycle, so the failed pull is its round's last cycle and the scheduler
    only meets the gone registry at the next round. The end record still counts the rounds before it."""
    from bench.core.config import RunSettings
    from bench.results.resultset import ResultWriter, read_resultset
    from bench.results.synthetic import header
    from bench.schedule.scheduler import Output, Position, Scheduler, end_record

    class Dying(Api):
        def pull(self, repo: str, tag: str, stream: bool, decode: bool) -> Any:
            self.pull_fails = len([c for c in self.calls if c.startswith("pull")]) >= 2  # the third pull fails
            return super().pull(repo, tag, stream, decode)

    writer = ResultWriter.create(tmp_path / "s.jsonl", header([], run_id="s"))
    executor = FirstStartExecutor(Inner(), Images(registry=Gone(), paths=dict(PATHS)))  # type: ignore[arg-type]
    settings = RunSettings(rounds=5, warmup=1, min_rounds=1, budget_s=None)
    units = FirstStartUnits(Scheduler(settings, [runtime(Dying())], executor, Output(writer), Position(1)), executor)
    outcome = units.run()
    writer.close(end_record(outcome, 0, []))
    rs = read_resultset(tmp_path / "s.jsonl")
    pulls = [s for s in rs.samples if s.phase == PULL]
    assert [(s.round, s.ok) for s in pulls] == [(0, True), (1, True), (2, False)]
    # round 0 is the warm-up, round 1 measured, round 2 ended in the registry's death
    assert rs.end.status == "failed" and rs.end.stop == outcomes.REGISTRY_UNAVAILABLE
    assert rs.end.measured_rounds == 1


class Info(Api):
    def __init__(self, cidrs: list[str]) -> None:
        super().__init__()
        self.cidrs = cidrs

    def info(self) -> dict:
        return {"RegistryConfig": {"InsecureRegistryCIDRs": self.cidrs, "IndexConfigs": {}}}


def test_engines_that_cannot_pull_the_loopback_registry_are_refused_in_one_sentence() -> None:
    from bench.core.errors import UserError
    from bench.scenarios.first_start import _reach

    here = Registry("127.0.0.1:5000")
    with pytest.raises(UserError, match=r"^first-start: mode remote's engine \(engine-None\) has no known way"):
        _reach(None, here, [runtime(Api(), None, "remote")], Images(registry=here))  # type: ignore[arg-type]
    # a VM booted from an image before the registry's network was made insecure for its engine
    with pytest.raises(UserError, match=r"does not accept plain HTTP from 10.0.2.2:5000 .*isobench vm down"):
        vm = runtime(Info(["127.0.0.0/8"]), "10.0.2.2", "vm-engine")
        _reach(None, here, [vm], Images(registry=here))  # type: ignore[arg-type]
    images = Images(registry=here)
    vm = runtime(Info(["10.0.2.0/24"]), "10.0.2.2", "vm-engine")
    ids = _reach(None, here, [vm, runtime(Api())], images)  # type: ignore[arg-type]
    assert images.seen_by == {"vm-engine": "10.0.2.2:5000", "runc": "127.0.0.1:5000"}
    assert set(ids) == {("engine-10.0.2.2", "isobench/size:10M"), ("engine-127.0.0.1", "isobench/size:10M")}


def test_engines_whose_images_of_one_reference_differ_each_pull_their_own() -> None:
    """The VM imports its test image at each boot (another id, the same content): each version is pushed
    once, under a tag of its own, and each engine pulls its own version."""
    from bench.scenarios.first_start import _versions

    vm, runc, runsc = runtime(Api(), "10.0.2.2", "vm-engine"), runtime(Api()), runtime(Api(), name="runsc")
    ref = "isobench/size:10M"
    ids = {("engine-10.0.2.2", ref): "sha256:bbb", ("engine-127.0.0.1", ref): "sha256:aaa"}
    groups = _versions([vm, runc, runsc], ids)  # this host's version first: it keeps the reference's own tag
    assert [(k, [r.mode.name for r in v]) for k, v in groups] == [
        ((ref, "sha256:aaa"), ["runc", "runsc"]), ((ref, "sha256:bbb"), ["vm-engine"])]  # fmt: skip


def test_each_image_is_pushed_from_an_engine_on_this_host_where_one_runs_it() -> None:
    from bench.scenarios.first_start import pushers

    vm, runc = runtime(Api(), "10.0.2.2", "vm-engine"), runtime(Api())
    assert pushers([vm, runc])["isobench/size:10M"] is runc
    assert pushers([vm])["isobench/size:10M"] is vm  # the VM alone: it pushes through its own address


def test_size_max_caps_the_sizes_a_mode_runs() -> None:
    from bench.core.errors import UserError
    from bench.scenarios import parse_config
    from bench.scenarios.size import SizeSettings, settings_of

    table = {"scenario": {"size": {"sizes": ["10M", "100M", "1G"], "size_max": {"vm-engine": "100M"}}}}
    own = settings_of(parse_config(table, "t"))
    assert own.sizes_of("vm-engine") == ("10M", "100M") and own.sizes_of("runc") == ("10M", "100M", "1G")
    assert SizeSettings().sizes_of("vm-engine") == ("10M", "100M", "1G")
    with pytest.raises(UserError, match=r"scenario.size.size_max.vm-engine '100X' is not an image size"):
        parse_config({"scenario": {"size": {"size_max": {"vm-engine": "100X"}}}}, "t")


class Pushing(Info):
    def __init__(self, image_id: str) -> None:
        super().__init__(["10.0.2.0/24"])
        self.image_id = image_id

    def inspect_image(self, ref: str) -> dict:
        self.calls.append(f"inspect {ref}")
        return {"Id": self.image_id, "RepoTags": [ref]}

    def push(self, repo: str, tag: str, stream: bool, decode: bool) -> Any:
        self.calls.append(f"push {repo}:{tag}")
        return iter([{"status": "pushed"}])


def test_prepare_pushes_each_version_once_and_each_engine_pulls_its_own(monkeypatch: Any) -> None:
    from bench.engine import registry as registries
    from bench.scenarios import parse_config
    from bench.scenarios.first_start import prepare

    monkeypatch.setattr(registries, "available", lambda: True)
    monkeypatch.setattr(registries, "start_local", lambda: Registry("127.0.0.1:5000", owned=True))
    ctx = SimpleNamespace(config=parse_config({}, "t"), say=lambda s: None)
    host, guest = Pushing("sha256:" + "a" * 64), Pushing("sha256:" + "b" * 64)
    vm, runc, runsc = runtime(guest, "10.0.2.2", "vm-engine"), runtime(host), runtime(host, name="runsc")
    images = prepare(ctx, [vm, runc, runsc])  # type: ignore[arg-type]
    assert images.registry_ref(runc) == images.registry_ref(runsc) == "127.0.0.1:5000/isobench/size:10M"
    assert images.registry_ref(vm) == "10.0.2.2:5000/isobench/size:10M-bbbbbbbbbbbb"
    assert [c for c in host.calls if c.startswith("push")] == ["push 127.0.0.1:5000/isobench/size:10M"]
    assert [c for c in guest.calls if c.startswith("push")] == ["push 10.0.2.2:5000/isobench/size:10M-bbbbbbbbbbbb"]
    assert images.record()["seen_by"] == {"vm-engine": "10.0.2.2:5000", "runc": "127.0.0.1:5000",
                                          "runsc": "127.0.0.1:5000"}  # fmt: skip


class Absent(Api):
    """An engine that does not hold the image (a 404 on inspect)."""

    def inspect_image(self, ref: str) -> dict:
        self.calls.append(f"inspect {ref}")
        raise type("NotFound", (Exception,), {"status_code": 404})(ref)


def test_put_back_touches_only_engines_preparation_looked_at() -> None:
    """A refusal partway through preparation: engines never looked at are left as they were (no image built
    on them); one that did not hold the image has it removed; one that held it keeps it."""
    from bench.scenarios.first_start import put_back

    held, lacked, unseen = Api(), Absent(), Absent()
    rts = [runtime(held, name="runc"), runtime(lacked, "10.0.2.2", "vm-engine"), runtime(unseen, None, "remote")]
    images = Images()
    images.note_before(rts[0])
    images.note_before(rts[1])
    said: list[str] = []
    put_back(SimpleNamespace(say=said.append), images, rts)  # type: ignore[arg-type]
    assert unseen.calls == [] and said == [], (unseen.calls, said)
    assert "remove isobench/size:10M force=False" in lacked.calls
    assert not any(c.startswith("remove") for c in held.calls)


def test_the_load_fallback_removes_what_it_loaded_where_the_image_was_not(monkeypatch, tmp_path) -> None:
    """No registry binary: each image saved for docker load; the engines that did not hold it are noted, so
    the end removes it there (it is loaded into them before each cycle)."""
    from bench.scenarios.first_start import _save_tarballs

    class Saving(Api):
        def get_image(self, ref: str) -> Any:
            return iter([b"tar"])

    host, vm = Saving(), Absent()
    images = _save_tarballs(
        SimpleNamespace(say=lambda s: None),
        [runtime(host), runtime(vm, "10.0.2.2", "vm-engine")],  # type: ignore[arg-type]
    )
    try:
        assert images.absent_before == {("engine-10.0.2.2", "isobench/size:10M")}
        assert images.present_before == {("engine-127.0.0.1", "isobench/size:10M")}
        assert images.tarballs["isobench/size:10M"].read_bytes() == b"tar"
    finally:
        assert images.folder is not None
        import shutil

        shutil.rmtree(images.folder)


@pytest.mark.parametrize(
    "caps,said",
    [
        ({"vm_engine": "100M"}, r"size_max names 'vm_engine', which is not a mode of this run \(runc, vm-engine\)"),
        ({"runc": "1K"}, r"size_max caps runc at 1K, below every size of the run \(10M, 100M\)"),
    ],
)
def test_a_size_cap_must_name_a_mode_and_leave_it_a_size(caps: dict, said: str) -> None:
    from bench.core.errors import UserError
    from bench.scenarios import parse_config
    from bench.scenarios.size import SCENARIO

    table = {"scenario": {"size": {"sizes": ["10M", "100M"], "size_max": caps}}}
    config = parse_config(table, "t").select(["runc", "vm-engine"])
    with pytest.raises(UserError, match=said):
        SCENARIO.check(config)
    fine = parse_config({"scenario": {"size": {"size_max": {"vm-engine": "100M"}}}}, "t").select(["runc", "vm-engine"])
    SCENARIO.check(fine)
