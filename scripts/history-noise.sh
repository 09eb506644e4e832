#!/usr/bin/env bash
# Real noise for `make bench-history` (issue 22): SETS sets of runc and runsc, ROUNDS rounds each, on this
# machine, one after the other, each under the engine lock (held for that run only). bench-history
# resamples their rounds; the per-round ratio runc/runsc's set-to-set spread shrinks as 1/sqrt(ROUNDS).
# Usage: history-noise.sh ISOBENCH   (env: SETS=8 ROUNDS=100 OUT=build/history-noise;
#   ONE_LOCK=1: the engine lock held once across the sets, see plant-lib.sh)
# About 85 s a set of 100 rounds here (12 minutes for the default 8).
set -euo pipefail
isobench=${1:?usage: history-noise.sh ISOBENCH}
sets=${SETS:-8}
rounds=${ROUNDS:-100}
out=${OUT:-build/history-noise}
mkdir -p "$out/results"
# shellcheck source=plant-lib.sh
source "$(cd "$(dirname "$0")" && pwd)/plant-lib.sh"  # engine_hold, engine_release (ONE_LOCK=1), $lock
engine_hold
for i in $(seq 1 "$sets"); do
  echo "== noise set $i of $sets: $rounds rounds of runc and runsc"
  $lock "$isobench" run --mode runc --mode runsc --rounds "$rounds" --min-rounds "$rounds" \
    --budget 100000 --results "$out/results" --no-summary --quiet
done
engine_release
