#!/usr/bin/env bash
# Makes sure a Docker engine answers on this host.
#
# A host that already has an engine (Windows, Docker Desktop, a Linux server,
# DOCKER_HOST pointing elsewhere) is left untouched. Otherwise, on Debian or
# Ubuntu as root, installs Debian's docker.io, runsc (gVisor) and
# busybox-static, registers runsc in /etc/docker/daemon.json and starts dockerd.
# Usage: setup-engine.sh VENV_PYTHON
set -euo pipefail
python=${1:-.venv/bin/python}
log=${ISOBENCH_DOCKERD_LOG:-/var/log/isobench-dockerd.log}

if "$python" -m bench ping >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-engine: no Docker engine answers and this host is not Debian/Ubuntu as root: start an engine (or set DOCKER_HOST) and run make again." >&2
  exit 2
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runsc >/dev/null || need+=(runsc)
# the local Swarm's nodes live in network namespaces (ip netns, veth, bridge)
command -v ip >/dev/null || need+=(iproute2)
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-engine: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Register runsc. --network=none: without it runsc refuses to start here
# ("cannot run with network enabled in root network namespace"). The default
# platform (ptrace) is kept: --platform=kvm hangs without nested virtualisation.
"$python" - <<'PY'
import json, os, shutil
path = "/etc/docker/daemon.json"
cfg = {}
if os.path.exists(path):
    with open(path) as f:
        text = f.read().strip()
    cfg = json.loads(text) if text else {}
runtimes = cfg.setdefault("runtimes", {})
runsc = shutil.which("runsc")
if runsc and "runsc" not in runtimes:
    runtimes["runsc"] = {"path": runsc, "runtimeArgs": ["--network=none"]}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
PY

# The host's dockerd, by its pid file: other dockerds on this machine (a test engine, swarm
# nodes, each with its own pid file) are not the host's engine and are left alone.
pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo "setup-engine: starting dockerd (log: $log)" >&2
  # setsid: dockerd must outlive make, and not receive the terminal's Ctrl-C. It starts in the cgroup
  # isobench-engine (the shell writes its own pid there, then exec's dockerd), so the CPU of dockerd,
  # containerd, the shims and the runtimes is accounted from their first instruction (issue 23; where no
  # cpuacct hierarchy can be written, dockerd starts where it is and a run moves it later).
  cg=$(awk '/ - cgroup / && $NF ~ /(^|,)cpuacct(,|$)/ { print $5; exit }' /proc/self/mountinfo)
  setsid sh -c 'if [ -n "$1" ] && mkdir -p "$1/isobench-engine" 2>/dev/null; then
      echo $$ >"$1/isobench-engine/cgroup.procs" 2>/dev/null || true; fi; exec nohup dockerd' sh "$cg" \
    >"$log" 2>&1 </dev/null &
else
  # A running dockerd re-reads its runtimes on SIGHUP.
  kill -HUP "$pid" || true
fi

for _ in $(seq 1 120); do
  if "$python" -m bench ping >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "setup-engine: dockerd did not answer within 60 s: see $log" >&2
tail -n 20 "$log" >&2 || true
exit 2
