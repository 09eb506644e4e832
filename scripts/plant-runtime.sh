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
daemon_json=/etc/docker/daemon.json
state=/run/isobench-plant
lib=/usr/local/libexec/isobench
py=${PYTHON:-python3}

reload() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [ -z "$pid" ] || kill -HUP "$pid"
}

register() {  # exit 0 when daemon.json was changed
  "$py" - "$daemon_json" "$lib" <<'PY'
import json, os, sys
path, lib = sys.argv[1], sys.argv[2]
cfg = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
want = {f"isobench-plant-{s}": {"path": f"{lib}/plant-{s}.sh"} for s in "ab"}
if all(cfg.get("runtimes", {}).get(k) == v for k, v in want.items()):
    sys.exit(1)
cfg.setdefault("runtimes", {}).update(want)
json.dump(cfg, open(path, "w"), indent=2)
PY
}

ensure() {
  if register; then
    reload
    for _ in $(seq 50); do
      docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q isobench-plant-b && return 0
      sleep 0.2
    done
    echo "plant-runtime: dockerd did not pick up the plant runtimes" >&2
    exit 1
  fi
}

set_delay() {  # side, ms
  awk -v ms="$2" 'BEGIN { if (ms == 0) print 0; else printf "%.3f\n", ms / 1000 }' >"$state/$1"
}

case "${1:-}" in
install)
  runc_bin=$(command -v runc) || { echo "plant-runtime: runc is not installed: run make engine first." >&2; exit 2; }
  mkdir -p "$state" "$lib"
  [ -f "$daemon_json" ] || touch "$state/no-daemon.json"
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
  if [ -f "$daemon_json" ]; then
    "$py" - "$daemon_json" "$state" <<'PY'
import json, os, sys
path, state = sys.argv[1], sys.argv[2]
cfg = json.load(open(path)) if os.path.getsize(path) else {}
runtimes = cfg.get("runtimes", {})
for side in "ab":
    runtimes.pop(f"isobench-plant-{side}", None)
if not runtimes:
    cfg.pop("runtimes", None)
if not cfg and os.path.exists(os.path.join(state, "no-daemon.json")):
    os.remove(path)
else:
    json.dump(cfg, open(path, "w"), indent=2)
PY
  fi
  reload || true
  rm -rf "$state" "$lib"/plant-a.sh "$lib"/plant-b.sh
  ;;
*) echo "usage: plant-runtime.sh install | ensure | set a|b MS | use a|b MS | remove" >&2; exit 2 ;;
esac
