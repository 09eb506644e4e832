#!/usr/bin/env bash
# Installs Podman (Debian's podman, with runc and runsc as its OCI runtimes) when a Podman mode is asked
# for, and only then: a host that runs only Docker modes is left as it was.
#
# Usage: setup-podman.sh --always            (make test: the Podman tests need it)
#        setup-podman.sh ARGS...             (make bench ARGS="...": installs if an argument names podman)
#
# Nothing is configured globally: isobench writes its own containers.conf, store and runsc wrapper under
# /var/lib/isobench/podman and starts and stops its API services itself (bench/engine/drivers/podman.py).
set -euo pipefail
wanted=no
for arg in "$@"; do
  case "$arg" in
    --always|*podman*) wanted=yes ;;
  esac
done
[ "$wanted" = yes ] || exit 0

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v runsc >/dev/null || need+=(runsc)
[ ${#need[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-podman: ${need[*]} missing and this host is not Debian/Ubuntu as root: install them, then run make again." >&2
  exit 2
fi
echo "setup-podman: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
