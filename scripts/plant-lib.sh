# Shared by the benchmarks that plant a delay in runc (bench-compare.sh, history-plant.sh); source it.
# plant_begin: the plant runtimes registered, and taken out again on every exit path (Ctrl-C, TERM, errors).
# plant_config FILE [candidate]: the run's config: runc behind isobench-plant-a, runsc untouched, and with
#   "candidate" a second runc (runc-candidate) behind isobench-plant-b, for in-run A/B.
# plant_run SIDE MS ISOBENCH RUN_ARGS...: the delay set on one side (the runtimes registered again, under
#   the engine lock, if something rewrote daemon.json), then one `isobench run` under the engine lock; a run that finds the
#   engine leased by a run that took no lock is tried again, once, a minute later.
plant="bash $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/plant-runtime.sh"

plant_begin() {
  trap '$plant remove' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # daemon.json rewritten and dockerd reloaded: under the engine lock, so no other run is measured meanwhile
  flock /tmp/isobench-engine.lock $plant install
}

plant_config() {
  cat >"$1" <<TOML
# runc behind the plant wrapper (a delay slept before create), runsc untouched (the reference).
[run]
warmup = 2
[[mode]]
preset = "runc"
runtime = "isobench-plant-a"
[[mode]]
preset = "runsc"
TOML
  if [ "${2:-}" = candidate ]; then
    cat >>"$1" <<TOML
[[mode]]
preset = "runc"
name = "runc-candidate"
role = "candidate"
runtime = "isobench-plant-b"
TOML
  fi
}

plant_run() {
  local side=$1 ms=$2 isobench=$3 attempt
  shift 3
  flock /tmp/isobench-engine.lock $plant ensure
  $plant set "$side" "$ms"
  for attempt in 1 2; do
    if flock /tmp/isobench-engine.lock "$isobench" run "$@"; then
      return 0
    fi
    [ "$attempt" = 2 ] && return 1
    sleep 60
  done
}
