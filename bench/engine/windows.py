"""Windows hosts: which nanoserver tag fits a build, when process isolation can run an
image, and the host facts a Windows result set carries.

No Windows machine exists where isobench is developed: this module is pure
rules plus host queries behind ``platform.system() == "Windows"``; the rules are
tested here, the queries on real hosts.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Optional

NANOSERVER = "mcr.microsoft.com/windows/nanoserver"

# Windows build -> nanoserver tag on MCR. 14393 (Server 2016) only ever had the
# SAC-era nanoserver ("sac2016"); LTSC tags for nanoserver start with 2022.
NANOSERVER_TAGS: dict[int, str] = {
    14393: "sac2016",
    16299: "1709",
    17134: "1803",
    17763: "1809",
    18362: "1903",
    18363: "1909",
    19041: "2004",
    19042: "20H2",
    20348: "ltsc2022",
    26100: "ltsc2025",
}

# Client builds (Windows 10/11) whose nearest server image is another build.
CLIENT_TO_SERVER: dict[int, int] = {19043: 19042, 19044: 19042, 19045: 19042, 22000: 20348, 22621: 20348, 22631: 20348}

FIRST_CLIENT_PROCESS_BUILD = 17763  # Windows 10 1809: first client build that allows process isolation
WINDOWS_11_FIRST_BUILD = 22000
SERVER_2022_BUILD = 20348
SERVER_2016_BUILD = 14393  # process isolation there also needs the revision (UBR) to match


def build_of(version_info: dict[str, Any]) -> Optional[int]:
    """The engine host's build from GET /version's KernelVersion ("10.0 17763 (17763.1.amd64fre...)")."""
    text = str(version_info.get("KernelVersion") or version_info.get("OsVersion") or "")
    m = re.search(r"10\.0\.?\s*(\d{5})", text) or re.search(r"\b(\d{5})\b", text)
    return int(m.group(1)) if m else None


def image_build(os_version: Optional[str]) -> Optional[int]:
    """An image's build from its os.version ("10.0.17763.5329")."""
    m = re.match(r"10\.0\.(\d+)", os_version or "")
    return int(m.group(1)) if m else None


def image_ubr(os_version: Optional[str]) -> Optional[int]:
    """An image's revision (UBR) from its os.version ("10.0.14393.1884" -> 1884)."""
    m = re.match(r"10\.0\.\d+\.(\d+)", os_version or "")
    return int(m.group(1)) if m else None


def tag_for_build(build: int) -> str:
    """The nanoserver tag for a host build: exact, else the client's server twin, else the
    newest tag not newer than the host (which Hyper-V isolation can run)."""
    if build in NANOSERVER_TAGS:
        return NANOSERVER_TAGS[build]
    if build in CLIENT_TO_SERVER:
        return NANOSERVER_TAGS[CLIENT_TO_SERVER[build]]
    older = [b for b in NANOSERVER_TAGS if b <= build]
    if not older:
        raise ValueError(f"Windows build {build} is older than any nanoserver image (14393 is the oldest)")
    return NANOSERVER_TAGS[max(older)]


def image_for_build(placeholder: str, build: Optional[int]) -> str:
    """Replaces a preset's ``:auto`` image with the tag for the engine's build."""
    repo = placeholder.rsplit(":", 1)[0]
    if build is None:
        raise ValueError("the engine did not say its Windows build: set the mode's image explicitly")
    return f"{repo}:{tag_for_build(build)}"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rule: str


def process_isolation_ok(
    host_build: int,
    image_build_no: int,
    client: bool,
    host_ubr: Optional[int] = None,
    image_ubr_no: Optional[int] = None,
) -> Verdict:
    """Can process isolation run an image of ``image_build_no`` on this host?

    Microsoft's rules (version-compatibility page): the kernel is shared, so the
    image build must equal the host build; on Windows Server 2016 (14393) the
    revision (UBR) must match as well; Windows 11 hosts may also run Windows
    Server 2022 (20348) images; Windows 10 before 1809 allows process isolation
    only on Server.
    """
    if client and host_build < FIRST_CLIENT_PROCESS_BUILD:
        return Verdict(
            False,
            f"Windows 10 before 1809 (build {FIRST_CLIENT_PROCESS_BUILD}) allows only Hyper-V isolation on client "
            "editions",
        )
    if (
        image_build_no == host_build == SERVER_2016_BUILD
        and None not in (host_ubr, image_ubr_no)
        and host_ubr != image_ubr_no
    ):
        return Verdict(
            False,
            f"on Windows Server 2016 process isolation needs the image revision ({image_build_no}."
            f"{image_ubr_no}) to equal the host's ({host_build}.{host_ubr}): pull the image tag "
            f"for the host's update, patch the host to match, or use hyperv isolation",
        )
    if image_build_no == host_build:
        return Verdict(True, "image and host builds match")
    if client and host_build >= WINDOWS_11_FIRST_BUILD and image_build_no == SERVER_2022_BUILD:
        return Verdict(True, "Windows 11 runs Windows Server 2022 images with process isolation")
    return Verdict(
        False,
        f"process isolation needs the image build ({image_build_no}) to equal the host build ({host_build}): use the "
        f"image tag for build {host_build} or hyperv isolation",
    )


def hyperv_isolation_ok(host_build: int, image_build_no: int) -> Verdict:
    """Hyper-V isolation boots the image's own kernel in a utility VM: any image not newer than the host."""
    if image_build_no <= host_build:
        return Verdict(True, "Hyper-V isolation runs images up to the host's build")
    return Verdict(
        False,
        f"the image build ({image_build_no}) is newer than the host ({host_build}): Hyper-V isolation cannot run it",
    )


def engine_facts(version: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """What a Windows engine says of its host: build and UBR, edition, client or server,
    the default isolation, Docker edition and version. Read through the API, so it works
    for a remote engine too."""
    os_name = str(info.get("OperatingSystem") or "")
    ubr = re.search(r"OS Build \d+\.(\d+)", os_name)
    return {
        "build": build_of(version),
        "ubr": int(ubr.group(1)) if ubr else None,
        "edition": os_name,
        "client": "server" not in os_name.lower() if os_name else None,
        "isolation_default": info.get("Isolation"),
        "docker_edition": (version.get("Platform") or {}).get("Name"),
        "docker_version": version.get("Version"),
        "kernel_version": version.get("KernelVersion"),
    }


def _powershell(command: str, timeout: float = 20.0) -> Optional[str]:
    try:
        out = subprocess.run(
            ["powershell", "-NoProfile", "-NonInteractive", "-Command", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _registry_facts() -> dict[str, Any]:  # pragma: no cover - runs on Windows hosts only
    """Build, UBR and edition from the registry."""
    facts: dict[str, Any] = {}
    if sys.platform != "win32":
        return facts
    try:
        import winreg

        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Windows NT\CurrentVersion")
        for name in ("CurrentBuild", "UBR", "EditionID", "ProductName", "DisplayVersion", "InstallationType"):
            try:
                facts[name.lower()] = winreg.QueryValueEx(key, name)[0]
            except OSError:
                facts[name.lower()] = None
    except (ImportError, OSError):
        pass
    return facts


def host_facts() -> dict[str, Any]:  # pragma: no cover - runs on Windows hosts only
    """Build and UBR, edition, Hyper-V presence, nested virtualisation, Defender, power plan."""
    facts: dict[str, Any] = _registry_facts()
    facts["win32_ver"] = list(platform.win32_ver())
    facts["is_client"] = (facts.get("installationtype") or "").lower() == "client"
    facts["defender_realtime"] = _powershell("(Get-MpComputerStatus).RealTimeProtectionEnabled")
    facts["power_plan"] = _powershell(
        "(Get-CimInstance -Namespace root\\cimv2\\power -ClassName Win32_PowerPlan | Where-Object IsActive).ElementName"
    )
    facts["hyperv_present"] = _powershell("(Get-CimInstance Win32_ComputerSystem).HypervisorPresent")
    facts["host_is_vm"] = _powershell("(Get-CimInstance Win32_ComputerSystem).Model")
    return facts


def pull_image_for_engine(client: Any) -> str:
    """`bench image` on a Windows engine: pulls the nanoserver tag for the engine's build."""
    build = build_of(client.version())
    ref = image_for_build(NANOSERVER + ":auto", build)
    repo, tag = ref.rsplit(":", 1)
    client.pull(repo, tag=tag)
    return ref
