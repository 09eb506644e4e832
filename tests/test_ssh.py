"""ssh:// endpoints (docker-py over paramiko, `docker system dial-stdio` on the far side),
against a real sshd the test starts on a loopback port with generated keys, in front of
the local engine. The user's own ~/.ssh is never read: the runs get a HOME of their own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, only_result, read, run_bench, write_config

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def sshd(engine, loopback_sshd):
    pytest.importorskip("paramiko", reason="ssh:// needs paramiko (pip install -e '.[ssh]')")
    if shutil.which("docker") is None:
        pytest.skip("the far side of ssh:// runs `docker system dial-stdio`: needs the docker CLI")
    return loopback_sshd


def _mode(url: str) -> str:
    return f'[[mode]]\npreset = "runc"\nname = "over-ssh"\nrole = "toolbox"\nendpoint = "{url}"\n'


def test_a_run_over_ssh(sshd, tmp_path, results):
    cfg = write_config(tmp_path / "b.toml", _mode(sshd["url"]), rounds=2, warmup=0)
    proc = run_bench(
        "run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=240, env={"HOME": sshd["home"]}
    )
    assert proc.returncode == 0, proc.stderr + sshd["log"].read_text()[-2000:]
    rs = read(only_result(results))
    rec = rs.header.modes["over-ssh"]
    assert rec["endpoint"]["scheme"] == "ssh" and rec["endpoint"]["url"] == sshd["url"]
    # the transport's own cost is measured beside the results
    assert rec["ping_rtt_ns"] > 0 and len(rec["ping_samples_ns"]) == 5
    assert rs.end.status == "complete"
    assert [s.phase for s in rs.samples if s.round == 0] == ["create", "start", "ready", "exec", "stop", "remove"]
    assert all(s.ok for s in rs.samples), [s.message for s in rs.samples if not s.ok]


def test_an_unknown_host_key_is_refused_in_one_sentence(sshd, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(Path(sshd["home"]) / ".ssh" / "id_ed25519", home / ".ssh" / "id_ed25519")
    # no known_hosts: paramiko's RejectPolicy (docker-py's choice) must refuse the host
    cfg = write_config(tmp_path / "b.toml", _mode(sshd["url"]))
    proc = run_bench("doctor", "--config", str(cfg), timeout=120, env={"HOME": str(home)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "over-ssh" in proc.stderr and "not found in known_hosts" in proc.stderr


def test_without_paramiko_ssh_says_what_to_install(tmp_path):
    """The optional dependency is blocked from import, as on a host without it."""
    cfg = write_config(tmp_path / "b.toml", _mode("ssh://root@127.0.0.1:22"))
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'paramiko':\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from bench.cli import main\n"
        f"sys.exit(main(['doctor', '--config', {str(cfg)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "install paramiko to enable ssh:// endpoints" in proc.stderr
