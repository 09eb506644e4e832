"""Windows paths, against a server that answers as a Windows engine (tests/fake_windows_engine.py),
and the build/image compatibility rules."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.core.config import parse_config
from bench.core.errors import UserError
from bench.engine import windows
from bench.engine.endpoints import resolve
from bench.engine.preflight import check_mode
from fake_windows_engine import FakeWindowsEngine, WindowsHost
from helpers import only_result, read, run_bench, write_config

MODES = """
[[mode]]
preset = "process"
endpoint = "{url}"
allow_plain_tcp = true
timeouts = {{ create = 10, start = 10, ready = 10, exec = 10, stop = 10, remove = 10, ping = 5 }}

[[mode]]
preset = "hyperv"
endpoint = "{url}"
allow_plain_tcp = true
timeouts = {{ create = 10, start = 10, ready = 10, exec = 10, stop = 10, remove = 10, ping = 5 }}
"""


def run_against(engine: FakeWindowsEngine, tmp_path, rounds: int = 3, modes: str = MODES):
    cfg = write_config(tmp_path / "w.toml", modes.format(url=engine.url), rounds=rounds, warmup=0)
    proc = run_bench("run", "--config", str(cfg), "--results", str(tmp_path / "res"), "--quiet", timeout=120)
    return proc


def test_requests_carry_isolation_and_the_image_for_the_build(tmp_path):
    with FakeWindowsEngine(WindowsHost(build=17763)) as eng:
        proc = run_against(eng, tmp_path)
        every_create = [r for r in eng.requests if r["path"] == "/containers/create"]
    assert proc.returncode == 0, proc.stderr
    creates = [r["body"] for r in every_create if "isobench.run" in (r["body"].get("Labels") or {})]
    # The engine lease: one named sentinel, never started, on the same engine (see bench.engine.lease).
    leases = [r for r in every_create if "isobench.lease" in (r["body"].get("Labels") or {})]
    assert len(leases) == 1 and leases[0]["query"]["name"] == "isobench-lease.1"
    assert len(creates) + len(leases) == len(every_create)
    isolations = {c["HostConfig"]["Isolation"] for c in creates}
    assert isolations == {"process", "hyperv"}
    assert {c["Image"] for c in creates} == {"mcr.microsoft.com/windows/nanoserver:1809"}
    assert all(c["Cmd"][:2] == ["cmd", "/S"] and "ReadonlyRootfs" not in c["HostConfig"] for c in creates)
    assert all(
        c["HostConfig"].get("Privileged") in (None, False) and c["HostConfig"]["NetworkMode"] == "none" for c in creates
    )
    rs = read(only_result(tmp_path / "res"))
    assert rs.end.status == "complete" and all(s.ok for s in rs.samples)
    win = rs.header.modes["hyperv"]["windows"]
    assert win["build"] == 17763 and win["ubr"] == 5329 and win["client"] is False
    assert win["edition"].startswith("Windows Server 2019") and win["docker_version"] == "20.10.24"
    assert rs.header.modes["hyperv"]["isolation_reported"] == "hyperv"
    assert rs.header.modes["process"]["engine"]["os_type"] == "windows"


def test_preflight_starts_the_hyperv_trial_and_skips_a_host_without_a_hypervisor(tmp_path):
    """Windows reports 0xc0351000 only at start: preflight starts its trial container, so the mode is
    skipped up front with that reason instead of failing every cycle."""
    with FakeWindowsEngine(WindowsHost(hyperv=False)) as eng:
        proc = run_against(eng, tmp_path)
        starts = [
            r
            for r in eng.requests
            if r["method"] == "POST" and r["path"].startswith("/containers/") and r["path"].endswith("/start")
        ]
        left = list(eng.containers)
    assert proc.returncode == 0, proc.stderr
    path = only_result(tmp_path / "res")
    rs = read(path)
    skip = rs.header.skipped["hyperv"]
    assert skip["skip_category"] == "no_hypervisor" and "0xc0351000" in skip["skip_reason"]
    assert "trial start" in skip["skip_reason"]
    assert {s.mode for s in rs.samples} == {"process"} and all(s.ok for s in rs.samples)
    assert len(starts) == 2 + 3  # one trial start per mode, then the process mode's 3 cycles
    assert left == []  # the trial containers are gone too
    import subprocess
    import sys

    from helpers import REPO

    rep = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(path), "--out", str(tmp_path / "rep")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    claims = json.loads((tmp_path / "rep" / "claims.json").read_text())
    pair = claims[0]["pairs"][0]
    assert pair["verdict"] == "untestable" and "0xc0351000" in pair["reason"]


def test_a_hypervisor_lost_mid_run_is_a_mapped_failure(tmp_path):
    """Preflight passed (its trial start worked), then every Hyper-V start fails: no_hypervisor samples."""
    with FakeWindowsEngine(WindowsHost(hyperv_starts_ok=1)) as eng:
        proc = run_against(eng, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    starts = [s for s in rs.samples if s.mode == "hyperv" and s.phase == "start"]
    assert [s.error for s in starts] == ["no_hypervisor"] * 3 and "0xc0351000" in starts[0].message
    cleanups = [s for s in rs.samples if s.phase == "cleanup"]
    assert len(cleanups) == 3 and all(s.ok for s in cleanups)


def test_server_2016_process_isolation_needs_the_revision_to_match(tmp_path):
    """On 14393 the image's UBR must equal the host's: skipped at preflight with the rule; a matching
    revision runs."""
    images = {"mcr.microsoft.com/windows/nanoserver:sac2016": "10.0.14393.1770"}
    host = WindowsHost(build=14393, ubr=1884, edition="Windows Server 2016 Datacenter", images=images)
    with FakeWindowsEngine(host) as eng:
        proc = run_against(eng, tmp_path, rounds=1)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    skip = rs.header.skipped["process"]
    assert skip["skip_category"] == "os_mismatch" and "revision (14393.1770)" in skip["skip_reason"]
    assert "(14393.1884)" in skip["skip_reason"] and "hyperv" in rs.header.modes
    assert rs.header.modes["hyperv"]["windows"]["image_ubr"] == 1770
    matching = WindowsHost(build=14393, ubr=1770, edition="Windows Server 2016 Datacenter", images=images)
    (tmp_path / "again").mkdir()
    with FakeWindowsEngine(matching) as eng:
        proc = run_against(eng, tmp_path / "again", rounds=1)
    assert proc.returncode == 0, proc.stderr
    assert set(read(only_result(tmp_path / "again" / "res")).header.modes) == {"process", "hyperv"}


def test_process_isolation_on_a_mismatched_build_is_skipped_with_the_rule(tmp_path):
    host = WindowsHost(
        build=20348,
        edition="Windows Server 2022 Datacenter",
        images={
            "mcr.microsoft.com/windows/nanoserver:1809": "10.0.17763.5329",
            "mcr.microsoft.com/windows/nanoserver:ltsc2022": "10.0.20348.2227",
        },
    )
    modes = MODES.replace(
        'preset = "process"', 'preset = "process"\nimage = "mcr.microsoft.com/windows/nanoserver:1809"'
    )
    with FakeWindowsEngine(host) as eng:
        proc = run_against(eng, tmp_path, modes=modes)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    skip = rs.header.skipped["process"]
    assert skip["skip_category"] == "os_mismatch"
    assert "image build (17763) to equal the host build (20348)" in skip["skip_reason"]
    assert rs.header.modes["hyperv"]["image"]["ref"].endswith(":ltsc2022")


def test_os_mismatch_from_the_engine_is_mapped(tmp_path):
    """When preflight's rules cannot know (no OsVersion), the engine's own 0xc0370101 at the trial
    start is categorised, and the mode skipped with it."""
    host = WindowsHost(
        build=17763, images={"mcr.microsoft.com/windows/nanoserver:1809": "10.0.14393.1"}, report_os_version=False
    )
    with FakeWindowsEngine(host) as eng:
        proc = run_against(eng, tmp_path, rounds=2)
    rs = read(only_result(tmp_path / "res"))
    assert proc.returncode == 0, proc.stderr
    skip = rs.header.skipped["process"]
    assert skip["skip_category"] == "os_mismatch" and "0xc0370101" in skip["skip_reason"]
    assert {s.mode for s in rs.samples} == {"hyperv"} and all(s.ok for s in rs.samples)


def test_remove_that_cannot_detach_the_vhd_is_retried(tmp_path):
    with FakeWindowsEngine(WindowsHost(hyperv_starts_ok=1, detach_failures=1)) as eng:
        proc = run_against(eng, tmp_path, rounds=2)
        left = list(eng.containers)
    assert proc.returncode == 0, proc.stderr
    rs = read(only_result(tmp_path / "res"))
    cleanups = {m: [s for s in rs.samples if s.phase == "cleanup" and s.mode == m] for m in ("process", "hyperv")}
    # hyperv never started: its force-remove fails once to detach the VHD, then works
    assert len(cleanups["hyperv"]) == 2 and all(s.ok and s.detail["attempts"] == 2 for s in cleanups["hyperv"])
    # the process mode's normal remove hit the same error: a failed remove sample, then a cleanup
    removes = [s for s in rs.samples if s.mode == "process" and s.phase == "remove"]
    assert all(s.error == "cleanup_failed" and "failed to detach VHD" in s.message for s in removes)
    assert len(cleanups["process"]) == 2 and all(s.ok and s.detail["attempts"] == 1 for s in cleanups["process"])
    assert left == []


def test_npipe_needs_windows_and_pywin32():
    mode = parse_config({"mode": [{"preset": "process", "endpoint": "npipe:////./pipe/docker_engine"}]}, "t").modes[0]
    import platform

    if platform.system() != "Windows":
        with pytest.raises(UserError, match="npipe:// endpoints work only on Windows hosts"):
            resolve(mode.endpoint_settings)


def test_preflight_records_the_windows_facts_directly():
    with FakeWindowsEngine(WindowsHost(build=17763, edition="Windows 10 Pro", isolation_default="hyperv")) as eng:
        mode = parse_config({"mode": [{"preset": "hyperv", "endpoint": eng.url, "allow_plain_tcp": True}]}, "t").modes[
            0
        ]
        check = check_mode(mode, "w-test")
    assert check.usable, check.reason
    assert check.record["windows"]["client"] is True and check.record["windows"]["isolation_default"] == "hyperv"


# -- the rules ------------------------------------------------------------------------

KNOWN = sorted(windows.NANOSERVER_TAGS)


@given(st.integers(14393, 40000))
def test_tag_for_build_never_picks_a_newer_image(build):
    tag = windows.tag_for_build(build)
    chosen = [b for b, t in windows.NANOSERVER_TAGS.items() if t == tag][0]
    assert chosen <= build or windows.CLIENT_TO_SERVER.get(build) == chosen
    assert windows.hyperv_isolation_ok(build, chosen).ok


@given(st.sampled_from(KNOWN))
def test_exact_builds_map_to_their_own_tag(build):
    assert windows.tag_for_build(build) == windows.NANOSERVER_TAGS[build]
    assert windows.process_isolation_ok(build, build, client=False).ok


@given(st.integers(10000, 40000), st.integers(10000, 40000), st.booleans())
def test_process_isolation_rule(host, image, client):
    v = windows.process_isolation_ok(host, image, client)
    if client and host < 17763:
        assert not v.ok
    elif host == image:
        assert v.ok
    elif client and host >= 22000 and image == 20348:
        assert v.ok
    else:
        assert not v.ok and str(host) in v.rule and str(image) in v.rule


@given(st.integers(0, 5000), st.integers(0, 5000), st.sampled_from([14393, 17763]))
def test_process_isolation_revision_rule(host_ubr, image_ubr, build):
    """Only Server 2016 (14393) needs the revision to match; later builds share the kernel across revisions."""
    v = windows.process_isolation_ok(build, build, False, host_ubr, image_ubr)
    assert v.ok == (build != 14393 or host_ubr == image_ubr)
    if not v.ok:
        assert f"{build}.{image_ubr}" in v.rule and f"{build}.{host_ubr}" in v.rule


@given(st.integers(10000, 40000), st.integers(10000, 40000))
def test_hyperv_rule(host, image):
    assert windows.hyperv_isolation_ok(host, image).ok == (image <= host)


@pytest.mark.parametrize(
    "text, build",
    [
        ("10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)", 17763),
        ("10.0 14393 (14393.4169.amd64fre.rs1_release.210107-1130)", 14393),
        ("10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)", 20348),
        ("", None),
    ],
)
def test_build_from_kernel_version(text, build):
    assert windows.build_of({"KernelVersion": text}) == build


def test_builds_older_than_any_image_are_refused():
    with pytest.raises(ValueError, match="older than any nanoserver image"):
        windows.tag_for_build(10586)
