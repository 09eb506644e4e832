"""A real registry for first starts: Debian's `docker-registry` (the Distribution registry, 2.8) that a run
starts on a loopback port with its own config and temporary storage, and stops on every exit path
(`close`: the process ended, its storage removed). A user's own registry (`registry = "host:port"`) is
only used, never started or cleaned (isobench pushes its images there under `isobench-first-start/`).

Engines treat 127.0.0.0/8 registries as insecure (plain HTTP) by default, so no TLS is set up; the
registry answers only on loopback.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bench.core.errors import UserError

BINARY = "docker-registry"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 2.0
CONFIG = """version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: {deletes}
http:
  addr: {addr}
health:
  storagedriver:
    enabled: false
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# No proxy: the probe goes straight to the registry (a host's http_proxy must not carry loopback traffic).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(addr: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Does the registry at ``addr`` answer its API root (GET /v2/, plain HTTP)?"""
    try:
        with _DIRECT.open(f"http://{addr}/v2/", timeout=timeout) as r:
            return bool(r.status == 200)
    except Exception:  # noqa: BLE001 - any failure is "does not answer"
        return False


@dataclass
class Registry:
    """Where images are pulled from: ``addr`` (host:port). ``owned``: started by this run (and so
    stopped, its storage removed, by ``close``)."""

    addr: str
    owned: bool = False
    process: Optional[subprocess.Popen[bytes]] = None
    root: Optional[Path] = None
    log: Optional[Path] = None
    closed: bool = field(default=False)

    def ref(self, image: str) -> str:
        """The registry's name for a local reference: ``isobench/size:10M`` -> ``127.0.0.1:P/isobench/size:10M``."""
        return f"{self.addr}/{image}"

    @property
    def on_loopback(self) -> bool:
        host = self.addr.rsplit(":", 1)[0]
        return host == "localhost" or host.startswith("127.") or host == "[::1]"

    def addr_seen_by(self, host_alias: Optional[str]) -> Optional[str]:
        """The registry's address as an engine dials it, given the address at which that engine reaches this
        host's loopback (bench.engine.endpoints.Endpoint.host_alias: 127.0.0.1 here, 10.0.2.2 in the qemu VM).
        A registry elsewhere is the same address for every engine; one on loopback is unreachable (None) from
        an engine that has no way to this host's loopback."""
        if not self.on_loopback:
            return self.addr
        if host_alias is None:
            return None
        return f"{host_alias}:{self.addr.rsplit(':', 1)[1]}"

    def alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            return False
        return answers(self.addr)

    def record(self) -> dict[str, object]:
        return {"source": "registry", "registry": self.addr, "started_by_run": self.owned,
                "software": "docker-registry (Distribution 2.8)" if self.owned else None}  # fmt: skip

    def close(self) -> None:
        """Stops the registry this run started and removes its storage; idempotent, every exit path."""
        if self.closed:
            return
        self.closed = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


MANIFESTS = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
))  # fmt: skip


def delete_image(addr: str, path: str, timeout: float = 10.0) -> Optional[str]:
    """Deletes ``path`` (``name:tag``) from the registry at ``addr`` through its API (plain HTTP, as the run
    pushed it): HEAD the tag's manifest for its digest, then DELETE the manifest by digest. None: deleted (or
    already gone); else why it stayed (a registry that does not allow deletes answers 405)."""
    name, _, tag = path.rpartition(":")
    try:
        head = urllib.request.Request(f"http://{addr}/v2/{name}/manifests/{tag}", method="HEAD",
                                      headers={"Accept": MANIFESTS})  # fmt: skip
        with _DIRECT.open(head, timeout=timeout) as r:
            digest = r.headers.get("Docker-Content-Digest")
        if not digest:
            return "the registry gave no Docker-Content-Digest for it"
        with _DIRECT.open(urllib.request.Request(f"http://{addr}/v2/{name}/manifests/{digest}", method="DELETE"),
                          timeout=timeout):  # fmt: skip
            return None
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 405:
            return "the registry does not allow deletes (405: storage.delete.enabled is off)"
        return f"the registry answered {exc.code} {exc.reason}"
    except Exception as exc:  # noqa: BLE001 - unreachable, timed out: said, not raised (every exit path)
        return f"the registry did not answer ({exc})"


def available() -> bool:
    return shutil.which(BINARY) is not None


def start_local(deletes: bool = True) -> Registry:
    """A registry on a free loopback port with storage in a new temporary folder, once it answers.
    ``deletes=False``: one that refuses DELETE (405), as many users' registries do (the tests' stand-in)."""
    root = Path(tempfile.mkdtemp(prefix="isobench-registry-"))
    addr = f"127.0.0.1:{_free_port()}"
    (root / "config.yml").write_text(CONFIG.format(root=root / "storage", addr=addr, deletes=str(deletes).lower()))
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own config
            [BINARY, "serve", str(root / "config.yml")], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    reg = Registry(addr, owned=True, process=process, root=root, log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not answers(addr, 0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                words = log.read_text(errors="replace").strip()[-300:]
                raise UserError(
                    f"the local registry ({BINARY} on {addr}) did not come up within {START_TIMEOUT_S:g} s "
                    f"({words or 'no output'}): check that {BINARY} runs (scripts/setup-registry.sh installs it)."
                )
            time.sleep(0.05)
    except BaseException:  # a stop signal during the wait too: its own session never sees the Ctrl-C
        reg.close()
        raise
    return reg


def users(addr: str) -> Registry:
    """The user's own registry (``registry = "host:port"``): checked to answer, never started or stopped."""
    if not answers(addr, 5.0):
        raise UserError(
            f"the registry {addr} (the config's [scenario.first-start] registry) does not answer GET http://{addr}/v2/ "
            "(a plain-HTTP registry is needed): start it, or remove that key to let the run start its own on loopback."
        )
    return Registry(addr)
