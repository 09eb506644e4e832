"""What a sample's failure is called: stable category strings (the analysis groups by them) and the
exceptions behind the categories that are not the engine's own words. Engine errors are mapped to
these categories by bench.engine.classify."""

from __future__ import annotations


class CallTimeout(Exception):
    """The watchdog gave up on an engine call."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not finish within {seconds:g} s")
        self.what = what
        self.seconds = seconds


class EngineControlError(Exception):
    """A command that stops or starts an engine (the cold scenario) failed."""


class BadOutput(Exception):
    """The container said something other than its ready marker, or ended before it."""


TIMEOUT = "timeout"
ENGINE_UNAVAILABLE = "engine_unavailable"
TLS_ERROR = "tls_error"
NOT_FOUND = "not_found"
RUNTIME_UNKNOWN = "runtime_unknown"
ISOLATION_REJECTED = "isolation_rejected"
RUNTIME_ERROR = "runtime_error"
BAD_OUTPUT = "bad_output"
EXIT_CODE = "exit_code"
API_ERROR = "api_error"
NOT_RUN = "not_run"
INTERRUPTED = "interrupted"
CLEANUP_FAILED = "cleanup_failed"
ERROR = "error"
ENGINE_CONTROL = "engine_control"  # stopping or starting the engine failed (cold scenario)
# Windows / HCS (host compute service) categories.
OS_MISMATCH = "os_mismatch"
NO_HYPERVISOR = "no_hypervisor"
IMAGE_INCOMPATIBLE = "image_incompatible"
FEATURE_MISSING = "feature_missing"
CLIENT_HYPERV_ONLY = "client_hyperv_only"  # a Windows client edition refuses process isolation
# A swarm task's own failures (the service scenario): no node matches its placement, its node went
# down before it ran, no node holds (or can pull) its image, or swarm failed it for another reason.
NO_SUITABLE_NODE = "no_suitable_node"
NODE_DOWN = "node_down"
IMAGE_NOT_FOUND = "image_not_found"
TASK_FAILED = "task_failed"
# Running out (issue #25): the engine's data root is full (create or start answered "no space left on
# device"), and the kernel's OOM killer ended a container during its cycle (the engine reports OOMKilled).
ENGINE_DISK_FULL = "engine_disk_full"
OOM_KILLED = "oom_killed"
# Why a run stopped early, beside its end status (the end record's `stop`): the results folder filled
# mid-run, or the engine's data root stayed full for several cycles in a row.
RESULTS_DISK_FULL = "results_disk_full"
# Podman's compat API (bench.engine.drivers.podman) answers some calls differently from dockerd:
STATE_CONFLICT = "state_conflict"  # the engine refused a call for the container's state ("container state improper")
API_UNSUPPORTED = "api_unsupported"  # the engine does not implement this call or option of the Docker API
# A first start's pull (bench.measure.pull): the registry did not answer (stopped, killed, unreachable).
# Also a run's early stop: once the registry the run started is gone, no first start can be measured.
REGISTRY_UNAVAILABLE = "registry_unavailable"
