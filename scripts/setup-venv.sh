#!/usr/bin/env bash
# Creates the project's virtual environment and installs isobench into it.
# Usage: setup-venv.sh PYTHON VENV_DIR
set -euo pipefail
py=${1:-python3}
venv=${2:-.venv}
if ! "$py" -m venv --help >/dev/null 2>&1 || ! "$py" -c 'import ensurepip' >/dev/null 2>&1; then
  # Debian splits venv/ensurepip out of python3; install it when we can.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "setup-venv: '$py -m venv' is not available: install your distribution's python3-venv package, then run make again." >&2
    exit 2
  fi
fi
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q -e '.[test,ssh,fleet]'
