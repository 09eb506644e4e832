"""scripts/runtimes.py: the planted runtimes go into daemon.json and come out again, leaving what others
registered and removing a daemon.json that only existed for them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "runtimes.py"


@pytest.fixture
def runtimes(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("isobench_runtimes_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "DAEMON_JSON", tmp_path / "daemon.json")
    monkeypatch.setattr(mod, "PID_FILE", tmp_path / "no-such.pid")
    listed: list[list[str]] = []
    monkeypatch.setattr(mod, "_listed", lambda names: listed.append(names) or True)
    mod.listed = listed
    return mod


def test_add_then_remove_keeps_the_others(runtimes, tmp_path):
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}, "debug": True}))
    state = tmp_path / "state"
    assert runtimes.main(["add", str(state), "plant-a=/x/a.sh", "plant-b=/x/b.sh"]) == 0
    cfg = json.loads(daemon.read_text())
    assert cfg["runtimes"]["plant-a"] == {"path": "/x/a.sh"} and "runsc" in cfg["runtimes"]
    assert runtimes.listed == [["plant-a", "plant-b"]]
    assert runtimes.main(["add", str(state), "plant-a=/x/a.sh", "plant-b=/x/b.sh"]) == 0
    assert len(runtimes.listed) == 1  # already registered: no reload, no wait
    cfg["runtimes"]["other"] = {"path": "/y"}  # another script registers one meanwhile
    daemon.write_text(json.dumps(cfg))
    assert runtimes.main(["remove", str(state), "plant-a", "plant-b"]) == 0
    assert json.loads(daemon.read_text()) == {
        "runtimes": {"runsc": {"path": "/usr/bin/runsc"}, "other": {"path": "/y"}},
        "debug": True,
    }


def test_a_daemon_json_made_for_the_plant_is_removed(runtimes, tmp_path):
    state = tmp_path / "state"
    assert runtimes.main(["add", str(state), "plant-a=/x/a.sh"]) == 0
    assert (tmp_path / "daemon.json").exists()
    assert runtimes.main(["remove", str(state), "plant-a"]) == 0
    assert not (tmp_path / "daemon.json").exists()


def test_a_runtime_dockerd_never_lists_fails(runtimes, monkeypatch, tmp_path):
    monkeypatch.setattr(runtimes, "_listed", lambda names: False)
    monkeypatch.setattr(runtimes.time, "sleep", lambda s: None)
    assert runtimes.main(["add", str(tmp_path / "s"), "plant-a=/x/a.sh"]) == 1


def test_usage(runtimes):
    assert runtimes.main(["sideways"]) == 2


def test_a_daemon_json_that_does_not_parse_is_one_line(runtimes, tmp_path, capsys):
    (tmp_path / "daemon.json").write_text("{not json")
    assert runtimes.main(["add", str(tmp_path / "s"), "plant-a=/x/a.sh"]) == 1
    assert "is not valid JSON" in capsys.readouterr().err
