# Shared by the benchmarks that plant a delay in runc (bench-compare.sh, history-plant.sh); source it.
# plant_begin: the plant runtimes registered, and taken out again on every exit path (Ctrl-C, TERM, errors).
# modes_config FILE COMMENT MODE...: a run config (warmup 2) with one [[mode]] per MODE, written
#   PRESET[:NAME[:ROLE]][@RUNTIME], e.g. runc@isobench-plant-a or runc:runc-off:candidate.
# plant_config FILE [candidate]: the run's config: runc behind isobench-plant-a, runsc untouched, and with
#   "candidate" a second runc (runc-candidate) behind isobench-plant-b, for in-run A/B.
# plant_run SIDE MS ISOBENCH RUN_ARGS...: the delay set on one side (the runtimes registered again, under
#   the engine lock, if something rewrote daemon.json), then one `isobench run` under the engine lock; a run that finds the
#   engine leased by a run that took no lock is tried again, once, a minute later.
# engine_hold / engine_release: with ONE_LOCK=1 the engine lock is taken once for the whole series (on a busy
#   shared machine each run waiting its turn again can take longer than the runs); every step then takes
#   none of its own (a second flock on the same file would wait for ourselves).
plant="bash $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/plant-runtime.sh"
lock="flock /tmp/isobench-engine.lock"

engine_hold() {
  if [ "${ONE_LOCK:-}" = 1 ]; then
    exec 9>/tmp/isobench-engine.lock
    flock 9
    lock=""
  fi
}

engine_release() {
  if [ "${ONE_LOCK:-}" = 1 ]; then
    flock -u 9
    exec 9>&-
    lock="flock /tmp/isobench-engine.lock"
  fi
}

plant_begin() {
  trap '$lock $plant remove' EXIT  # a reload under the lock: never inside another run's measurement
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # daemon.json rewritten and dockerd reloaded: under the engine lock, so no other run is measured meanwhile
  $lock $plant install
}

modes_config() {
  local file=$1 mode preset name role runtime
  printf '# %s\n[run]\nwarmup = 2\n' "$2" >"$file"
  shift 2
  for mode in "$@"; do
    runtime=
    if [[ $mode == *@* ]]; then runtime=${mode#*@} mode=${mode%@*}; fi
    IFS=: read -r preset name role <<<"$mode"
    printf '[[mode]]\npreset = "%s"\n' "$preset" >>"$file"
    [ -z "$name" ] || printf 'name = "%s"\n' "$name" >>"$file"
    [ -z "$role" ] || printf 'role = "%s"\n' "$role" >>"$file"
    [ -z "$runtime" ] || printf 'runtime = "%s"\n' "$runtime" >>"$file"
  done
}

plant_config() {
  local candidate=()
  [ "${2:-}" != candidate ] || candidate=(runc:runc-candidate:candidate@isobench-plant-b)
  modes_config "$1" "runc behind the plant wrapper (a delay slept before create), runsc untouched (the reference)." \
    runc@isobench-plant-a runsc "${candidate[@]}"
}

plant_run() {
  local side=$1 ms=$2 isobench=$3 attempt
  shift 3
  $lock $plant ensure
  $plant set "$side" "$ms"
  for attempt in 1 2; do
    if $lock "$isobench" run "$@"; then
      return 0
    fi
    [ "$attempt" = 2 ] && return 1
    sleep 60
  done
}
