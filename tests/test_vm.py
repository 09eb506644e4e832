"""The VM-hosted engine (the toolbox role on Linux): up, ping, a full cycle, down, no qemu left.

Slow under TCG (about a minute to boot and a cycle of ~10 s); it still runs in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, only_result, read, run_bench, write_config

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def qemu_pids() -> list[str]:
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64.*isobench|qemu-system-x86_64.*initrd.cpio"],
                         capture_output=True, text=True)
    return out.stdout.split()


def test_vm_engine_up_cycle_down(engine, tmp_path):
    if shutil.which("qemu-system-x86_64") is None or not any(p.startswith("vmlinuz") for p in os.listdir("/boot")):
        if os.environ.get("CI"):
            pytest.fail("qemu or a kernel is missing in CI: make test installs them (scripts/setup-vm.sh)")
        pytest.skip("qemu-system-x86 and linux-image-amd64 are needed")
    up = subprocess.run([sys.executable, "-m", "bench", "vm", "up"], cwd=REPO, capture_output=True, text=True,
                        timeout=600)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "engine ready" in up.stdout or "reusing" in up.stdout
        again = subprocess.run([sys.executable, "-m", "bench", "vm", "up"], cwd=REPO, capture_output=True, text=True,
                               timeout=120)
        assert again.returncode == 0 and "reusing the running VM" in again.stdout
        status = subprocess.run([sys.executable, "-m", "bench", "vm", "status"], cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert status.returncode == 0 and "engine answers" in status.stdout
        # one warm round, then one cold round: the VM powered off and booted again
        cfg = write_config(tmp_path / "b.toml", '[[mode]]\npreset = "vm-engine"\n', rounds=1, warmup=0,
                           scenario="both", cold_rounds=1)
        proc = run_bench("run", "--config", str(cfg), "--results", str(tmp_path / "res"), "--quiet", timeout=600)
        assert proc.returncode == 0, proc.stderr
        rs = read(only_result(tmp_path / "res"))
        rec = rs.header["modes"]["vm-engine"]
        assert rec["role"] == "toolbox" and rec["endpoint"]["scheme"] == "tcp+tls" and rec["endpoint"]["verify"]
        assert rec["endpoint"]["machine"]["accel"] in ("kvm", "tcg") and rec["engine"]["storage_driver"] == "vfs"
        assert rec["ping_rtt_ns"] > 0
        assert rs.end["status"] == "complete" and all(s["ok"] for s in rs.samples), [s for s in rs.samples if not s["ok"]]
        assert rs.header["cold"]["vm-engine"]["control"] == "vm"
        cold = {s["phase"]: s for s in rs.samples if s["scenario"] == "cold"}
        assert list(cold)[:3] == ["engine_stop", "engine_up", "create"]
        up = cold["engine_up"]
        # boot to engine ready: seconds, not milliseconds, whatever the accelerator
        assert up["duration_ns"] > 1e9 and up["detail"]["control"] == "vm"
        # the VM's storage is in memory: the image was imported again, untimed, and said so
        assert up["detail"]["image_loaded"] is True and up["detail"]["image_load_ns"] > 0
        assert len(qemu_pids()) == 1  # the cold boot replaced the VM rather than adding one
    finally:
        down = subprocess.run([sys.executable, "-m", "bench", "vm", "down"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
    assert down.returncode == 0
    assert qemu_pids() == []
