#!/usr/bin/env bash
# A real planted change for `isobench history` (issue 22): SETS runs of runc (behind the plant wrapper of
# scripts/plant-runtime.sh) and runsc, the last PLANTED of them with PLANT_MS ms slept before runc's create;
# then the site and the gate over them. The planted sets run runc through the second wrapper
# (isobench-plant-b), as an update would bring a different runtime: the sets' headers then differ in the
# runtime runc's mode asked for, the one factor history can name (a delay inside one wrapper shows in no
# header). The engine lock is held for each run only, and the plant is taken out on every exit path.
# Usage: history-plant.sh ISOBENCH   (env: SETS=10 PLANTED=4 PLANT_MS=40 ROUNDS=60 OUT=build/history-plant
#   ONE_LOCK=1: the engine lock held once across the 10 runs, see plant-lib.sh)
set -euo pipefail
isobench=${1:?usage: history-plant.sh ISOBENCH}
here=$(cd "$(dirname "$0")" && pwd)
sets=${SETS:-10}
planted=${PLANTED:-4}
plant_ms=${PLANT_MS:-40}
rounds=${ROUNDS:-60}
out=${OUT:-build/history-plant}
# shellcheck source=plant-lib.sh
source "$here/plant-lib.sh"
mkdir -p "$out/results"
engine_hold
plant_begin
plant_config "$out/history-plant-a.toml"
sed 's/isobench-plant-a/isobench-plant-b/' "$out/history-plant-a.toml" >"$out/history-plant-b.toml"
for i in $(seq 1 "$sets"); do
  side=a ms=0
  [ "$i" -le $((sets - planted)) ] || { side=b; ms=$plant_ms; }
  echo "== set $i of $sets: runc (isobench-plant-$side) create delayed by $ms ms"
  plant_run "$side" "$ms" "$isobench" --config "$out/history-plant-$side.toml" --rounds "$rounds" \
    --min-rounds "$rounds" --budget 100000 --mode runc --mode runsc --results "$out/results" --no-summary --quiet
done
# The plant out (dockerd reloaded) under the engine lock; the exit trap stays for the error paths before here
$lock $plant remove
trap - EXIT
engine_release
for ref in "" "--reference runsc"; do
  echo "== history ${ref:-by time}: the site, then the gate as it would have run after each set"
  "$isobench" history "$out/results" -o "$out/site${ref:+-ref}" $ref || true
  bash "$here/history-gate-replay.sh" "$isobench" "$(ls -d "$out"/results/*/ | head -n 1)" $ref
done
