#!/usr/bin/env bash
# Issue 23's checks on this host, each run holding the shared engine lock only while it runs:
#   warm      a warm set of runc and runsc (ROUNDS, default 40): CPU per start, the waterfalls
#   plant     runc, runsc and runc behind the planted burner and sleeper (scripts/plant-cpu.sh): the
#             burner must add 50 +- 10 ms to runc's engine CPU, the sleeper nothing, runsc stay put
#   listener  the process-event listener's own cost in one run: runc with it and runc-off without it
#             (ISOBENCH_PROC_EVENTS_OFF=runc-off: unsubscribed for its cycles), in the same interleaved
#             rounds (AB_ROUNDS, default 100), compared by `isobench ab` at 2%
#   listener-runs  the same as whole runs with and without it (ISOBENCH_PROC_EVENTS=1/0), alternated in
#             time (A B A B ..., RUNS a side), then `isobench compare` of the two sides
#   burst     bursts of N = 16 (REPEAT, default 8) for runc and runsc: the harness's CPU share, with each
#             worker's own docker-py client (ISOBENCH_LEAN_WORKERS=0) and with the lean workers
# Usage: bench-cost.sh ISOBENCH warm|plant|listener|burst...   (sets under OUT, default build/cost)
set -euo pipefail
isobench=${1:?usage: bench-cost.sh ISOBENCH warm|plant|listener|burst...}
shift
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-build/cost}
lock=${ISOBENCH_LOCK:-/tmp/isobench-engine.lock}
rounds=${ROUNDS:-40}
mkdir -p "$out"
# shellcheck source=plant-lib.sh
source "$here/plant-lib.sh"  # modes_config

run() {  # name, then run options: the set's path goes to $out/<name>.path. Waits out another run's lease.
  local name=$1 rc
  shift
  for _ in 1 2 3 4 5 6 7 8; do
    set +e
    flock "$lock" "$isobench" run --results "$out/$name" --quiet "$@" >"$out/$name.log" 2>&1
    rc=$?
    set -e
    grep -q "leased by another isobench run" "$out/$name.log" || break
    sleep 15
  done
  tail -n 12 "$out/$name.log"
  sed -n 's/^  writing //p' "$out/$name.log" | tail -n 1 >"$out/$name.path"
  return $rc
}

for part in "$@"; do
  case $part in
  warm) run warm --mode runc --mode runsc --rounds "$rounds" --min-rounds "$rounds" --budget 100000 ;;
  plant)
    modes_config "$out/plant.toml" "bench-cost plant: runc behind a wrapper that burns SPIN_MS of CPU (or sleeps as long) before create." \
      runc runsc runc:runc-spin:spin@isobench-cpu-spin runc:runc-sleep:sleep@isobench-cpu-sleep
    bash "$here/plant-cpu.sh" with bash "$0" "$isobench" plant-inner
    ;;
  plant-inner) run plant --config "$out/plant.toml" --rounds "$rounds" --min-rounds "$rounds" --budget 100000 --no-summary ;;
  listener)  # in one run: runc with the listener, runc-off without it, in the same interleaved rounds
    modes_config "$out/listener-ab.toml" "the listener's cost: runc with it, runc-off without it, in one run" runc runc:runc-off:candidate
    ISOBENCH_PROC_EVENTS_OFF=runc-off flock "$lock" "$isobench" ab --config "$out/listener-ab.toml" --mode runc \
      --mode runc-off --rounds "${AB_ROUNDS:-100}" --min-rounds "${AB_ROUNDS:-100}" --budget 100000 \
      --results "$out/listener-ab" --quiet --min-effect 0.02 | tee "$out/listener-ab.log"
    ;;
  listener-runs)
    : >"$out/listener.manifest"
    for i in $(seq 1 "${RUNS:-3}"); do
      for side in A B; do
        on=1; [ $side = B ] && on=0
        ISOBENCH_PROC_EVENTS=$on run "listener-$side$i" --mode runc --mode runsc --rounds "${RUN_ROUNDS:-30}" \
          --min-rounds "${RUN_ROUNDS:-30}" --budget 100000 --no-summary
        echo "$side $(cat "$out/listener-$side$i.path")" >>"$out/listener.manifest"
      done
    done
    mapfile -t a < <(sed -n 's/^A //p' "$out/listener.manifest")
    mapfile -t b < <(sed -n 's/^B //p' "$out/listener.manifest")
    "$isobench" compare "${a[@]}" -- "${b[@]}" --min-effect 0.02 --out "$out/listener-compare" | tee "$out/listener-compare.log"
    ;;
  burst)  # before and after the lean workers (each worker's own docker-py client, then its own raw connection)
    for workers in docker-py lean; do
      lean=1; [ $workers = docker-py ] && lean=0
      ISOBENCH_LEAN_WORKERS=$lean run "burst-$workers" --scenario burst --burst 16 --repeat "${REPEAT:-8}" \
        --mode runc --mode runsc --budget 100000 || true
      echo "burst workers $workers:"; grep "harness CPU share" "$out/burst-$workers.log" || true
    done
    ;;
  *) echo "bench-cost: unknown part $part: use warm, plant, listener, listener-runs or burst" >&2; exit 2 ;;
  esac
done
