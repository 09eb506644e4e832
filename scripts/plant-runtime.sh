#!/usr/bin/env bash
# A planted change in the runtime, for bench-compare: two OCI runtimes, isobench-plant-a and
# isobench-plant-b, each runc behind a wrapper that sleeps a set delay before `create`.
# Usage: plant-runtime.sh install | ensure | set a|b MS | use a|b MS | remove
#   install: write the wrappers (delay 0), register both, reload dockerd;
#   ensure: register them again if something rewrote daemon.json; set: the delay of one wrapper;
#   use: ensure, then set (what each run of a benchmark does first);
#   remove: take only those two runtimes out of daemon.json (whatever else was registered meanwhile stays;
#   a daemon.json that did not exist before is removed when nothing else is left in it), reload dockerd,
#   remove the wrappers.
set -euo pipefail
state=/run/isobench-plant
lib=/usr/local/libexec/isobench
py=${PYTHON:-python3}

runtimes="$py $(cd "$(dirname "$0")" && pwd)/runtimes.py"

ensure() {  # register both wrappers again if something rewrote daemon.json (dockerd reloads, never restarts)
  $runtimes add "$state" "isobench-plant-a=$lib/plant-a.sh" "isobench-plant-b=$lib/plant-b.sh"
}

set_delay() {  # side, ms
  awk -v ms="$2" 'BEGIN { if (ms == 0) print 0; else printf "%.3f\n", ms / 1000 }' >"$state/$1"
}

case "${1:-}" in
install)
  runc_bin=$(command -v runc) || { echo "plant-runtime: runc is not installed: run make engine first." >&2; exit 2; }
  mkdir -p "$state" "$lib"
  for side in a b; do
    printf '#!/bin/sh\nd=$(cat %s/%s 2>/dev/null || echo 0)\ncase " $* " in *" create "*) [ "$d" = 0 ] || sleep "$d";; esac\nexec %s "$@"\n' \
      "$state" "$side" "$runc_bin" >"$lib/plant-$side.sh"
    chmod 755 "$lib/plant-$side.sh"
    echo 0 >"$state/$side"
  done
  ensure
  ;;
ensure) ensure ;;
use)
  ensure
  set_delay "${2:?side a or b}" "${3:?delay in ms}"
  ;;
set) set_delay "${2:?side a or b}" "${3:?delay in ms}" ;;
remove)  # only our two runtimes go: others registered meanwhile (by another script or a test) stay
  $runtimes remove "$state" isobench-plant-a isobench-plant-b
  rm -rf "$state" "$lib"/plant-a.sh "$lib"/plant-b.sh
  ;;
*) echo "usage: plant-runtime.sh install | ensure | set a|b MS | use a|b MS | remove" >&2; exit 2 ;;
esac
