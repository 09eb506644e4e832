#!/usr/bin/env bash
# For the ssh:// endpoint tests: installs openssh-server on Debian/Ubuntu as root when
# missing, without starting the system's ssh service (the tests run their own sshd on a
# loopback port). Elsewhere the tests that need it are skipped with the reason.
set -euo pipefail
if command -v sshd >/dev/null || [ -x /usr/sbin/sshd ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-ssh: sshd missing and this host is not Debian/Ubuntu as root: the ssh:// tests will be skipped." >&2
  exit 0
fi
echo "setup-ssh: installing openssh-server (its service is not started)" >&2
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  # exit 101: "action forbidden", so the package's postinst does not start sshd on port 22
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
