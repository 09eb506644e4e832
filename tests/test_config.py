"""Config parsing: presets, overrides, and one clear sentence for every mistake."""

from __future__ import annotations

import pytest

from bench.core.config import Config, load_config, parse_config
from bench.core.errors import UserError
from helpers import REPO, run_bench


def test_default_config_uses_host_presets():
    cfg = load_config(REPO / "bench.toml")
    assert [m.name for m in cfg.modes] == ["runc", "runsc", "vm-engine"]
    assert cfg.modes[2].role == "toolbox" and cfg.modes[2].endpoint == "vm"
    runsc = cfg.modes[1]
    assert runsc.role == "hyperv" and runsc.runtime == "runsc" and runsc.isolation == "default"
    assert cfg.run.rounds >= cfg.run.min_rounds >= 30


def test_windows_presets_pass_isolation_and_long_timeouts():
    cfg = parse_config({}, "t", host_os="windows")
    by = {m.name: m for m in cfg.modes}
    assert by["process"].isolation == "process" and by["process"].role == "native"
    assert by["hyperv"].isolation == "hyperv" and by["hyperv"].timeouts.start >= 120
    assert by["hyperv"].read_only is False


def test_a_mode_overrides_its_preset():
    cfg = parse_config({"mode": [{"preset": "runc", "name": "slow", "timeouts": {"start": 7}, "stop_grace_s": 2}]}, "t")
    m = cfg.modes[0]
    assert (m.name, m.runtime, m.timeouts.start, m.timeouts.create, m.stop_grace_s) == ("slow", "runc", 7.0, 30.0, 2)


def test_select_picks_modes_and_names_unknown_ones():
    cfg = parse_config({}, "t", host_os="linux")
    assert [m.name for m in cfg.select(["runsc"]).modes] == ["runsc"]
    with pytest.raises(UserError, match="choose one of runc, runsc, vm-engine"):
        cfg.select(["nope"])


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"run": {"rounds": 0}}, "run.rounds must be greater than 0"),
        ({"run": {"rounds": "ten"}}, "run.rounds must be a whole number"),
        ({"run": {"rounz": 3}}, "did you mean 'rounds'"),
        ({"run": {"rounds": 5, "min_rounds": 9}}, "min_rounds (9) is more than run.rounds (5)"),
        ({"mode": []}, "must list at least one mode"),
        ({"mode": [{"preset": "nope"}]}, "preset is 'nope'"),
        ({"mode": [{"name": "x"}]}, "has no image"),
        ({"mode": [{"preset": "runc", "isolation": "vm"}]}, "use one of default, process, hyperv"),
        ({"mode": [{"preset": "runc", "endpoint": "http://x"}]}, "use local, env, vm, unix://PATH"),
        ({"mode": [{"preset": "runc"}, {"preset": "runc"}]}, "two modes are named 'runc'"),
        ({"mode": [{"preset": "runc", "command": "echo ready"}]}, "must be a list of strings"),
        ({"mode": [{"preset": "runc", "timeouts": {"start": -1}}]}, "timeouts.start must be greater than 0"),
        ({"mode": "runc"}, "must list at least one mode"),
        ({"run": {"cold_rounds": 0}}, "run.cold_rounds must be greater than 0"),
        ({"mode": [{"preset": "runc", "engine_stop_cmd": ["true"]}]}, "sets engine_stop_cmd but not engine_start_cmd"),
        (
            {"mode": [{"preset": "runc", "engine_start_cmd": "systemctl start docker"}]},
            "engine_start_cmd must be a list of strings",
        ),
        ({"mode": [{"preset": "runc", "timeouts": {"engine_up": 0}}]}, "timeouts.engine_up must be greater than 0"),
    ],
)
def test_mistakes_name_the_key(data, fragment):
    with pytest.raises(UserError) as info:
        parse_config(data, "my.toml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("my.toml")


def test_bad_config_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nrounds = = 3\n")
    proc = run_bench("run", "--config", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not valid TOML" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_bench("doctor", "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_config_record_round_trips_to_json():
    import json

    cfg: Config = parse_config({}, "t", host_os="linux")
    assert json.loads(json.dumps(cfg.to_record()))["modes"][0]["command"][0] == "/bin/sh"


def test_tls_hostname_needs_a_tls_endpoint():
    from bench.engine.endpoints import resolve

    mode = parse_config({"mode": [{"preset": "runc", "tls_hostname": "vm"}]}, "t").modes[0]
    with pytest.raises(UserError, match="tls_hostname is set but unix:///var/run/docker.sock is not a TLS endpoint"):
        resolve(mode.endpoint_settings)


def test_engine_control_is_chosen_from_the_endpoint_or_says_why_not():
    from bench.engine.control.restart import CommandControl, DockerMachineControl, VmControl, control_for
    from bench.engine.endpoints import Endpoint

    def mode(**kw):
        return parse_config({"mode": [{"preset": "runc", **kw}]}, "t").modes[0]

    remote = Endpoint("https://10.0.0.5:2376", "tcp+tls")
    control, why = control_for(mode(endpoint="tcp://10.0.0.5:2376", tls_cert_dir="/x"), remote)
    assert control is None and "set engine_stop_cmd and engine_start_cmd" in why and "10.0.0.5" in why
    control, _ = control_for(
        mode(endpoint="tcp://10.0.0.5:2376", tls_cert_dir="/x", engine_stop_cmd=["a"], engine_start_cmd=["b"]), remote
    )
    assert isinstance(control, CommandControl) and control.record() == {
        "control": "command",
        "stop": ["a"],
        "start": ["b"],
    }
    assert isinstance(control_for(mode(endpoint="machine:default"), remote)[0], DockerMachineControl)
    assert isinstance(control_for(mode(endpoint="vm"), remote)[0], VmControl)
