#!/usr/bin/env bash
# A real planted change for `isobench history` (issue 22): SETS runs of runc (behind the plant wrapper of
# scripts/plant-runtime.sh) and runsc, the last PLANTED of them with PLANT_MS ms slept before runc's create;
# then the site and the gate over them. The engine lock is held for each run only, and the plant is taken
# out on every exit path.
# Usage: history-plant.sh ISOBENCH   (env: SETS=10 PLANTED=4 PLANT_MS=40 ROUNDS=20 OUT=build/history-plant)
set -euo pipefail
isobench=${1:?usage: history-plant.sh ISOBENCH}
here=$(cd "$(dirname "$0")" && pwd)
sets=${SETS:-10}
planted=${PLANTED:-4}
plant_ms=${PLANT_MS:-40}
rounds=${ROUNDS:-20}
out=${OUT:-build/history-plant}
plant="bash $here/plant-runtime.sh"
mkdir -p "$out/results"
trap '$plant remove' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
$plant install
config="$out/history-plant.toml"
cat >"$config" <<TOML
# history-plant: runc behind the plant wrapper (a delay slept before create for the last sets), runsc untouched.
[run]
warmup = 2
[[mode]]
preset = "runc"
runtime = "isobench-plant-a"
[[mode]]
preset = "runsc"
TOML
for i in $(seq 1 "$sets"); do
  ms=0
  [ "$i" -le $((sets - planted)) ] || ms=$plant_ms
  $plant ensure
  $plant set a "$ms"
  echo "== set $i of $sets: runc create delayed by $ms ms"
  # A run that finds the engine leased by a run that took no lock is tried again, once, a minute later.
  for attempt in 1 2; do
    if flock /tmp/isobench-engine.lock "$isobench" run --config "$config" --rounds "$rounds" --min-rounds "$rounds" \
      --budget 100000 --mode runc --mode runsc --results "$out/results" --no-summary --quiet; then
      break
    fi
    [ "$attempt" = 2 ] && exit 1
    sleep 60
  done
done
$plant set a 0
for ref in "" "--reference runsc"; do
  echo "== history ${ref:-by time}: the site, then the gate as it would have run after each set"
  "$isobench" history "$out/results" -o "$out/site${ref:+-ref}" $ref || true
  bash "$here/history-gate-replay.sh" "$isobench" "$(ls -d "$out"/results/*/ | head -n 1)" $ref
done
