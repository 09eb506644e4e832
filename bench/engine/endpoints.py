"""From a mode's endpoint to a low-level ``docker.APIClient``: one transport per scheme.

Schemes: ``local`` (the host's default socket or pipe), ``env`` (DOCKER_HOST,
DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, or DOCKER_CONTEXT), ``context:NAME`` (a
Docker CLI context), ``unix://``, ``npipe://``, ``tcp://``
(TLS with a docker-machine style cert directory; plain only when the mode opts
in), ``ssh://`` (needs paramiko) and ``machine:NAME`` (``docker-machine env``).
Optional transports fail with "install X to enable Y", as docker-py does.
"""

from __future__ import annotations

import os
import platform
import shlex
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import docker
import requests.adapters
from docker.tls import TLSConfig

from bench.core.config import EndpointSettings
from bench.core.errors import UserError
from bench.engine.control.vm.bootimage import HOST_ALIAS
from bench.engine.control.vm.state import load_state

LINUX_LOCAL = "unix:///var/run/docker.sock"
WINDOWS_LOCAL = "npipe:////./pipe/docker_engine"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one engine. ``record()`` is what a result set keeps:
    the URL and the cert directory's path, never a certificate's contents."""

    base_url: str
    scheme: str
    tls: Optional[TLSConfig] = None
    cert_dir: Optional[str] = None
    verify: bool = False
    via: str = ""  # how it was resolved: config, env, docker-machine ...
    machine: Optional[dict[str, Any]] = None
    tls_max_version: Optional[str] = None
    # The name the engine's certificate was issued to, when it is not the address
    # connected to (a VM's name, a host behind a port forward).
    tls_hostname: Optional[str] = None
    # The address at which the engine reaches this host's loopback (a registry the run serves there):
    # 127.0.0.1 for an engine on this host, qemu's 10.0.2.2 for the VM's; None where isobench cannot know
    # (a remote engine, a tcp:// address that may be a forward, a swarm node in its own namespace).
    host_alias: Optional[str] = None

    def record(self) -> dict[str, Any]:
        return {
            "url": self.base_url,
            "scheme": self.scheme,
            "tls": self.tls is not None,
            "verify": self.verify,
            "cert_dir": self.cert_dir,
            "via": self.via,
            "machine": self.machine,
            "tls_max_version": self.tls_max_version,
            "tls_hostname": self.tls_hostname,
            "host_alias": self.host_alias,
        }


def _tls_from_dir(cert_dir: str, verify: bool, where: str) -> TLSConfig:
    d = Path(cert_dir).expanduser()
    names = {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem"}
    needed = ("cert", "key") + (("ca",) if verify else ())
    for key in needed:
        if not names[key].is_file():
            raise UserError(
                f"{where}: {names[key]} is missing: a TLS cert directory holds ca.pem, cert.pem and key.pem "
                "(docker-machine's layout)."
            )
    return TLSConfig(
        client_cert=(str(names["cert"]), str(names["key"])), ca_cert=str(names["ca"]) if verify else None, verify=verify
    )


def _require_module(module: str, package: str, feature: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise UserError(f"install {package} to enable {feature} (pip install {package}).") from None


def _tcp(url: str, cert_dir: Optional[str], verify: bool, allow_plain: bool, where: str, via: str) -> Endpoint:
    rest = url[len("tcp://") :]
    if cert_dir:
        tls = _tls_from_dir(cert_dir, verify, where)
        return Endpoint("https://" + rest, "tcp+tls", tls, cert_dir, verify, via)
    if not allow_plain:
        raise UserError(
            f"{where}: {url} has no TLS cert directory: set tls_cert_dir (ca.pem, cert.pem, key.pem), "
            "or allow_plain_tcp = true to opt in to an unencrypted, unauthenticated engine."
        )
    return Endpoint("http://" + rest, "tcp", None, None, False, via)


def _from_env(environ: dict[str, str], where: str, allow_plain: bool, via: str = "env") -> Endpoint:
    if not environ.get("DOCKER_HOST") and environ.get("DOCKER_CONTEXT"):
        return _from_context(environ["DOCKER_CONTEXT"], where, allow_plain)
    host = environ.get("DOCKER_HOST") or (WINDOWS_LOCAL if platform.system() == "Windows" else LINUX_LOCAL)
    if host.startswith("tcp://"):
        verify = environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        cert_dir = environ.get("DOCKER_CERT_PATH") or (str(Path.home() / ".docker") if verify else None)
        return _tcp(host, cert_dir, verify, allow_plain, where, via)
    return _simple(host, where, via)


def _simple(url: str, where: str, via: str) -> Endpoint:
    if url.startswith("unix://"):
        return Endpoint(url, "unix", via=via)
    if url.startswith("npipe://"):
        if platform.system() != "Windows":
            raise UserError(f"{where}: {url} is a Windows named pipe: npipe:// endpoints work only on Windows hosts.")
        _require_module("win32pipe", "pywin32", "npipe:// endpoints")
        return Endpoint(url, "npipe", via=via)
    if url.startswith("ssh://"):
        _require_module("paramiko", "paramiko", "ssh:// endpoints")
        return Endpoint(url, "ssh", via=via)
    raise UserError(f"{where}: {url!r} is not an endpoint isobench can reach: use unix://, npipe://, tcp:// or ssh://.")


def _from_context(name: str, where: str, allow_plain: bool) -> Endpoint:
    """A Docker CLI context (``docker context create``), read with docker-py's ContextAPI from
    $DOCKER_CONFIG (default ~/.docker): its docker endpoint's host and TLS material."""
    from docker.context import ContextAPI

    try:
        ctx = ContextAPI.get_context(name)
    except docker.errors.DockerException as exc:
        raise UserError(
            f"{where}: Docker context {name!r} cannot be read ({exc}): check it with 'docker context inspect {name}'."
        ) from None
    if ctx is None:
        raise UserError(
            f"{where}: there is no Docker context {name!r} (looked in $DOCKER_CONFIG, default ~/.docker, "
            f"which needs a config.json): create it with 'docker context create {name} --docker host=...'."
        )
    host = ctx.Host
    if not host:
        raise UserError(
            f"{where}: Docker context {name!r} has no docker endpoint host: recreate it with --docker host=URL."
        )
    via = f"context:{name}"
    if host.startswith("tcp://"):
        tls = ctx.TLSConfig
        if tls is None:
            return _tcp(host, None, False, allow_plain, where, via)
        verify = bool(tls.verify)
        cert_dir = str(Path(tls.cert[0]).parent) if tls.cert else None
        return Endpoint("https://" + host[len("tcp://") :], "tcp+tls", tls, cert_dir, verify, via)
    return _simple(host, where, via)


def _docker_machine_env(name: str, where: str) -> dict[str, str]:
    """Runs ``docker-machine env NAME`` (Docker Toolbox) and parses its exports."""
    try:
        out = subprocess.run(
            ["docker-machine", "env", "--shell", "bash", name], capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise UserError(
            f"{where}: machine:{name} needs docker-machine on PATH: install Docker Toolbox or docker-machine."
        ) from None
    except subprocess.TimeoutExpired:
        raise UserError(
            f"{where}: 'docker-machine env {name}' did not answer in 60 s: check that the VM is running "
            f"(docker-machine start {name})."
        ) from None
    if out.returncode != 0:
        first = (out.stderr or out.stdout).strip().splitlines()[:1]
        raise UserError(
            f"{where}: 'docker-machine env {name}' failed ({first[0] if first else 'no output'}): start it with "
            f"docker-machine start {name}."
        )
    env: dict[str, str] = {}
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def _machine_facts(name: str) -> dict[str, Any]:
    """The Toolbox VM's driver and boot2docker version, where docker-machine tells them."""
    facts: dict[str, Any] = {"name": name}
    for key, args in (
        ("driver", ["inspect", "--format", "{{.DriverName}}", name]),
        ("boot2docker", ["ssh", name, "cat /etc/version 2>/dev/null || uname -r"]),
    ):
        try:
            out = subprocess.run(["docker-machine", *args], capture_output=True, text=True, timeout=30, check=False)
            if out.returncode == 0:
                facts[key] = out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return facts


def resolve(target: EndpointSettings, environ: Optional[dict[str, str]] = None) -> Endpoint:
    """The Endpoint for a mode's settings (``mode.endpoint_settings``), or a UserError naming what is missing."""
    ep = _resolve(target, environ)
    if ep.tls is not None and (target.tls_max_version or target.tls_hostname):
        ep = Endpoint(**{**ep.__dict__, "tls_max_version": target.tls_max_version, "tls_hostname": target.tls_hostname})
    elif target.tls_hostname:
        raise UserError(
            f"mode {target.name!r}: tls_hostname is set but {ep.base_url} is not a TLS endpoint: "
            "remove tls_hostname, or give the mode a tls_cert_dir."
        )
    return ep


def _resolve(target: EndpointSettings, environ: Optional[dict[str, str]] = None) -> Endpoint:
    environ = dict(os.environ if environ is None else environ)
    where = f"mode {target.name!r}"
    ep = target.endpoint
    if ep == "local":
        local = WINDOWS_LOCAL if platform.system() == "Windows" else LINUX_LOCAL
        return _on_this_host(_simple(local, where, "local"))
    if ep == "env":
        return _on_this_host(_from_env(environ, where, target.allow_plain_tcp))
    if ep == "vm":
        return _vm(where)
    if ep == "swarm":
        return _swarm(where)
    if ep.startswith("context:"):
        return _on_this_host(_from_context(ep[len("context:") :], where, target.allow_plain_tcp))
    if ep.startswith("machine:"):
        name = ep[len("machine:") :]
        resolved = _from_env(_docker_machine_env(name, where), where, target.allow_plain_tcp, via="docker-machine")
        return Endpoint(**{**resolved.__dict__, "machine": _machine_facts(name)})
    if ep.startswith("tcp://"):
        return _tcp(ep, target.tls_cert_dir, target.tls_verify, target.allow_plain_tcp, where, "config")
    return _on_this_host(_simple(ep, where, "config"))


def _on_this_host(ep: Endpoint) -> Endpoint:
    """A socket or pipe on this host: its engine shares the host's loopback (ssh:// is another host)."""
    return Endpoint(**{**ep.__dict__, "host_alias": "127.0.0.1"}) if ep.scheme in ("unix", "npipe") else ep


def _vm(where: str) -> Endpoint:
    """The VM-hosted engine, from its state file alone (bench.engine.control.vm.state)."""
    state = load_state()
    if state is None:
        raise UserError(f"{where}: the VM engine is not up: run 'isobench vm up' (make vm) first.")
    resolved = _tcp(state.endpoint(), state.cert_dir, True, False, where, "vm")
    return Endpoint(
        **{
            **resolved.__dict__,
            "machine": {
                "driver": "qemu",
                "accel": state.accel,
                "kernel": state.kernel,
                "cmdline": state.cmdline,
                "vcpus": state.vcpus,
                "boot_s": state.boot_s,
            },
            "host_alias": HOST_ALIAS,  # qemu's user network: the guest reaches the host's loopback there
        }
    )


def _swarm(where: str) -> Endpoint:
    """The local swarm's manager (`isobench swarm up`), from its state file alone (bench.engine.swarm.state)."""
    from bench.engine.swarm.state import load as load_swarm

    state = load_swarm()
    if state is None or state.phase != "up":
        raise UserError(f"{where}: the local swarm is not up: run 'isobench swarm up' first.")
    return Endpoint(state.manager_endpoint, "unix", via="swarm")


class _TLSAdapter(requests.adapters.HTTPAdapter):
    """HTTPS with the endpoint's own TLS settings where requests' defaults do not do:

    - ``max_version="1.2"``: TLS capped at 1.2 with ECDHE + AES-GCM suites (see
      Mode.tls_max_version);
    - ``hostname``: the certificate is checked against this name instead of the
      address connected to (and it is sent as SNI), as ``docker --tlsverify`` does
      with a host name that differs from the address.

    The context carries the endpoint's own CA and client certificate: a custom
    context does not pick up requests' `verify`/`cert` paths.
    """

    def __init__(self, tls: TLSConfig, max_version: Optional[str], hostname: Optional[str], **kwargs: Any) -> None:
        self._tls = tls
        self._max_version = max_version
        self._hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        ctx = (
            ssl.create_default_context(cafile=self._tls.ca_cert)
            if self._tls.verify and self._tls.ca_cert
            else ssl.create_default_context()
        )
        if not self._tls.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self._tls.cert:
            ctx.load_cert_chain(*self._tls.cert)
        if self._max_version == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("ECDHE+AESGCM")
        if self._hostname and self._tls.verify:
            # urllib3 matches the certificate against assert_hostname itself
            ctx.check_hostname = False
            kwargs["assert_hostname"] = self._hostname
            kwargs["server_hostname"] = self._hostname
        kwargs["ssl_context"] = ctx
        super().init_poolmanager(*args, **kwargs)


def make_client(endpoint: Endpoint, timeout: float, version: str = "auto") -> docker.APIClient:
    """A low-level client. ``version="auto"`` negotiates with GET /version (unversioned), which
    raises when the engine does not answer.

    docker-py's own "auto" asks before the client can be configured, so the negotiation is
    done here, after the transport settings below are in place.
    """
    kwargs: dict[str, Any] = {
        "base_url": endpoint.base_url,
        "timeout": timeout,
        "version": docker.constants.MINIMUM_DOCKER_API_VERSION if version == "auto" else version,
    }
    if endpoint.tls is not None:
        kwargs["tls"] = endpoint.tls
    if endpoint.scheme == "ssh":
        kwargs["use_ssh_client"] = False
    client = docker.APIClient(**kwargs)
    if endpoint.tls is not None and (endpoint.tls_max_version == "1.2" or endpoint.tls_hostname):
        client.mount(
            "https://",
            _TLSAdapter(
                endpoint.tls, endpoint.tls_max_version, endpoint.tls_hostname, pool_connections=10, pool_maxsize=10
            ),
        )
    # Not from the environment: requests would let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
    # the engine's own ca.pem (so TLS to a docker-machine CA fails wherever they are set),
    # and it re-reads proxy settings on every request (~0.6 ms each here).
    client.trust_env = False
    if version == "auto":
        try:
            server = client.version(api_version=False)["ApiVersion"]
        except KeyError:
            raise docker.errors.DockerException("the engine's /version has no ApiVersion") from None
        newest = docker.constants.DEFAULT_DOCKER_API_VERSION
        client._version = server if docker.utils.version_lt(server, newest) else newest
    return client
