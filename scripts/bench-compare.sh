#!/usr/bin/env bash
# make bench-compare: what compare can detect on this host, and how often it is wrong (issue 24).
# A change is planted in the runtime (runc behind a wrapper that sleeps before `create`:
# scripts/plant-runtime.sh), then looked for by the three designs: two runs with and without
# --reference runsc, runs alternated in time A B A B ... (replicated runs), and in-run A/B. Then
# false positives on A/A data and the power table (isobench bench-compare). The wrappers are
# registered with dockerd for this benchmark only and taken out on every exit path.
# Usage: bench-compare.sh ISOBENCH   (env: ROUNDS=30 RUNS=6 PLANT_MS=40 SMALL_MS=10 AB_ROUNDS=100 OUT=DIR)
set -euo pipefail
isobench=${1:?usage: bench-compare.sh ISOBENCH}
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-30}
runs=${RUNS:-6}
plant_ms=${PLANT_MS:-40}
small_ms=${SMALL_MS:-10}
ab_rounds=${AB_ROUNDS:-100}
out=${OUT:-build/bench-compare/$(date -u +%Y%m%dT%H%M%SZ)}
# shellcheck source=plant-lib.sh
source "$here/plant-lib.sh"
mkdir -p "$out"
plant_begin
config="$out/bench-compare.toml"
plant_config "$config" candidate
per_run=(--config "$config" --rounds "$rounds" --min-rounds "$rounds" --budget 100000)

echo "== bench-compare: $runs runs a side alternated in time (A: no delay; B: $plant_ms ms before runc's create), $rounds rounds each"
RUNS=$runs OUT="$out/runs" A_SETUP="$plant use a 0" B_SETUP="$plant use a $plant_ms" \
  bash "$here/bench-ab.sh" "$isobench" "${per_run[@]}" --mode runc --mode runsc >"$out/runs.log" 2>&1 \
  || { tail -n 30 "$out/runs.log"; exit 1; }
$plant set a 0

ab_run() {  # delay (ms), rounds, name
  $plant use b "$1"
  "$isobench" ab --config "$config" --rounds "$2" --min-rounds "$2" --budget 100000 --mode runc --mode runc-candidate \
    --results "$out/ab-$3" --quiet --min-effect "${AB_MIN_EFFECT:-0.02}" >"$out/ab-$3.log" 2>&1 \
    || { tail -n 30 "$out/ab-$3.log"; exit 1; }
  echo "ab-$3 $(sed -n 's/^  writing //p' "$out/ab-$3.log" | tail -n 1)" >>"$out/runs/manifest"
  $plant set b 0
}
echo "== bench-compare: in-run A/B: $plant_ms ms at $rounds rounds, $small_ms ms at $ab_rounds rounds"
ab_run "$plant_ms" "$rounds" plant
ab_run "$small_ms" "$ab_rounds" small

"$isobench" bench-compare "$out/runs/manifest" --plant-ms "$plant_ms" --small-ms "$small_ms" | tee "$out/bench-compare.txt"
