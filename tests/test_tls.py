"""Remote engines over tcp+TLS: a second dockerd started by the tests on 127.0.0.1 with
generated certificates (docker-machine's layout)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.engine.control.vm.certs import make_certs
from helpers import TLSDockerd, only_result, read, run_bench, write_config

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def tls_engine(engine, tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("needs root and dockerd to start a second engine")
    d = TLSDockerd(tmp_path_factory.mktemp("tls")).start()
    try:
        from bench.core.config import parse_config
        from bench.engine.endpoints import make_client, resolve
        from bench.engine.image import ensure_image

        mode = parse_config({"mode": [{"preset": "runc", "endpoint": d.url, "tls_cert_dir": str(d.certs)}]}, "t").modes[
            0
        ]
        ensure_image(make_client(resolve(mode.endpoint_settings), timeout=60))
        yield d
    finally:
        d.stop()


def _mode(url: str, certs: Path, extra: str = "") -> str:
    return (
        f'[[mode]]\npreset = "runc"\nname = "remote"\nrole = "toolbox"\nendpoint = "{url}"\n'
        f'tls_cert_dir = "{certs}"\n{extra}'
    )


def test_a_run_over_verified_tls(tls_engine, tmp_path, results):
    cfg = write_config(tmp_path / "b.toml", _mode(tls_engine.url, tls_engine.certs), rounds=2, warmup=0)
    proc = run_bench("run", "--config", str(cfg), "--results", str(results), "--quiet", timeout=180)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(results))
    rec = rs.header.modes["remote"]
    assert rec["endpoint"]["scheme"] == "tcp+tls" and rec["endpoint"]["verify"] is True
    assert rec["endpoint"]["url"] == f"https://127.0.0.1:{tls_engine.port}"
    assert rec["ping_rtt_ns"] > 0 and rec["version_rtt_ns"] > 0
    assert rs.end.status == "complete" and all(s.ok for s in rs.samples)


def test_a_wrong_ca_is_refused_in_one_sentence(tls_engine, tmp_path):
    other = tmp_path / "other"
    make_certs(other)  # a different CA: neither side trusts the other
    cfg = write_config(tmp_path / "b.toml", _mode(tls_engine.url, other))
    proc = run_bench("doctor", "--config", str(cfg))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "(tls_error)" in proc.stderr and "check tls_cert_dir" in proc.stderr


def test_an_expired_certificate_is_refused(engine, tmp_path):
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("needs root and dockerd")
    d = TLSDockerd(tmp_path / "exp", expired=True).start()
    try:
        cfg = write_config(tmp_path / "b.toml", _mode(d.url, d.certs))
        proc = run_bench("doctor", "--config", str(cfg))
    finally:
        d.stop()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "(tls_error)" in proc.stderr and "expired" in proc.stderr.lower()


def test_plain_tcp_needs_an_explicit_opt_in(tls_engine, tmp_path):
    cfg = write_config(tmp_path / "b.toml", f'[[mode]]\npreset = "runc"\nendpoint = "{tls_engine.url}"\n')
    proc = run_bench("doctor", "--config", str(cfg))
    assert proc.returncode == 2 and "allow_plain_tcp = true to opt in" in proc.stderr


def test_a_certificate_for_another_name_needs_tls_hostname(engine, tmp_path):
    """A certificate issued to a VM's name, reached through a loopback address: refused by
    default (the name does not match), accepted with tls_hostname naming it."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("needs root and dockerd")
    d = TLSDockerd(tmp_path / "named", hosts=("isobench-vm",)).start()
    try:
        from bench.core.config import parse_config
        from bench.engine.endpoints import make_client, resolve
        from bench.engine.image import ensure_image

        mode = parse_config(
            {
                "mode": [
                    {"preset": "runc", "endpoint": d.url, "tls_cert_dir": str(d.certs), "tls_hostname": "isobench-vm"}
                ]
            },
            "t",
        ).modes[0]
        ensure_image(make_client(resolve(mode.endpoint_settings), timeout=60))  # through the override, too
        plain = run_bench("doctor", "--config", str(write_config(tmp_path / "a.toml", _mode(d.url, d.certs))))
        named = run_bench(
            "doctor",
            "--config",
            str(write_config(tmp_path / "b.toml", _mode(d.url, d.certs, 'tls_hostname = "isobench-vm"\n'))),
        )
        wrong = run_bench(
            "doctor",
            "--config",
            str(write_config(tmp_path / "c.toml", _mode(d.url, d.certs, 'tls_hostname = "other-vm"\n'))),
        )
    finally:
        d.stop()
    assert plain.returncode == 2 and "(tls_error)" in plain.stderr and "Traceback" not in plain.stderr
    assert "127.0.0.1" in plain.stderr  # the mismatch names the address it checked
    assert wrong.returncode == 2 and "(tls_error)" in wrong.stderr
    # doctor gets as far as the engine: it answers, over TLS verified against the VM's name
    assert "(tls_error)" not in named.stderr, named.stderr
    assert "remote" in named.stdout and "SKIP" not in named.stdout, named.stdout + named.stderr


def test_a_docker_context_is_resolved(tls_engine, tmp_path):
    """`docker context create` (the Docker CLI's own store), used as context:NAME and as DOCKER_CONTEXT."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        pytest.skip("needs the docker CLI to create a context")
    cfg_dir = tmp_path / "docker-config"
    cfg_dir.mkdir()
    (cfg_dir / "config.json").write_text("{}")
    c = tls_engine.certs
    env = {"DOCKER_CONFIG": str(cfg_dir)}
    subprocess.run(
        [
            docker_cli,
            "context",
            "create",
            "isobench-ctx",
            "--docker",
            f"host={tls_engine.url},ca={c / 'ca.pem'},cert={c / 'cert.pem'},key={c / 'key.pem'}",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )
    by_name = run_bench(
        "doctor",
        "--config",
        str(
            write_config(
                tmp_path / "a.toml", '[[mode]]\npreset = "runc"\nname = "ctx"\nendpoint = "context:isobench-ctx"\n'
            )
        ),
        env=env,
    )
    assert by_name.returncode == 0, by_name.stderr
    assert "ctx" in by_name.stdout and "SKIP" not in by_name.stdout
    by_env = run_bench(
        "doctor",
        "--config",
        str(write_config(tmp_path / "b.toml", '[[mode]]\npreset = "runc"\nname = "ctx"\nendpoint = "env"\n')),
        env={**env, "DOCKER_CONTEXT": "isobench-ctx", "DOCKER_HOST": ""},
    )
    assert by_env.returncode == 0, by_env.stderr
    missing = run_bench(
        "doctor",
        "--config",
        str(write_config(tmp_path / "c.toml", '[[mode]]\npreset = "runc"\nname = "ctx"\nendpoint = "context:nope"\n')),
        env=env,
    )
    assert missing.returncode == 2 and "there is no Docker context 'nope'" in missing.stderr
