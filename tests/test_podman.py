"""The engine drivers without an engine: the registry, what Podman answers differently from dockerd (each
classified, never a traceback), preflight's refusal of a runtime the compat API would ignore, the
presets' ulimits, Podman's event and process names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docker
import pytest
import requests

from bench.core import outcomes
from bench.core.config import ENGINE_KINDS, Mode, parse_config
from bench.core.errors import UserError
from bench.engine import memory, sweep
from bench.engine.control.restart import control_for
from bench.engine.drivers import DRIVERS, driver_for
from bench.engine.endpoints import Endpoint
from bench.engine.events import EventCollector


def _api_error(status: int, text: str, cls: type = docker.errors.APIError) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return cls(f"{status} Server Error", response=response, explanation=text)


def _mode(**kw: object) -> Mode:
    fields: dict = {"name": "m", "role": "native", "image": "isobench/busybox:latest", "command": ("sh",),
                    "exec_command": ("true",), **kw}  # fmt: skip
    return Mode(**fields)


def test_every_engine_kind_a_config_accepts_has_a_driver():
    assert set(DRIVERS) == set(ENGINE_KINDS)
    for kind, driver in DRIVERS.items():
        assert driver.kind == kind and driver_for(kind) is driver


# (what Podman 4.3's compat API answered on this machine, status, category)
PODMAN_ANSWERS = [
    (
        "runc: runc create failed: unable to start container process: error during container init: error setting "
        "rlimits for ready process: error setting rlimit type 6: operation not permitted: OCI permission denied",
        500,
        outcomes.RUNTIME_ERROR,
    ),
    (
        "cannot remove container 648ad6733f32 as it could not be stopped: sending SIGKILL to container 648ad6733f32: "
        "container state improper: stopped",
        500,
        outcomes.STATE_CONFLICT,
    ),
    ("no such image: docker.io/nope/none:latest: image not known", 404, outcomes.IMAGE_NOT_FOUND),
    ('no container with name or ID "nonexistent" found: no such container', 404, outcomes.NOT_FOUND),
    ("crun: cannot set memory limit: cgroup v1 hybrid not supported", 500, outcomes.RUNTIME_ERROR),
    ("the option IpcMode=shareable is not supported by podman", 400, outcomes.API_UNSUPPORTED),
    ("endpoint not implemented", 501, outcomes.API_UNSUPPORTED),
]


@pytest.mark.parametrize("text,status,category", PODMAN_ANSWERS)
def test_podmans_answers_are_classified_with_its_words_kept(text, status, category):
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    got, message = driver_for("podman").classify(_api_error(status, text, cls))
    assert got == category and message == text
    assert driver_for("podman").advice(category)


def test_the_rlimit_failure_says_how_to_fix_it():
    advice = driver_for("podman").advice(outcomes.RUNTIME_ERROR) or ""
    assert "ulimits" in advice and "nproc 32768" in advice


def test_podmans_rules_do_not_change_dockers_categories():
    exc = _api_error(500, "container state improper: stopped")
    assert driver_for("docker").classify(exc)[0] == outcomes.API_ERROR
    both = _api_error(500, "OCI runtime create failed: no space left on device")
    assert driver_for("podman").classify(both)[0] == driver_for("docker").classify(both)[0] == outcomes.ENGINE_DISK_FULL


def test_a_dead_service_socket_is_engine_unavailable():
    exc = requests.exceptions.ConnectionError(FileNotFoundError(2, "No such file or directory"))
    assert driver_for("podman").classify(exc)[0] == outcomes.ENGINE_UNAVAILABLE


def test_preflight_refuses_a_runtime_the_compat_api_would_ignore():
    podman = driver_for("podman")
    refusal = podman.check_mode(_mode(engine="podman", runtime="runsc"), {"DefaultRuntime": "runc"})
    assert refusal is not None and refusal.category == outcomes.RUNTIME_UNKNOWN
    assert "ignores a container's runtime" in refusal.reason and "--runtime runsc" in refusal.reason
    assert podman.check_mode(_mode(engine="podman", runtime="runc"), {"DefaultRuntime": "runc"}) is None


def test_the_header_says_what_podman_lacks():
    lacks = driver_for("podman").offers.lacking()
    assert lacks == ["runtime_per_container", "isolation", "services"]
    assert driver_for("docker").offers.lacking() == []
    record = driver_for("podman").offers.record()
    assert record["events"]["offered"] and "remove" in record["events"]["how"]
    assert record["memory"]["offered"] and "conmon" in record["memory"]["how"]


def test_podman_presets_name_their_engine_and_ulimits():
    config = parse_config({}, "test", host_os="linux").select(["runc", "podman-runc", "podman-runsc"])
    by_name = {m.name: m for m in config.modes}
    assert by_name["runc"].engine == "docker" and by_name["runc"].ulimits == {}
    for name, runtime in (("podman-runc", "runc"), ("podman-runsc", "runsc")):
        mode = by_name[name]
        assert (mode.engine, mode.runtime, mode.endpoint) == ("podman", runtime, "local")
        assert mode.ulimits == {"nofile": (20000, 20000), "nproc": (32768, 32768)}
        assert mode.to_record()["ulimits"] == {"nofile": [20000, 20000], "nproc": [32768, 32768]}


@pytest.mark.parametrize(
    "mode,fix",
    [
        ({"preset": "runc", "engine": "containerd"}, "engine"),
        ({"preset": "runc", "ulimits": {"nofile": [10, 5]}}, "soft <= hard"),
        ({"preset": "runc", "ulimits": {"nofiles": [1, 1]}}, "did you mean 'nofile'"),
    ],
)
def test_bad_engine_settings_are_one_sentence(mode, fix):
    with pytest.raises(UserError) as err:
        parse_config({"mode": [mode]}, "bench.toml", host_os="linux")
    assert fix in str(err.value) and "\n" not in str(err.value)


def test_create_request_carries_the_modes_ulimits():
    from bench.engine.spec import create_kwargs

    client = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    kwargs = create_kwargs(client, _mode(ulimits={"nproc": (32768, 32768), "nofile": (20000, 20000)}), "img", "r")
    assert kwargs["host_config"]["Ulimits"] == [
        {"Name": "nofile", "Soft": 20000, "Hard": 20000},
        {"Name": "nproc", "Soft": 32768, "Hard": 32768},
    ]
    assert "Ulimits" not in create_kwargs(client, _mode(), "img", "r")["host_config"]


def test_no_dockerd_restart_for_a_podman_mode():
    control, why = control_for(_mode(engine="podman"), Endpoint("unix:///run/x.sock", "unix"))
    assert control is None and "only Docker engines" in why
    at = Endpoint("unix:///run/x.sock", "unix")
    control, why = driver_for(_mode(engine="podman")).control(_mode(engine="podman"), at)
    assert control is None and "engine_stop_cmd" in why
    own = _mode(engine="podman", engine_stop_cmd=("true",), engine_start_cmd=("true",))
    control, _ = driver_for(own).control(own, at)
    assert control is not None and control.kind == "command"


def test_podmans_remove_event_ends_a_cycle_as_destroy():
    collector = EventCollector(lambda: None, "isobench.run=x")  # type: ignore[arg-type,return-value]
    for action, t in (("create", 1), ("init", 2), ("start", 3), ("die", 4), ("cleanup", 5), ("remove", 6)):
        collector._record({"Action": action, "id": "c1", "timeNano": t})
    assert collector.take("c1", wait_s=0) == {"create": 1, "start": 3, "die": 4, "destroy": 6}


def test_conmon_is_a_containers_monitor_but_not_an_exec_sessions():
    table = {
        10: (1, "conmon", ["/usr/bin/conmon", "-c", "cid1", "-u", "cid1", "-r", "/usr/sbin/runc"]),
        11: (10, "sh", ["/bin/sh"]),
        12: (1, "conmon", ["/usr/bin/conmon", "-c", "cid1", "-u", "exec9", "--exec-attach", "-e"]),
        20: (1, "containerd-shim-runc-v2", ["containerd-shim-runc-v2", "-namespace", "moby", "-id", "cid2"]),
        21: (20, "sh", ["/bin/sh"]),
    }
    trees = memory.container_trees(["cid1", "cid2"], table)
    assert sorted(trees["cid1"]) == [10, 11] and sorted(trees["cid2"]) == [20, 21]


def test_sweep_asks_again_when_podman_is_still_cleaning_up():
    assert sweep._in_progress(_api_error(500, "cannot remove container x: container state improper: stopped"))
    assert sweep._in_progress(_api_error(409, "removal of container x is already in progress"))
    assert not sweep._in_progress(_api_error(500, "driver failed"))


def test_a_set_is_named_by_every_engine_kind_it_ran_on(tmp_path: Path) -> None:
    from bench.run import result_path

    when = dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.timezone.utc)
    engines = [("docker", "20.10.24+dfsg1"), ("podman", "4.3.1"), ("docker", "20.10.24+dfsg1")]
    both = result_path(tmp_path, "h", engines, when)
    assert both.name == "20261202T130000Z_h_docker-20.10.24+dfsg1+podman-4.3.1.jsonl"
    assert result_path(tmp_path, "h", [("podman", "")], when).name == "20261202T130000Z_h_podman-unknown.jsonl"
