"""Helpers the tests share: running the CLI as a user does, configs, reading sets, the host's dockerd,
and a second dockerd over TLS. Fixtures stay in conftest.py; tests import these directly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import pytest

from bench.engine.control.vm.certs import make_certs
from bench.results.resultset import read_resultset

REPO = Path(__file__).resolve().parent.parent
IMAGE = "isobench/busybox:latest"


def run_bench(
    *args: str, timeout: float = 300, check: bool = False, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess:
    """`python -m bench ...` as a user runs it (``env``: variables to set on top of ours)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def ignore_sigint() -> None:
    """As a background job of a non-interactive shell (CI runners, nohup, `setsid bash -c '... &'`)
    starts a process: SIGINT inherited as ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def popen_bench(*args: str, sigint_ignored: bool = False) -> subprocess.Popen:
    """`python -m bench ...` started in the background, its output piped, for a test that acts on it
    while it runs (signals, a second run, an engine stopped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint if sigint_ignored else None,
    )


def popen_run(cfg: Path, results: Path, *extra: str, sigint_ignored: bool = False) -> subprocess.Popen:
    """`bench run` of ``cfg`` into ``results``, quiet, in the background (``extra``: more options)."""
    return popen_bench(
        "run", "--config", str(cfg), "--results", str(results), "--quiet", *extra, sigint_ignored=sigint_ignored
    )


def wait_for_lines(results: Path, n: int, timeout: float = 60) -> Path:
    """The run's file once it holds ``n`` lines (the header and n-1 samples)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list(results.rglob("*.jsonl"))
        if files and sum(1 for _ in open(files[0])) >= n:
            return files[0]
        time.sleep(0.05)
    pytest.fail(f"the run wrote fewer than {n} lines within {timeout} s")


@contextmanager
def killed_if_running(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """A background run does not outlive the block that drives it, whatever fails inside."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def write_config(path: Path, body: str, **run: object) -> Path:
    settings = {"rounds": 3, "warmup": 1, "min_rounds": 1, "budget_s": 120}
    settings.update(run)
    lines = ["[run]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n\n" + textwrap.dedent(body))
    return path


def only_result(results: Path) -> Path:
    files = sorted(results.rglob("*.jsonl"))
    assert len(files) == 1, files
    return files[0]


def labelled_containers(client, run_id: Optional[str] = None) -> list:
    sel = f"isobench.run={run_id}" if run_id else "isobench.run"
    return client.containers(all=True, filters={"label": sel})


HOST_DOCKERD_PIDFILE = Path("/var/run/docker.pid")


def host_dockerd_pid() -> Optional[int]:
    """The host's own dockerd, by its pid file: other dockerds on this machine (the TLS test engine,
    swarm nodes) are never signalled by the tests that stop or reload the host's."""
    try:
        pid = int(HOST_DOCKERD_PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def read(path: Path):
    return read_resultset(path)


def lost_samples(rs) -> int:
    """Phase samples missing from cycles that reached the file (each cycle is written whole,
    so anything but 0 means a cycle was torn), plus end-record counts the file cannot back."""
    from collections import Counter

    from bench.core.phases import PHASES

    per_cycle = Counter((s.round, s.mode) for s in rs.samples if s.phase in PHASES)
    torn = sum(len(PHASES) - n for n in per_cycle.values() if n < len(PHASES))
    missing = 0
    if rs.end and rs.end.counts and not rs.resumes:
        on_disk = Counter((s.mode, s.phase) for s in rs.samples if not s.warmup)
        for mode, phases in rs.end.counts.items():
            for phase, c in phases.items():
                if phase in PHASES:
                    missing += max(0, c["ok"] + c["failed"] - on_disk[(mode, phase)])
    return torn + missing


# Shell commands for engine_stop_cmd / engine_start_cmd: the host's dockerd only, by its pid file.
STOP_HOST_DOCKERD = (
    "p=$(cat /var/run/docker.pid 2>/dev/null) && kill -TERM $p; "
    'while [ -n "$p" ] && kill -0 $p 2>/dev/null; do sleep 0.1; done'
)


def stop_process_group(proc: Optional[subprocess.Popen]) -> None:
    """A test's own daemon (started with start_new_session): TERM to its group, KILL after 30 s."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def stop_dockerd(timeout: float = 30) -> None:
    pid = host_dockerd_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while host_dockerd_pid() == pid:
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.2)


def start_dockerd() -> None:
    """The same start-up make test uses (scripts/setup-engine.sh)."""
    subprocess.run(["bash", str(REPO / "scripts" / "setup-engine.sh"), sys.executable], check=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TLSDockerd:
    def __init__(self, root: Path, expired: bool = False, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
        self.root = root
        self.certs = root / "certs"
        make_certs(self.certs, expired=expired, hosts=hosts)
        self.port = _free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        # short paths: unix socket paths under the exec root must stay under 108 bytes
        self.state = Path(f"/tmp/isb-{self.port}")
        self.proc: Optional[subprocess.Popen] = None

    def argv(self) -> list[str]:
        c = self.certs
        return [
            "dockerd",
            "-H",
            self.url,
            "--tlsverify",
            f"--tlscacert={c / 'ca.pem'}",
            f"--tlscert={c / 'server-cert.pem'}",
            f"--tlskey={c / 'server-key.pem'}",
            f"--data-root={self.state / 'data'}",
            f"--exec-root={self.state / 'exec'}",
            f"--pidfile={self.state / 'dockerd.pid'}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--storage-driver=vfs",
        ]

    def start(self, wait: bool = True) -> "TLSDockerd":
        for d in ("data", "exec"):
            (self.state / d).mkdir(parents=True, exist_ok=True)
        self.log = open(self.root / "dockerd.log", "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", self.port)) == 0:
                        return self
                assert self.proc.poll() is None, (self.root / "dockerd.log").read_text()[-2000:]
                time.sleep(0.3)
            raise AssertionError("the TLS dockerd did not listen within 60 s")
        return self

    def stop(self) -> None:
        stop_process_group(self.proc)
        subprocess.run(["umount", "-R", str(self.state)], capture_output=True)
        shutil.rmtree(self.state, ignore_errors=True)


def run_leased(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`isobench run`, waiting while another engineer's run holds the engine's lease: two runs on
    one engine would distort each other, and the tests using this compare timings."""
    deadline = time.monotonic() + timeout
    while True:
        proc = run_bench(*args, "--quiet", timeout=timeout)
        if proc.returncode == 0 or "leased by another isobench run" not in proc.stderr or time.monotonic() > deadline:
            assert proc.returncode == 0, proc.stderr
            return proc
        time.sleep(5)


def run_analysis(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def header_image(path: Path, mode: str) -> dict:
    return json.loads(path.read_text().splitlines()[0])["modes"][mode]["image"]


def compare_without_force(a: Path, b: Path, mode: str, out: Path):
    """Asserts that a pair whose image was imported again (same content, new id) compares without
    --force, and returns its table (a pandas DataFrame)."""
    import pandas as pd

    ia, ib = header_image(a, mode), header_image(b, mode)
    assert ia["id"] != ib["id"] and ia["content"] == ib["content"], (ia, ib)
    assert ia["build"]["reproducible"] is True and ib["build"]["reproducible"] is True
    proc = run_analysis("compare", a, b, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "differ in key metadata" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert "imported again, not changed" in proc.stdout
    return pd.read_csv(out / "compare.csv")


def set_format(path: Path) -> tuple[set, dict]:
    """A set's format: its header's keys, and per record type the keys its records carry (the fleet's carriers
    are held to a local run's with this)."""
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    kinds: dict[str, set] = {}
    for rec in lines[1:]:
        kinds.setdefault(rec["type"], set()).update(rec)
    return set(lines[0]), kinds


SSHD = "/usr/sbin/sshd"


def sshd_missing() -> Optional[str]:
    """Why a private sshd cannot run here (None: it can)."""
    if os.geteuid() != 0 or not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        return "needs root, sshd and ssh-keygen (make test installs openssh-server)"
    return None


@contextmanager
def private_sshd(root: Path) -> Iterator[dict]:
    """A real sshd on a loopback port with generated keys, for root with a key and a known_hosts of its own
    (the user's own ~/.ssh is never read: callers give their ssh a HOME of ``home``). Yields url, port, home,
    key, known_hosts, log; stopped (its process group) on every exit path."""
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (root / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    port = _free_port()
    host_pub = (root / "host_key.pub").read_text().split()
    known = home / ".ssh" / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    cfg = root / "sshd_config"
    cfg.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'host_key'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                f"PidFile {root / 'sshd.pid'}",
                "SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ]
        )
        + "\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    log = root / "sshd.log"
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "sshd did not listen within 20 s"
            time.sleep(0.1)
        yield {
            "url": f"ssh://root@127.0.0.1:{port}",
            "port": port,
            "home": str(home),
            "key": key,
            "known_hosts": known,
            "log": log,
        }
    finally:
        stop_process_group(proc)
