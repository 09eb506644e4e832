"""One node's dockerd: its configuration, how it is started inside its namespaces, and how `up`
waits for it (stopping it is teardown's job, with procs).

A node dockerd runs as ``ip netns exec NS unshare --uts -- sh start.sh`` in a session of its own
(so a terminal's Ctrl-C never reaches it). ``ip netns exec`` also gives it a private mount
namespace (``/`` made a slave): every mount the node makes (overlay2 layers, container netns
files, shm) stays in that namespace and goes away with its last process; nothing propagates to
the host. The script then

* mounts the host's cgroup hierarchies again, because ``ip netns exec`` remounts /sys for the
  namespace and that hides /sys/fs/cgroup;
* mounts an empty tmpfs on /run: dockerd 20.10 uses /run/containerd/containerd.sock whenever that
  path exists (a system containerd) instead of starting its own, and libnetwork and containerd's
  shims write to fixed paths (/run/docker/libnetwork, /run/containerd/s). Behind the tmpfs every
  node gets its own daemon-managed containerd (in its namespace, stopped with it), and never
  sees or touches the host engine's /run/docker or /run/docker.sock;
* binds the node's own resolv.conf (nameserver 127.0.0.1) over /etc/resolv.conf, and the daemon
  gives containers ``dns: 127.0.0.1`` too: any DNS lookup in the cluster goes to a loopback;
* execs dockerd with ``--config-file`` (so /etc/docker/daemon.json is never read), with
  DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 (as moby's own swarm tests run it): without it the
  manager tries to pin every service image to a registry digest and every worker tries to pull
  the image before each task, which here only fails (there is no registry and no route) but
  costs time inside the startup being measured.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from bench.core.errors import UserError
from bench.engine.swarm import layout
from bench.engine.swarm.api import ping
from bench.engine.swarm.layout import NodeSpec

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
CGROUP_FLAGS_NOT_CONTROLLERS = ("name=", "xattr", "noprefix", "clone_children", "cpuset_v2_mode")


def config(spec: NodeSpec, runsc: Optional[str]) -> dict[str, Any]:
    """The node's daemon.json: its own sockets, roots and containerd namespaces; no iptables, no
    default bridge, no forwarding, so nothing it does reaches past its namespace."""
    cfg: dict[str, Any] = {
        "hosts": [spec.endpoint],
        "pidfile": str(spec.pidfile),
        "data-root": str(spec.data_root),
        "exec-root": str(spec.exec_root),
        "containerd-namespace": spec.containerd_namespace,
        "containerd-plugins-namespace": f"{spec.containerd_namespace}-plugins",
        # its own engine key (engine ID), not /etc/docker/key.json shared with the host
        "deprecated-key-path": str(spec.dir / "key.json"),
        "bridge": "none",
        "iptables": False,
        "ip6tables": False,
        "ip-masq": False,
        "ip-forward": False,
        "userland-proxy": False,
        "dns": ["127.0.0.1"],
        "default-address-pools": [{"base": layout.LOCAL_POOL, "size": 24}],
        # its own cgroup parent: its containers are found (and any leftover killed) by it
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "cgroup-parent": spec.cgroup_parent,
        "labels": [f"{k}={v}" for k, v in spec.labels.items()],
        "default-runtime": spec.runtime,
    }
    if spec.runtime == "runsc":
        # gVisor's own netstack refuses to run here ("cannot run with network enabled in root
        # network namespace"); never --platform=kvm (it hangs without nested virtualisation).
        # --host-uds=open: a sandbox may connect to a host unix socket bind-mounted into it (the fleet's
        # harness task reaches its node's engine so); containers that mount none are unaffected.
        cfg["runtimes"] = {"runsc": {"path": runsc or "runsc", "runtimeArgs": ["--network=none", "--host-uds=open"]}}
    return cfg


def _mountinfo() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of the cgroup mounts under /sys/fs/cgroup, in mount order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        point, (fstype, _src, superopts) = left.split()[4], right.split()[:3]
        under = point == "/sys/fs/cgroup" or point.startswith("/sys/fs/cgroup/")
        if under and fstype in ("tmpfs", "cgroup", "cgroup2"):
            found.append((point, fstype, superopts))
    return found


def cgroup_mounts() -> list[str]:
    """Shell lines that mount, in the node's mount namespace, the same cgroup hierarchies as the host's."""
    lines = []
    for point, fstype, superopts in _mountinfo():
        opts = [o for o in superopts.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent=")]
        if fstype == "tmpfs":
            lines.append(f"mount -t tmpfs -o mode=755 cgroup {shlex.quote(point)}")
            continue
        if fstype == "cgroup" and all(o.startswith(CGROUP_FLAGS_NOT_CONTROLLERS) for o in opts):
            opts.insert(0, "none")  # a named hierarchy without controllers (name=systemd)
        # The options are the host's exactly: cgroup2 applies its mount flags (nsdelegate, ...) to
        # the one shared hierarchy on every mount, so anything else would change them for the host.
        o = f" -o {shlex.quote(','.join(opts))}" if opts else ""
        lines.append(f"mkdir -p {shlex.quote(point)} && mount -t {fstype}{o} {fstype} {shlex.quote(point)}")
    links = [e for e in os.scandir("/sys/fs/cgroup") if e.is_symlink()] if os.path.isdir("/sys/fs/cgroup") else []
    lines += [f"ln -sfn {shlex.quote(os.readlink(e.path))} {shlex.quote(e.path)}" for e in links]
    return lines


def script(spec: NodeSpec) -> str:
    lines = [
        "#!/bin/sh",
        "# Written by bench.engine.swarm.daemon; see its docstring.",
        "set -e",
        # the UTS namespace is the node's own (unshare --uts): this names the node in swarm
        f"echo {spec.hostname} > /proc/sys/kernel/hostname",
        *cgroup_mounts(),
        "mount -t tmpfs -o mode=755 isobench-swarm-run /run",
        f"mount --bind {shlex.quote(str(spec.dir / 'resolv.conf'))} /etc/resolv.conf || "
        "echo 'isobench: /etc/resolv.conf not replaced' >&2",
        f"exec dockerd --config-file {shlex.quote(str(spec.config))}",
    ]
    return "\n".join(lines) + "\n"


def write_files(spec: NodeSpec, runsc: Optional[str]) -> None:
    for d in (spec.dir, spec.data_root, spec.exec_root):
        d.mkdir(parents=True, exist_ok=True)
    spec.dir.chmod(0o700)
    spec.config.write_text(json.dumps(config(spec, runsc), indent=2) + "\n")
    spec.script.write_text(script(spec))
    (spec.dir / "resolv.conf").write_text("# the node's own: DNS goes to its loopback only\nnameserver 127.0.0.1\n")


def start(spec: NodeSpec) -> subprocess.Popen:
    """Starts the node's dockerd; returns at once (``wait_ready`` waits for it). The pid is dockerd's
    own: ip, unshare and sh each exec the next."""
    argv = ["ip", "netns", "exec", spec.netns, "unshare", "--uts", "--", "sh", str(spec.script)]
    # A plain environment: DOCKER_RAMDISK, DOCKER_TMPDIR or proxies of the caller must not change the node.
    env = {
        "PATH": os.environ.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1",
    }
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log, "wb") as log:  # this `up`'s log only
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def last_error(spec: NodeSpec) -> str:
    """The most telling line of a node's log, for a one-sentence error."""
    try:
        lines = spec.log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    bad = [ln for ln in lines if "level=fatal" in ln or "level=error" in ln or "failed" in ln.lower()]
    return (bad or lines or ["empty log"])[-1][-300:]


def wait_ready(procs: dict[str, subprocess.Popen], timeout: float = START_TIMEOUT_S) -> dict[str, float]:
    """Waits until every node answers /_ping; returns seconds to ready per node. A dockerd that exits
    or stays silent past ``timeout`` is a UserError naming its log's last error."""
    t0 = time.monotonic()
    ready: dict[str, float] = {}
    while len(ready) < len(procs):
        for name, proc in procs.items():
            if name in ready:
                continue
            spec = layout.node(name)
            if ping(spec, timeout=1.0):
                ready[name] = round(time.monotonic() - t0, 2)
            elif proc.poll() is not None:
                raise UserError(f"node {name}'s dockerd exited at start ({last_error(spec)}): see {spec.log}.")
        if time.monotonic() - t0 > timeout:
            late = sorted(set(procs) - set(ready))
            raise UserError(
                f"node {', '.join(late)} did not answer within {timeout:.0f} s "
                f"({last_error(layout.node(late[0]))}): see {layout.node(late[0]).log}."
            )
        time.sleep(0.1)
    return ready
