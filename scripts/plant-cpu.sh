#!/usr/bin/env bash
# A planted CPU burner in the runtime (issue 23): two OCI runtimes in front of runc, registered with the
# host's dockerd, to check that isobench's engine CPU sees the runtime's CPU and nothing else:
#   isobench-cpu-spin:  on `create`, spins SPIN_MS (default 50) ms of CPU, then exec's runc;
#   isobench-cpu-sleep: on `create`, sleeps as long with next to no CPU (coreutils' sleep).
# Usage: plant-cpu.sh with COMMAND...   install, run COMMAND, then remove whatever happens (exit, Ctrl-C);
#        plant-cpu.sh install | remove
# daemon.json: scripts/runtimes.py adds only the two runtimes and takes only those out again.
set -euo pipefail
state=/run/isobench-plant-cpu
lib=/usr/local/libexec/isobench
py=${PYTHON:-python3}
spin_ms=${SPIN_MS:-50}

runtimes="$py $(cd "$(dirname "$0")" && pwd)/runtimes.py"

install() {
  local runc_bin
  runc_bin=$(command -v runc) || { echo "plant-cpu: runc is not installed: run make engine first." >&2; exit 2; }
  command -v perl >/dev/null || { echo "plant-cpu: perl is needed for the burner." >&2; exit 2; }
  mkdir -p "$state" "$lib"
  local s=$(awk -v ms="$spin_ms" 'BEGIN { printf "%.3f", ms / 1000 }')
  # The burner counts its own CPU from its first instruction (perl's start-up included), so it costs
  # SPIN_MS in all.
  printf '#!/bin/sh\ncase " $* " in *" create "*) perl -MTime::HiRes=clock_gettime,CLOCK_PROCESS_CPUTIME_ID -e '"'"'1 while clock_gettime(CLOCK_PROCESS_CPUTIME_ID) < %s'"'"';; esac\nexec %s "$@"\n' \
    "$s" "$runc_bin" >"$lib/isobench-cpu-spin.sh"
  # coreutils' sleep: about 1 ms of CPU in all (perl's start-up alone costs about 6)
  printf '#!/bin/sh\ncase " $* " in *" create "*) sleep %s;; esac\nexec %s "$@"\n' \
    "$s" "$runc_bin" >"$lib/isobench-cpu-sleep.sh"
  chmod 755 "$lib/isobench-cpu-spin.sh" "$lib/isobench-cpu-sleep.sh"
  $runtimes add "$state" "isobench-cpu-spin=$lib/isobench-cpu-spin.sh" "isobench-cpu-sleep=$lib/isobench-cpu-sleep.sh"
}

remove() {
  $runtimes remove "$state" isobench-cpu-spin isobench-cpu-sleep
  rm -rf "$state" "$lib/isobench-cpu-spin.sh" "$lib/isobench-cpu-sleep.sh"
}

case "${1:-}" in
install) install ;;
remove) remove ;;
with)
  shift
  trap remove EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  install
  "$@"
  ;;
*) echo "usage: plant-cpu.sh with COMMAND... | install | remove" >&2; exit 2 ;;
esac
