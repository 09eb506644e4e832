#!/usr/bin/env bash
# Brings up the VM-hosted engine (the toolbox role on Linux): installs qemu and a kernel
# on Debian/Ubuntu as root when missing, then `python -m bench vm up` (which reuses a running VM).
# Usage: setup-vm.sh VENV_PYTHON [--packages-only]
set -euo pipefail
python=${1:-.venv/bin/python}
only_packages=${2:-}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup-vm: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup-vm: ${need[*]} missing and this host is not Debian/Ubuntu as root: the toolbox role will be untestable." >&2
    exit 2
  fi
fi
[ "$only_packages" = "--packages-only" ] && exit 0
exec "$python" -m bench vm up
