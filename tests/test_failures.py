"""Engine errors map to stable categories; unknown ones keep their raw text."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from bench.engine import classify as failures


class _Resp:
    def __init__(self, status, reason="x"):
        self.status_code, self.reason, self.url = status, reason, "http://x"


def api_error(text, status=500):
    return docker.errors.APIError("boom", response=_Resp(status), explanation=text)


@pytest.mark.parametrize(
    "text, category",
    [
        ("Unknown runtime specified foo", "runtime_unknown"),
        ("Invalid isolation: \"hyperv\" - linux only supports 'default'", "isolation_rejected"),
        (
            "container abc encountered an error during hcsshim::System::Start: failure in a Windows system call: "
            "The container operating system does not match the host operating system. (0xc0370101)",
            "os_mismatch",
        ),
        ("hcsshim::CreateComputeSystem abc: No hypervisor is present on this system. (0xc0351000)", "no_hypervisor"),
        ("hcsshim::CreateComputeSystem: The system cannot find the file specified.", "image_incompatible"),
        ("failed to create endpoint: A required feature is not installed.", "feature_missing"),
        ("hcsshim: failed to detach VHD: timeout", "cleanup_failed"),
        ("OCI runtime create failed: container_linux.go:380", "runtime_error"),
        ("something nobody has seen", "api_error"),
        # Docker 18.09+ on 1809+ hosts: the build mismatch without its code, after three call names.
        (
            "failed to create container abc: CreateComputeSystem abc: The container operating system does not match "
            "the host operating system.",
            "os_mismatch",
        ),
        (
            "container abc encountered an error during hcsshim::CreateComputeSystem abc: The container operating "
            "system "
            "does not match the host operating system.",
            "os_mismatch",
        ),
        (
            "container abc encountered an error during hcs::CreateComputeSystem abc: The container operating system "
            "does not match the host operating system.",
            "os_mismatch",
        ),
        # Client editions refusing process isolation.
        ("Windows client operating systems only support Hyper-V containers", "client_hyperv_only"),
        (
            "Error response from daemon: Windows client operating systems earlier than version 1809 can only run "
            "Hyper-V containers",
            "client_hyperv_only",
        ),
    ],
)
def test_engine_texts_map_to_categories(text, category):
    cat, message = failures.classify(api_error(text))
    assert cat == category and message == text


def test_connection_and_timeouts():
    assert failures.classify(requests.exceptions.ConnectionError("refused"))[0] == "engine_unavailable"
    assert failures.classify(failures.CallTimeout("start", 2))[0] == "timeout"
    assert failures.classify(failures.BadOutput("x"))[0] == "bad_output"
    nf = docker.errors.NotFound("gone", response=_Resp(404), explanation="No such container: abc")
    assert failures.classify(nf) == ("not_found", "No such container: abc")
