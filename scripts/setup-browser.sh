#!/usr/bin/env bash
# The browser tests of the history site (tests/test_history_browser.py) drive Debian's own headless
# Chromium through chromium-driver: no browser is downloaded. Installs both when missing (as root).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
else
  echo "setup-browser: chromium and chromium-driver are missing: install them (apt-get install chromium chromium-driver), or the browser tests are skipped." >&2
fi
