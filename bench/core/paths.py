"""Every path the project uses, from one place."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "bench.toml"
DEFAULT_RESULTS = REPO_ROOT / "results"
CLAIMS_FILE = REPO_ROOT / "claims.toml"


def safe_name(text: str) -> str:
    """A file-name-safe form of a host name or version string."""
    cleaned = re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-")
    return cleaned or "unknown"


def host_results_dir(results_dir: Path, hostname: str) -> Path:
    """Results are filed by machine (as asv does) so sets from two hosts never mix."""
    return results_dir / safe_name(hostname)


def report_dir_for(result_file: Path) -> Path:
    """``results/<host>/<set>.jsonl`` -> ``results/<host>/<set>.report/``."""
    return result_file.with_suffix(".report")


# The VM engine's state: pid, port, certificates, boot image, console log.
VM_DIR = REPO_ROOT / "build" / "vm"
