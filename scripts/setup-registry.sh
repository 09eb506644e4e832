#!/usr/bin/env bash
# Installs Debian's docker-registry (the Distribution registry, 2.8) when missing: the first-start
# scenario starts its own on a loopback port for each run (bench.engine.registry) and stops it at the end.
# The package's own service is stopped and disabled: isobench runs the registry itself, only while it runs.
# Where it cannot be installed (not Debian/Ubuntu as root, or the install fails) this says so and exits 0:
# first-start runs then fall back to `docker load` of a saved tarball, and their header's first_start
# record says so (source "load" and why).
# Usage: setup-registry.sh
set -euo pipefail
if command -v docker-registry >/dev/null; then exit 0; fi
fallback() {
  echo "setup-registry: $1: first-start runs fall back to docker load (the result set's header says so)." >&2
  exit 0
}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup-registry: installing docker-registry" >&2
  apt-get update -qq || fallback "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null ||
    fallback "apt-get install docker-registry failed"
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
  # without systemd, the package's init script may have started it: stop it (by its pid file only)
  if [ -x /etc/init.d/docker-registry ]; then /etc/init.d/docker-registry stop >/dev/null 2>&1 || true; fi
else
  fallback "docker-registry is missing and this host is not Debian/Ubuntu as root"
fi
