#!/usr/bin/env bash
# For the fleet's harness image (bench/fleet/image.py builds it with mmdebstrap from Debian's packages):
# installs mmdebstrap on Debian/Ubuntu as root when missing. Elsewhere `fleet run` says in one sentence
# what to install, and the fleet's swarm tests are skipped with the reason.
set -euo pipefail
if command -v mmdebstrap >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-fleet: mmdebstrap missing and this host is not Debian/Ubuntu as root: the fleet's swarm tests will be skipped." >&2
  exit 0
fi
echo "setup-fleet: installing mmdebstrap" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
