"""The harness job's service spec (POST /services/create), per host: the request shapes of the Swarm
carrier, kept apart from the calls so the Windows shapes can be checked against the Windows stand-in.

One replicated job per host, pinned to its node by id: swarm runs it once (TotalCompletions 1) and,
with restart condition none, never again, so a task that fails stays failed and is reported. The task
reaches its own node's engine:

* Linux: the node's engine socket bind-mounted at /var/run/docker.sock (and the node's os-release, so
  the header names the host's distribution, not the image's);
* Windows 1709 and later: the engine's named pipe mounted (``npipe``);
* Windows Server 2016 (14393), which refuses pipe mounts: tcp+TLS to the node itself, its address from
  the service template ``{{.Node.Hostname}}``, the client certificates as swarm secrets.

The log driver is json-file, set on the service: the records come back through the task's log.
"""

from __future__ import annotations

from typing import Any, Optional

from bench.fleet.plan import Host

FLEET_LABEL = "isobench.fleet"  # the fleet run's id, on the service and its task container
HOST_LABEL = "isobench.fleet.host"
STOP_GRACE_NS = 30 * 10**9  # the run's own end cleanup is bounded well inside this
LOG_OPTIONS = {"max-size": "256m", "max-file": "1"}  # one file, large: a set's frames must all stay readable
WINDOWS_PIPE = r"\\.\pipe\docker_engine"
WINDOWS_CERTS = r"C:\ProgramData\isobench\certs"
TLS_PORT = 2376


def service_name(fleet_id: str, host: str) -> str:
    return f"isobench-fleet-{fleet_id[:8]}-{host}"[:63]


def job_spec(
    host: Host, image: str, fleet_id: str, args: list[str], env: dict[str, str], tls_secrets: Optional[list[str]] = None
) -> dict[str, Any]:
    labels = {FLEET_LABEL: fleet_id, HOST_LABEL: host.name}
    container: dict[str, Any] = {
        "Image": image,
        "Args": args,
        "Env": [f"{k}={v}" for k, v in sorted(env.items())],
        "Hostname": "{{.Node.Hostname}}",  # the set is filed under the node's own name
        "Labels": labels,
        "StopGracePeriod": STOP_GRACE_NS,
        "Isolation": "process" if host.os == "windows" else "default",
        "Mounts": _mounts(host),
    }
    if host.transport == "tcp-tls":
        container["Env"] += _tls_env()
        container["Secrets"] = [
            {"SecretID": sid, "SecretName": name, "File": {"Name": name, "UID": "0", "GID": "0", "Mode": 0o444}}
            for sid, name in zip(tls_secrets or [], ("ca.pem", "cert.pem", "key.pem"))
        ]
    return {
        "Name": service_name(fleet_id, host.name),
        "Labels": labels,
        "TaskTemplate": {
            "ContainerSpec": container,
            "RestartPolicy": {"Condition": "none", "MaxAttempts": 0},
            "Placement": {"Constraints": [f"node.id=={host.node_id}"]},
            "LogDriver": {"Name": "json-file", "Options": LOG_OPTIONS},
        },
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }


def _mounts(host: Host) -> list[dict[str, Any]]:
    if host.transport == "unix-socket":
        return [
            {"Type": "bind", "Source": host.socket, "Target": "/var/run/docker.sock"},
            {"Type": "bind", "Source": "/etc/os-release", "Target": "/etc/os-release", "ReadOnly": True},
        ]
    if host.transport == "npipe":
        return [{"Type": "npipe", "Source": WINDOWS_PIPE, "Target": WINDOWS_PIPE}]
    return []  # tcp-tls: nothing to mount, the engine is reached over the node's own address


def _tls_env() -> list[str]:
    # Swarm secrets land in C:\ProgramData\Docker\secrets on Windows; the harness reads DOCKER_CERT_PATH.
    return [
        f"DOCKER_HOST=tcp://{{{{.Node.Hostname}}}}:{TLS_PORT}",
        "DOCKER_TLS_VERIFY=1",
        r"DOCKER_CERT_PATH=C:\ProgramData\Docker\secrets",
    ]


# The Windows harness image (documented in docs/fleet.md): Python's embeddable zip on nanoserver for
# the host's build (process isolation needs the image's build to equal the host's), isobench's wheel
# and its dependencies unpacked into it. Built on a Windows host of that build with `docker build`.
WINDOWS_DOCKERFILE = """\
# escape=`
ARG TAG=ltsc2019
FROM mcr.microsoft.com/windows/servercore:${TAG} AS unpack
ARG PY=3.11.9
ADD https://www.python.org/ftp/python/${PY}/python-${PY}-embed-amd64.zip C:\\py.zip
COPY wheels C:\\wheels
RUN powershell -Command Expand-Archive C:\\py.zip C:\\python; `
    Add-Content C:\\python\\python311._pth 'Lib\\site-packages'; `
    Get-ChildItem C:\\wheels\\*.whl | ForEach-Object { `
      Expand-Archive $_.FullName C:\\python\\Lib\\site-packages -Force }
FROM mcr.microsoft.com/windows/nanoserver:${TAG}
COPY --from=unpack C:\\python C:\\python
USER ContainerAdministrator
ENTRYPOINT ["C:\\\\python\\\\python.exe", "-m", "bench.fleet.task"]
"""
