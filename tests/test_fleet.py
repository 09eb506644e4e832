"""The fleet (issue 21) without an engine: frames, the host's set as records arrive, the plan's one-sentence
refusals, the Windows request shapes against the Windows stand-in, and the fleet report's statistics on
synthetic hosts (one with a planted delay). The real swarm run is tests/test_fleet_swarm.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.fleet import analyse
from bench.fleet import frames, jobspec, plan
from bench.fleet.sink import HostSink
from bench.fleet.swarmjob import Job, SwarmCarrier
from bench.results.resultset import read_resultset
from bench.results.synthetic import PHASES, SyntheticMode, bulk_synthetic


def _lines(messages: list[dict]) -> list[str]:
    return [line for seq, m in enumerate(messages) for line in frames.encode(seq, m)]


def test_frames_round_trip_split_and_refuse_damage() -> None:
    big = {"type": "sample", "detail": {"blob": "x" * 40_000}}
    lines = _lines([{"fleet": "start", "file": "a.jsonl"}, big])
    assert all(len(line.encode()) < 16 * 1024 for line in lines) and len(lines) == 5
    dec = frames.Decoder()
    got = [m for m in (dec.feed(line) for line in ["progress 1/3", *lines]) if m]
    assert got == [{"fleet": "start", "file": "a.jsonl"}, big] and dec.chatter == ["progress 1/3"]
    damaged = lines[1].replace("x", "y", 1)  # same length, wrong checksum
    dec = frames.Decoder()
    assert [dec.feed(line) for line in [lines[0], damaged, *lines[2:]]][-1] is None
    assert dec.bad_frames >= 1


def _header(host: str) -> dict:
    from bench.results.synthetic import header

    return header([SyntheticMode("runc", "native", {p: 10.0 for p in PHASES})], host={"hostname": host}).to_json()


def _sample(r: int) -> dict:
    from bench.results.records import Sample

    return Sample(
        round=r, pos=0, mode="runc", phase="create", duration_ns=5, ok=True, warmup=False, wall_ns=1
    ).to_json()


def test_sink_writes_the_set_as_it_arrives_and_ends_a_cut_off_one(tmp_path: Path) -> None:
    sink = HostSink("isb-a", tmp_path, {"carrier": "swarm-job", "image": {"id": "sha256:1"}})
    sink.feed(_lines([{"fleet": "start", "file": "t_isb-a.jsonl"}, _header("isb-a"), _sample(0), _sample(1)]))
    out = sink.finish("node isb-a went down mid-run")
    rs = read_resultset(tmp_path / "isb-a" / "t_isb-a.jsonl")
    assert out.status == "interrupted" and len(rs.samples) == 2
    assert rs.end is not None and rs.end.status == "interrupted" and "went down" in rs.end.reason
    assert rs.header.fleet["image"]["id"] == "sha256:1"
    whole = HostSink("isb-b", tmp_path, {})
    end = {"type": "end", "status": "complete", "reason": "rounds"}
    whole.feed(
        _lines([{"fleet": "start", "file": "t.jsonl"}, _header("isb-b"), _sample(0), end, {"fleet": "exit", "code": 0}])
    )
    assert whole.done and whole.finish("-").status == "complete"


def _host(name: str, **kw) -> plan.Host:
    base = dict(node_id=name + "-id", os="linux", state="ready", availability="active", engine_version="20.10")
    return plan.Host(name=name, **{**base, **kw})


def test_plan_refuses_in_one_sentence_each_and_the_others_go_on() -> None:
    hosts = [
        _host("a", runtimes=("runc",)),
        _host("b", runtimes=("runc", "runsc")),
        _host("c", state="down"),
        _host("w", os="windows", build=14393),
    ]
    p = plan.choose(hosts, ("a", "b", "c", "w", "nosuch"), ("runsc",), windows_image_build=17763)
    reasons = {s.host: s.reason for s in p.skipped}
    assert [h.name for h in p.hosts] == ["b"]
    assert "no host named 'nosuch'" in reasons["nosuch"]
    assert "has no runsc runtime, which mode runsc needs" in reasons["a"]
    assert "is down" in reasons["c"]
    assert "runs Windows build 14393 but the harness image was built for 17763" in reasons["w"]
    assert all(r.count(". ") == 0 and r.endswith(".") for r in reasons.values())
    assert plan.choose(hosts[:2]).modes == {"a": ("runc",), "b": ("runc", "runsc")}


def test_windows_request_shapes() -> None:
    npipe = jobspec.job_spec(_host("w", os="windows", build=17763), "img", "f" * 32, [], {})
    spec = npipe["TaskTemplate"]["ContainerSpec"]
    assert spec["Mounts"] == [
        {"Type": "npipe", "Source": r"\\.\pipe\docker_engine", "Target": r"\\.\pipe\docker_engine"}
    ]
    assert spec["Isolation"] == "process"
    old = jobspec.job_spec(_host("w", os="windows", build=14393), "img", "f" * 32, [], {}, ["s1", "s2", "s3"])
    spec = old["TaskTemplate"]["ContainerSpec"]
    assert spec["Mounts"] == [] and "DOCKER_HOST=tcp://{{.Node.Hostname}}:2376" in spec["Env"]
    assert [s["SecretName"] for s in spec["Secrets"]] == ["ca.pem", "cert.pem", "key.pem"]
    assert old["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert old["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
    assert old["TaskTemplate"]["LogDriver"]["Name"] == "json-file"


def test_windows_stand_in_rejects_the_task_and_the_host_is_named(tmp_path: Path) -> None:
    import docker

    from fake_windows_engine import FakeWindowsEngine, WindowsHost

    with FakeWindowsEngine(
        WindowsHost(swarm=True, task_error="hcsshim: the container operating system does not match")
    ) as eng:
        carrier = SwarmCarrier(
            lambda: docker.APIClient(base_url=eng.url, version="1.41", timeout=5), tmp_path, {}, print
        )
        host = _host("WINHOST", node_id="winnode1", os="windows", build=17763)
        spec = jobspec.job_spec(host, "isobench/harness:win-1809", "f" * 32, [], {})
        out = carrier.run_one(Job(host, spec, 20.0), {"carrier": "swarm-job"})
        sent = next(iter(eng.services.values()), None)
        carrier.close()
    assert out.status == "none" and "node WINHOST rejected the harness task" in out.reason
    assert sent is None  # the fleet removed its service


def test_a_harness_image_not_matching_a_windows_build_is_one_sentence_and_the_others_go_on(tmp_path: Path) -> None:
    """The whole `fleet run` against a Windows swarm (the stand-in): the manager's own node, whose engine this
    fleet reaches, runs build 14393 and is left out before any task is made; a worker, whose build cannot be
    known from here, gets its job, and the stand-in rejects it as a Windows engine rejects an image of another
    build: both are one sentence naming the fix, and the worker was tried after the manager was left out."""
    import subprocess
    import sys

    from fake_windows_engine import OS_MISMATCH, FakeWindowsEngine, WindowsHost

    windows = WindowsHost(build=14393, swarm=True, workers=("WINWORKER",), task_error=OS_MISMATCH.format(cid="3a5c"))
    with FakeWindowsEngine(windows) as eng:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "isobench"), "fleet", "run", "--manager", eng.url,
             "--image", "isobench/harness:win-1809", "--windows-image-build", "17763", "--results", str(tmp_path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        left = list(eng.services)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    (refused,) = [x for x in lines if x.startswith("WINHOST: ")]
    assert refused == (
        "WINHOST: node WINHOST runs Windows build 14393 but the harness image was built for 17763, and a "
        "process-isolated task must match its host's build: build the harness image for nanoserver:sac2016 "
        "(see docs/fleet.md)."
    ), proc.stdout
    (rejected,) = [x for x in lines if x.startswith("WINWORKER: none")]
    assert "node WINWORKER rejected the harness task (container 3a5c" in rejected, rejected
    assert rejected.endswith("build it for the node's build (see docs/fleet.md) and pass it with --image"), rejected
    assert lines.index(refused) < lines.index(rejected) and left == []
    manifest = json.loads(next((tmp_path / "fleet").glob("*.json")).read_text())
    assert [s["host"] for s in manifest["skipped"]] == ["WINHOST"]
    assert [(h["host"], h["status"]) for h in manifest["hosts"]] == [("WINWORKER", "none")]


def _synthetic_host(folder: Path, name: str, modes: list[SyntheticMode], seed: int) -> Path:
    path = folder / name / f"20261202T000000Z_{name}_docker-20.10.jsonl"
    path.parent.mkdir(parents=True)
    bulk_synthetic(path, modes, samples=6 * 60 * len(modes), seed=seed)
    lines = path.read_text().splitlines()
    head = json.loads(lines[0])
    head["host"] = {**head["host"], "hostname": name, "kernel": "6.1", "virtualisation_hint": "hypervisor"}
    path.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    return path


def test_report_names_the_planted_host_and_keeps_the_mode_effect(tmp_path: Path) -> None:
    runc = SyntheticMode("runc", "native", {"create": 20, "start": 100, "ready": 1, "exec": 5, "stop": 5, "remove": 5})
    slow = SyntheticMode("runc", "native", {**runc.phase_ms, "create": 70})  # +50 ms on create
    runsc = SyntheticMode("runsc", "hyperv", {**runc.phase_ms, "start": 200})
    _synthetic_host(tmp_path, "isb-manager", [runc], 1)
    _synthetic_host(tmp_path, "isb-worker-runc", [slow], 2)
    _synthetic_host(tmp_path, "isb-worker-runsc", [runc, runsc], 3)
    fleet = analyse(tmp_path)
    outliers = [s for s in fleet.shifts if s.outlier]
    assert [s.host for s in outliers] == ["isb-worker-runc"] and outliers[0].attribution == "host"
    assert fleet.model is not None and fleet.model.host_share > 0.5
    (eff,) = fleet.model.effects
    assert eff.mode == "runsc" and eff.verdict == "inconclusive" and eff.hosts == 1
    assert set(fleet.per_mode["host"]) == {"isb-manager", "isb-worker-runc", "isb-worker-runsc"}


def test_a_mode_on_every_host_gets_compares_verdict_from_the_mixed_model(tmp_path: Path) -> None:
    phases = {"create": 20, "start": 100, "ready": 1, "exec": 5, "stop": 5, "remove": 5}
    runc = SyntheticMode("runc", "native", phases)
    slower = SyntheticMode("runsc", "hyperv", {**phases, "start": 200})
    same = SyntheticMode("runsc", "hyperv", phases)
    for seed, name in enumerate(("h1", "h2", "h3")):
        _synthetic_host(tmp_path / "slower", name, [runc, slower], seed)
        _synthetic_host(tmp_path / "same", name, [runc, same], seed + 10)
    for folder, verdict in (("slower", "slower"), ("same", "equivalent")):
        model = analyse(tmp_path / folder).model
        assert model is not None
        (eff,) = model.effects
        assert eff.hosts == 3 and eff.verdict == verdict, (folder, eff)
        assert eff.ci_low <= eff.ratio <= eff.ci_high
        assert (eff.ci_low > 1.05) == (verdict == "slower") and (eff.ci_high <= 1.05) == (verdict == "equivalent")


def test_fleet_report_bad_folder_is_one_sentence(tmp_path: Path) -> None:
    from analysis.fleet_report import write_fleet_report
    from bench.core.errors import UserError

    with pytest.raises(UserError, match="is not a results folder"):
        write_fleet_report(tmp_path / "nope")
