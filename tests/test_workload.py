"""Workloads: the config (`[[workload]]`, probes, crossing), the probes inside `ready`, and the workload as
part of a mode's identity in compare."""

from __future__ import annotations

import time

import pytest

from analysis.compare import KEY_MODE_METADATA, refusal
from bench.core.config import Config, parse_config
from bench.core.errors import UserError
from bench.core.outcomes import BadOutput
from bench.core.watchdog import Abandoned, PhaseClock
from bench.core.workload import HTTP_VIA, Probe
from bench.measure.probes import ProbeState, probe_detail, wait_exec, wait_log
from bench.results.records import Header

WEB = {
    "name": "web",
    "image": "isobench/busybox:latest",
    "command": ["/bin/sh", "-c", "httpd -f -p 8080"],
    "ready": {"probe": "http", "port": 8080, "path": "/health"},
}
LOG = {"name": "quiet", "image": "isobench/busybox:latest", "command": ["/bin/sh", "-c", "echo up"],
       "ready": {"probe": "log", "pattern": "^up$"}}  # fmt: skip


def config(workloads: list, mode_workload: object) -> Config:
    return parse_config({"workload": workloads, "mode": [{"preset": "runc", "workload": mode_workload}]}, "t.toml")


def test_a_mode_names_one_workload_and_takes_its_image_command_and_probe() -> None:
    (mode,) = config([WEB], "web").modes
    assert mode.name == "runc"
    assert mode.image == WEB["image"] and list(mode.command) == WEB["command"]
    assert mode.workload is not None and mode.workload.probe.kind == "http"
    assert (
        "GET /health HTTP/1.0" in mode.workload.probe.argv()[-1] and "127.0.0.1 8080" in mode.workload.probe.argv()[-1]
    )
    assert mode.workload.probe.command == HTTP_VIA


def test_a_list_crosses_the_mode_with_each_workload() -> None:
    modes = config([WEB, LOG], ["web", "quiet"]).modes
    assert [m.name for m in modes] == ["runc@web", "runc@quiet"]
    assert [m.workload.name for m in modes if m.workload] == ["web", "quiet"]
    assert modes[1].workload and modes[1].workload.probe == Probe("log", pattern="^up$")


def test_the_workload_survives_the_header_round_trip() -> None:
    cfg = config([WEB, LOG], ["web", "quiet"])
    assert Config.from_record(cfg.to_record()).modes == cfg.modes


def test_without_a_workload_the_mode_is_as_before() -> None:
    (mode,) = parse_config({"mode": [{"preset": "runc"}]}, "t.toml").modes
    assert mode.workload is None and mode.to_record()["workload"] is None


@pytest.mark.parametrize(
    "ready, words",
    [
        ({"probe": "grpc"}, "ready.probe is 'grpc': use one of log, exec, tcp, http"),
        ({"probe": "tcp", "port": 0}, "ready.port is 0: give the container's port, a whole number from 1 to 65535"),
        ({"probe": "http", "port": 65536}, "ready.port is 65536"),
        ({"probe": "tcp"}, "ready.port is None"),
        ({"probe": "exec"}, "ready.command must be a non-empty list"),
        ({"probe": "exec", "command": ["/bin/true"], "interval_s": 0}, "ready.interval_s is 0"),
        ({"probe": "log", "pattern": "("}, "ready.pattern is not a regular expression"),
        ({"probe": "log", "port": 80}, "ready.port is not a key of a log probe"),
        ({"probe": "http", "port": 80, "path": "health"}, "ready.path is 'health'"),
        ({"probe": "http", "port": 80, "path": "/a b'"}, "(no spaces or quotes)"),
    ],
)
def test_bad_probes_are_one_sentence(ready: dict, words: str) -> None:
    with pytest.raises(UserError) as err:
        config([{**WEB, "ready": ready}], "web")
    text = str(err.value)
    assert words in text and text.startswith("t.toml: workload 'web' ") and text.count("\n") == 0


def test_unknown_workload_names_and_keys_are_refused() -> None:
    with pytest.raises(UserError, match="names workload 'db', which is not defined: use one of web"):
        config([WEB], "db")
    with pytest.raises(UserError, match=r"workload\[0\].ports is not a workload key"):
        config([{**WEB, "ports": 1}], "web")
    with pytest.raises(UserError, match="'web' is used twice"):
        config([WEB, WEB], "web")
    with pytest.raises(UserError, match='cycle = "run" and a workload'):
        parse_config({"workload": [WEB], "mode": [{"preset": "runc", "workload": "web", "cycle": "run",
                                                    "run_command": ["/bin/true"]}]}, "t.toml")  # fmt: skip


class Frames:
    """An attach stream: each chunk one multiplexed frame (stdout), then end of stream."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = [b"\x01\0\0\0" + len(c).to_bytes(4, "big") + c for c in chunks]

    def recv(self, n: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


def test_the_log_probe_reads_lines_until_one_matches() -> None:
    state = ProbeState(Probe("log", pattern=r"listening on :\d+"))
    wait_log(Frames(b"starting\nloading ", b"config\nlistening on :80", b"80\n"), state)
    assert state.polls == 3 and state.last == "listening on :8080"
    assert probe_detail(state) == {"probe": {"kind": "log", "what": r"log /listening on :\d+/", "polls": 3,
                                             "cost_ns": None, "last": "listening on :8080"}}  # fmt: skip


def test_a_log_probe_whose_output_ends_names_the_probe_and_the_last_line() -> None:
    state = ProbeState(Probe("log"))
    with pytest.raises(BadOutput, match=r"probe log /\^ready\$/ after 2 poll\(s\), last answer 'still booting'"):
        wait_log(Frames(b"booting\nstill booting"), state)


class Engine:
    """exec_create/start/inspect answering the scripted exit codes in turn (None: the engine refuses)."""

    def __init__(self, codes: list) -> None:
        self.codes, self.argv = list(codes), None

    def exec_create(self, cid: str, argv: list, **_: object) -> dict:
        if self.codes and self.codes[0] is None:
            self.codes.pop(0)
            raise RuntimeError("container not running")
        self.argv = argv
        return {"Id": "e1"}

    def exec_start(self, exec_id: str) -> bytes:
        return b"wget: can't connect to remote host: Connection refused\n"

    def exec_inspect(self, exec_id: str) -> dict:
        return {"ExitCode": self.codes.pop(0)}


def test_the_exec_probe_polls_until_exit_0_and_records_its_cost() -> None:
    probe = Probe("http", command=HTTP_VIA, port=8080, path="/", interval_s=0.01)
    state, engine = ProbeState(probe), Engine([None, 1, 1, 0])
    t0 = time.perf_counter()
    wait_exec(engine, "cid", state, PhaseClock())
    assert state.polls == 4 and state.last == "exit 0"
    assert engine.argv == list(HTTP_VIA[:3]) + [HTTP_VIA[3].replace("{path}", "/").replace("{port}", "8080")]
    assert 0 < state.cost_ns < (time.perf_counter() - t0) * 1e9
    assert time.perf_counter() - t0 >= 3 * 0.01  # the interval between polls


def test_an_exec_probe_keeps_its_last_answer_and_stops_once_abandoned() -> None:
    state, clock = ProbeState(Probe("exec", command=("/bin/false",), interval_s=0.01)), PhaseClock()
    clock.abandon()
    with pytest.raises(Abandoned):
        wait_exec(Engine([1]), "cid", state, clock)
    assert state.polls == 0
    clock2 = PhaseClock()

    class Stopping(Engine):
        def exec_inspect(self, exec_id: str) -> dict:
            if state.polls == 3:  # the watchdog gives up during the third poll
                clock2.abandon()
            return {"ExitCode": 2}

    with pytest.raises(Abandoned):
        wait_exec(Stopping([]), "cid", state, clock2)
    assert state.polls == 3
    assert state.summary() == ("probe exec ['/bin/false'] after 3 poll(s), last answer "
                               "\"exit 2: wget: can't connect to remote host: Connection refused\"")  # fmt: skip


def test_compare_treats_the_workload_as_part_of_the_mode() -> None:
    assert "workload" in KEY_MODE_METADATA
    rec = config([WEB], "web").modes[0].to_record()["workload"]
    text = refusal({"modes.runc.workload": [rec, None]}, [])
    assert "modes.runc.workload: workload 'web' (isobench/busybox:latest, ready by http) vs no workload" in text
    assert text.endswith("or pass --force.")


def test_a_history_keeps_a_modes_sets_of_different_workloads_in_series_of_their_own() -> None:
    import pandas as pd

    from analysis.identity import with_workload_names

    frame = pd.DataFrame({"mode": pd.Categorical(["runc", "runsc", "runc@web"]), "x": [1, 2, 3]})
    modes = {"runc": {"workload": {"name": "web"}}, "runsc": {"workload": None},
             "runc@web": {"workload": {"name": "web"}}}  # fmt: skip
    header = Header(schema="isobench-results", version=5, run_id="r", host={}, modes=modes)
    assert list(with_workload_names(frame, header)["mode"]) == ["runc@web", "runsc", "runc@web"]
    assert with_workload_names(frame, header.but(modes={})) is frame


def test_a_scenario_that_reads_only_the_ready_line_refuses_a_workload_in_one_sentence() -> None:
    from bench import scenarios
    from bench.scenarios.base import refuse_workloads

    with_workload = config([WEB], "web")
    for name in ("burst", "rate", "density", "scale", "service"):
        with pytest.raises(
            UserError, match=rf"^--scenario {name} judges readiness .* mode runc \(web\) runs a workload"
        ):
            refuse_workloads(scenarios.get(name), with_workload)
    for name in ("warm", "first-start", "size"):
        refuse_workloads(scenarios.get(name), with_workload)
    refuse_workloads(scenarios.get("burst"), parse_config({"mode": [{"preset": "runc"}]}, "t.toml"))
