"""The harness image: a minimal Debian with python3 and isobench's wheel, built locally from Debian's
packages (mmdebstrap) and PyPI's wheels at the versions this venv runs, so two builds from the same
inputs give the same root filesystem tarball (mtimes clamped to SOURCE_DATE_EPOCH, no .pyc files).

No registry is involved: the tarball is `docker import`ed on the first node and `docker save | docker
load`ed onto the others, so every node holds the very same image id (an import stamps the time into
the config; the layer's diff id is what stays the same from build to build). Only what the harness
needs in the task is installed (`python -m bench run`: no pandas, matplotlib or statsmodels).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

from bench.core.errors import UserError
from bench.core.paths import REPO_ROOT

BUILD_DIR = REPO_ROOT / "build" / "fleet"
REF = "isobench/harness:fleet"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# 2026-01-01T00:00:00Z: every file of the image gets this mtime, so the tarball is reproducible.
SOURCE_DATE_EPOCH = 1767225600
# The third-party packages `python -m bench run` imports (precision: numpy, scipy), with theirs.
WHEELS = (
    "docker",
    "requests",
    "urllib3",
    "idna",
    "charset-normalizer",
    "certifi",
    "orjson",
    "rich",
    "markdown-it-py",
    "mdurl",
    "Pygments",
    "cryptography",
    "cffi",
    "pycparser",
    "numpy",
    "scipy",
    "pyperf",
    "psutil",
)
ENTRYPOINT = '["python3", "-m", "bench.fleet.task"]'
BUILD_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class HarnessImage:
    """What every host's header records of the image its harness ran in."""

    ref: str
    id: str  # the image id on the nodes (the same on all: loaded from one save)
    layer: str  # the root filesystem layer's diff id: the same for every build from the same inputs
    tarball_sha256: str
    inputs: str  # the hash of the build inputs (packages, wheels, suite): the tarball's cache key
    packages: tuple[str, ...]

    def record(self) -> dict[str, object]:
        return asdict(self)


def pinned() -> list[str]:
    """The wheels at the versions this interpreter runs: the image's harness is the local one."""
    pins = []
    for name in WHEELS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise UserError(f"{name} is not installed in this venv: run `make setup` first.") from None
    return pins


def _run(argv: list[str], timeout: float, env: Optional[dict[str, str]] = None) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UserError(f"{argv[0]} is not installed: apt-get install {argv[0]}, then run the fleet again.") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"{' '.join(argv[:3])} did not finish within {timeout:.0f} s: check the network.") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(f"{' '.join(argv[:3])} failed ({lines[-1] if lines else proc.returncode}).")
    return proc.stdout


def harness_wheels(out: Path) -> list[Path]:
    """isobench's own wheel (built from this tree) and its runtime wheels from PyPI (or pip's cache): what the
    harness image holds, and what the Ansible carrier copies to each host's venv."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    own = out / "own"
    own.mkdir(exist_ok=True)
    for old in own.glob("*.whl"):
        old.unlink()
    _run([*pip, "wheel", "--no-deps", "-w", str(own), str(REPO_ROOT)], 300, env)
    deps = out / "deps"
    _run([*pip, "download", "--only-binary=:all:", "--no-deps", "-d", str(deps), *pinned()], 300, env)
    pins = {p.split("==")[0].lower().replace("-", "_"): p.split("==")[1] for p in pinned()}
    chosen = [w for w in deps.glob("*.whl") if pins.get(w.name.split("-")[0].lower()) == w.name.split("-")[1]]
    return sorted(own.glob("*.whl")) + sorted(chosen)


def _inputs_hash(wheels: list[Path]) -> str:
    h = hashlib.sha256()
    for part in (SUITE, MIRROR, str(SOURCE_DATE_EPOCH), ENTRYPOINT):
        h.update(part.encode() + b"\0")
    for w in wheels:
        h.update(w.name.encode() + b"\0" + hashlib.sha256(w.read_bytes()).digest())
    return h.hexdigest()[:16]


def build_rootfs(say: Callable[[str], None]) -> tuple[Path, str]:
    """The root filesystem tarball (cached by the hash of its inputs) and that hash."""
    wheels = harness_wheels(BUILD_DIR / "wheels")
    key = _inputs_hash(wheels)
    tar = BUILD_DIR / f"harness-{key}.tar"
    if tar.exists():
        return tar, key
    stage = BUILD_DIR / "stage"
    stage.mkdir(parents=True, exist_ok=True)
    for old in stage.glob("*.whl"):
        old.unlink()
    for w in wheels:
        (stage / w.name).write_bytes(w.read_bytes())
    site = "usr/local/lib/python3.11/dist-packages"
    # mmdebstrap clamps what dpkg unpacks; the clamp below does the same for what pip wrote (only there:
    # /proc and /sys are mounted in the tree while hooks run).
    # pip of this venv installs into the image's tree (same Python 3.11 ABI as Debian 12's python3);
    # --no-compile: .pyc files would carry build-time stamps; the clamp makes every mtime the epoch.
    install = (
        f"{sys.executable} -m pip --disable-pip-version-check -q install --no-deps --no-index --no-compile "
        f'--target "$1/{site}" {stage}/*.whl'
    )
    clamp = f'find "$1/usr/local" -newermt @{SOURCE_DATE_EPOCH} -print0 | xargs -0r touch -h -d @{SOURCE_DATE_EPOCH}'
    partial = tar.with_suffix(".partial")
    say(f"  building the harness image's root filesystem ({SUITE}, python3, {len(wheels)} wheels)")
    started = time.monotonic()
    _run(
        [
            "mmdebstrap",
            "--variant=essential",
            "--include=python3,ca-certificates,libstdc++6",
            "--format=tar",
            f"--customize-hook={install}",
            '--customize-hook=rm -rf "$1"/var/cache/* "$1"/var/log/*',
            f"--customize-hook={clamp}",
            SUITE,
            str(partial),
            MIRROR,
        ],  # fmt: skip
        BUILD_TIMEOUT_S,
        {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)},
    )
    partial.rename(tar)
    say(f"  root filesystem built in {time.monotonic() - started:.0f} s: {tar.name}")
    return tar, key


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _docker(endpoint: str, *args: str, timeout: float = 300.0, stdin: Optional[int] = None) -> str:
    return _run(["docker", "-H", endpoint, *args], timeout)


def load_onto(endpoints: dict[str, str], say: Callable[[str], None]) -> HarnessImage:
    """Builds (or reuses) the tarball, imports it on the first endpoint and copies the image to the rest.
    ``endpoints``: node name -> engine endpoint reachable from here."""
    tar, key = build_rootfs(say)
    names = list(endpoints)
    first = endpoints[names[0]]
    _docker(first, "import", "--change", f"ENTRYPOINT {ENTRYPOINT}", "--change", "WORKDIR /", str(tar), REF)
    saved = BUILD_DIR / "harness-image.tar"
    _docker(first, "save", "-o", str(saved), REF)
    try:
        for name in names[1:]:
            _docker(endpoints[name], "load", "-q", "-i", str(saved))
    finally:
        saved.unlink(missing_ok=True)
    info = json.loads(_docker(first, "image", "inspect", REF))[0]
    ids = {name: _docker(ep, "image", "inspect", "-f", "{{.Id}}", REF).strip() for name, ep in endpoints.items()}
    if len(set(ids.values())) != 1:
        raise UserError(f"the harness image differs between nodes ({ids}): run the fleet again.")
    packages = tuple(w.name for w in sorted((BUILD_DIR / "stage").glob("*.whl")))
    return HarnessImage(REF, info["Id"], info["RootFS"]["Layers"][0], sha256_file(tar), key, packages)


def remove_from(endpoints: dict[str, str]) -> list[str]:
    """Removes the image from every node that answers; returns the nodes where it could not be removed."""
    left = []
    for name, ep in endpoints.items():
        try:
            _docker(ep, "image", "rm", "-f", REF, timeout=60)
        except UserError as exc:
            if "No such image" not in str(exc):
                left.append(name)
    return left
