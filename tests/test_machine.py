"""machine:NAME endpoints (Docker Toolbox's docker-machine), against a stand-in
`docker-machine` on PATH that answers as the real one does (its `env --shell bash`
exports, `inspect --format`, `ssh NAME cat /etc/version`, `stop`, `start`) in front of a
real TLS dockerd the test starts. The real docker-machine and VirtualBox are not here."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from helpers import TLSDockerd, only_result, read, run_bench, write_config

pytestmark = [pytest.mark.engine, pytest.mark.slow]

FAKE = r"""#!/usr/bin/env bash
# A stand-in docker-machine: output shapes as docker-machine 0.16 prints them.
set -euo pipefail
state={state}
case "$1" in
  env)
    name="${{@: -1}}"
    [ -e "$state/running" ] || {{ echo "Host is not running" >&2; exit 1; }}
    echo 'export DOCKER_TLS_VERIFY="1"'
    echo 'export DOCKER_HOST="{url}"'
    echo 'export DOCKER_CERT_PATH="{certs}"'
    echo "export DOCKER_MACHINE_NAME=\"$name\""
    echo '# Run this command to configure your shell: '
    echo "# eval \$(docker-machine env $name)"
    ;;
  inspect) echo virtualbox ;;
  ssh) echo 19.03.12 ;;
  stop)
    echo "Stopping \"$2\"..."
    if [ -e {pidfile} ]; then
      pid=$(cat {pidfile}); kill -TERM "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$state/running"
    echo "Machine \"$2\" was stopped."
    ;;
  start)
    echo "Starting \"$2\"..."
    setsid {argv} >>"$state/dockerd.log" 2>&1 </dev/null &
    touch "$state/running"
    echo "Started machines may have new IP addresses. You may need to re-run the \`docker-machine env\` command."
    ;;
  *) echo "unknown command $1" >&2; exit 2 ;;
esac
"""


@pytest.fixture(scope="module")
def machine(engine, tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("needs root and dockerd for the engine behind the stand-in docker-machine")
    root = tmp_path_factory.mktemp("machine")
    d = TLSDockerd(root)
    for sub in ("data", "exec"):
        (d.state / sub).mkdir(parents=True, exist_ok=True)
    bindir = root / "bin"
    bindir.mkdir()
    fake = bindir / "docker-machine"
    fake.write_text(
        FAKE.format(state=root, url=d.url, certs=d.certs, pidfile=d.state / "dockerd.pid", argv=" ".join(d.argv()))
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    subprocess.run([str(fake), "start", "toolbox"], check=True, capture_output=True)
    import time

    from bench.core.config import parse_config
    from bench.engine.endpoints import make_client, resolve
    from bench.engine.image import ensure_image

    mode = parse_config({"mode": [{"preset": "runc", "endpoint": d.url, "tls_cert_dir": str(d.certs)}]}, "t").modes[0]
    deadline = time.monotonic() + 60
    while True:
        try:
            ensure_image(make_client(resolve(mode.endpoint_settings), timeout=60))
            break
        except Exception:
            assert time.monotonic() < deadline, (root / "dockerd.log").read_text()[-2000:]
            time.sleep(0.5)
    try:
        yield {"env": env, "root": root, "fake": fake}
    finally:
        subprocess.run([str(fake), "stop", "toolbox"], capture_output=True, timeout=60)
        subprocess.run(["umount", "-R", str(d.state)], capture_output=True)
        shutil.rmtree(d.state, ignore_errors=True)


MODE = '[[mode]]\npreset = "runc"\nname = "toolbox"\nrole = "toolbox"\nendpoint = "machine:toolbox"\n'


def test_a_warm_and_cold_run_through_docker_machine(machine, tmp_path, results):
    cfg = write_config(tmp_path / "b.toml", MODE, rounds=2, warmup=0, scenario="both", cold_rounds=1)
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=300, env=machine["env"])
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    ep = rs.header.modes["toolbox"]["endpoint"]
    assert ep["via"] == "docker-machine" and ep["scheme"] == "tcp+tls" and ep["verify"] is True
    assert ep["machine"] == {"name": "toolbox", "driver": "virtualbox", "boot2docker": "19.03.12"}
    assert rs.header.cold["toolbox"] == {"control": "docker-machine", "machine": "toolbox"}
    cold = [s for s in rs.samples if s.scenario == "cold"]
    assert [s.phase for s in cold][:2] == ["engine_stop", "engine_up"]
    assert all(s.ok for s in rs.samples), [(s.phase, s.message) for s in rs.samples if not s.ok]


def test_a_stopped_machine_is_one_sentence(machine, tmp_path):
    subprocess.run([str(machine["fake"]), "stop", "toolbox"], check=True, capture_output=True, timeout=60)
    try:
        cfg = write_config(tmp_path / "b.toml", MODE)
        proc = run_bench("doctor", "--config", str(cfg), env=machine["env"])
    finally:
        subprocess.run([str(machine["fake"]), "start", "toolbox"], check=True, capture_output=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "docker-machine env toolbox' failed (Host is not running)" in proc.stderr
    assert "docker-machine start toolbox" in proc.stderr


def test_without_docker_machine_the_error_says_what_to_install(tmp_path):
    cfg = write_config(tmp_path / "b.toml", MODE)
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run_bench("doctor", "--config", str(cfg), env={"PATH": f"{empty}:/usr/bin:/bin"})
    assert proc.returncode == 2 and "needs docker-machine on PATH" in proc.stderr
