"""make bench-ab (scripts/bench-ab.sh): sides alternated in time, each side's setup run before each of
its runs, every set listed in the manifest as it finishes, then compared as replicated runs. The runs
are synthetic sets written by a stand-in for `isobench run`; compare is the real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent

STAND_IN = """
import sys, time
from pathlib import Path
if sys.argv[1] != "run":
    from bench.cli import isobench_main
    sys.exit(isobench_main(sys.argv[1:]))
from bench.results.synthetic import DEFAULT_PHASE_MS, SyntheticMode
from bench.schedule.scripted import scripted_run
out = Path(sys.argv[sys.argv.index("--results") + 1])
side = Path(__file__).with_name("side").read_text().strip()
factor = 1.3 if side == "B" else 1.0
phase_ms = {k: v * (factor if k == "start" else 1) for k, v in DEFAULT_PHASE_MS.items()}
modes = [SyntheticMode("runc", "native", phase_ms, 0.03)]
n = len(list(Path(__file__).parent.glob("*.done")))
Path(__file__).with_name(f"{n}.done").touch()
path = scripted_run(out / f"2026010{n}T000000Z_h.jsonl", modes, rounds=30, seed=n)
print(f"  writing {path}")
"""


def test_sides_alternate_in_time_and_are_compared_as_replicated_runs(tmp_path):
    stand_in = tmp_path / "isobench.py"
    stand_in.write_text(STAND_IN)
    launcher = tmp_path / "isobench"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {stand_in} "$@"\n')
    launcher.chmod(0o755)
    order = tmp_path / "order"
    env = dict(
        os.environ,
        RUNS="3",
        OUT=str(tmp_path / "ab"),
        A_SETUP=f"echo A > {tmp_path / 'side'}; echo A >> {order}",
        B_SETUP=f"echo B > {tmp_path / 'side'}; echo B >> {order}",
    )
    proc = subprocess.run(
        ["bash", "scripts/bench-ab.sh", str(launcher), "--mode", "runc"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert order.read_text().split() == ["A", "B"] * 3
    manifest = (tmp_path / "ab" / "manifest").read_text().splitlines()
    assert [line.split()[0] for line in manifest] == ["A", "B"] * 3
    assert "replicated runs: 3 runs" in proc.stdout
    table = pd.read_csv(tmp_path / "ab" / "compare" / "compare.csv")
    startup = table[(table["phase"] == "startup") & table["family"]].iloc[0]
    assert startup["verdict"] == "slower" and startup["method"].startswith("runs")
