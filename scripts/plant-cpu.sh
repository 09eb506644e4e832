#!/usr/bin/env bash
# A planted CPU burner in the runtime (issue 23): two OCI runtimes in front of runc, registered with the
# host's dockerd, to check that isobench's engine CPU sees the runtime's CPU and nothing else:
#   isobench-cpu-spin:  on `create`, spins SPIN_MS (default 50) ms of CPU, then exec's runc;
#   isobench-cpu-sleep: on `create`, sleeps as long with next to no CPU (coreutils' sleep).
# Usage: plant-cpu.sh with COMMAND...   install, run COMMAND, then remove whatever happens (exit, Ctrl-C);
#        plant-cpu.sh install | remove
# daemon.json: install keeps a copy and adds only its two runtimes; remove takes only those two out again
# (another script's runtimes, added meanwhile, stay), and a daemon.json that did not exist is removed.
# dockerd re-reads its runtimes on SIGHUP: it is never restarted.
set -euo pipefail
daemon_json=/etc/docker/daemon.json
state=/run/isobench-plant-cpu
lib=/usr/local/libexec/isobench
py=${PYTHON:-python3}
spin_ms=${SPIN_MS:-50}

reload() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [ -z "$pid" ] || kill -HUP "$pid"
}

edit() {  # add | remove: our two runtimes in daemon.json
  "$py" - "$1" "$daemon_json" "$lib" <<'PY'
import json, os, sys
op, path, lib = sys.argv[1:4]
cfg = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
runtimes = cfg.setdefault("runtimes", {})
for name in ("isobench-cpu-spin", "isobench-cpu-sleep"):
    if op == "add":
        runtimes[name] = {"path": f"{lib}/{name}.sh"}
    else:
        runtimes.pop(name, None)
if not runtimes:
    cfg.pop("runtimes")
tmp = path + ".isobench-tmp"
with open(tmp, "w") as f:
    json.dump(cfg, f, indent=2)
os.replace(tmp, path)
PY
}

install() {
  local runc_bin
  runc_bin=$(command -v runc) || { echo "plant-cpu: runc is not installed: run make engine first." >&2; exit 2; }
  command -v perl >/dev/null || { echo "plant-cpu: perl is needed for the burner." >&2; exit 2; }
  mkdir -p "$state" "$lib"
  if [ ! -e "$state/daemon.json.orig" ] && [ ! -e "$state/no-daemon.json" ]; then
    if [ -f "$daemon_json" ]; then cp "$daemon_json" "$state/daemon.json.orig"; else touch "$state/no-daemon.json"; fi
  fi
  local s=$(awk -v ms="$spin_ms" 'BEGIN { printf "%.3f", ms / 1000 }')
  # The burner counts its own CPU from its first instruction (perl's start-up included), so it costs
  # SPIN_MS in all.
  printf '#!/bin/sh\ncase " $* " in *" create "*) perl -MTime::HiRes=clock_gettime,CLOCK_PROCESS_CPUTIME_ID -e '"'"'1 while clock_gettime(CLOCK_PROCESS_CPUTIME_ID) < %s'"'"';; esac\nexec %s "$@"\n' \
    "$s" "$runc_bin" >"$lib/isobench-cpu-spin.sh"
  # coreutils' sleep: about 1 ms of CPU in all (perl's start-up alone costs about 6)
  printf '#!/bin/sh\ncase " $* " in *" create "*) sleep %s;; esac\nexec %s "$@"\n' \
    "$s" "$runc_bin" >"$lib/isobench-cpu-sleep.sh"
  chmod 755 "$lib/isobench-cpu-spin.sh" "$lib/isobench-cpu-sleep.sh"
  edit add
  reload
  for _ in $(seq 50); do
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q isobench-cpu-sleep && return 0
    sleep 0.2
  done
  echo "plant-cpu: dockerd did not pick up the planted runtimes" >&2
  exit 1
}

remove() {
  if [ -e "$state/no-daemon.json" ]; then
    edit remove
    [ "$(tr -d ' \n' <"$daemon_json")" != "{}" ] || rm -f "$daemon_json"
  elif [ -e "$daemon_json" ]; then
    edit remove
  fi
  reload || true
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
