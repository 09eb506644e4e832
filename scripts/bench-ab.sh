#!/usr/bin/env bash
# Replicated runs alternated in time (A B A B ...), for when only one side can be installed at once.
# Usage: A_SETUP='cmd' B_SETUP='cmd' RUNS=3 OUT=DIR bench-ab.sh ISOBENCH [run options...]
#   A_SETUP / B_SETUP: shell commands that put side A / B in place (install a version, swap a binary);
#   each runs before each of its side's runs. RUNS: runs a side (default 3). OUT: where the sets go
#   (default results/ab-<time>). Every set's path is listed in OUT/manifest as "A PATH" or "B PATH",
#   as each finishes. Then the two sides are compared as replicated runs: isobench compare A... -- B...
set -euo pipefail
isobench=${1:?usage: bench-ab.sh ISOBENCH [run options...]}
shift
runs=${RUNS:-3}
out=${OUT:-results/ab-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
manifest="$out/manifest"
: >"$manifest"
one_run() {  # side, then its set's path goes to the manifest
  local side=$1 setup=$2 log
  shift 2
  if [ -n "$setup" ]; then bash -c "$setup"; fi
  log=$(mktemp)
  "$isobench" run --results "$out/$side" --no-summary --quiet "$@" 2>&1 | tee "$log"
  local path
  path=$(sed -n 's/^  writing //p' "$log" | tail -n 1)
  rm -f "$log"
  [ -n "$path" ] || { echo "bench-ab: the $side run wrote no result set" >&2; exit 1; }
  echo "$side $path" >>"$manifest"
}
for i in $(seq 1 "$runs"); do
  echo "bench-ab: run $i of $runs, side A"
  one_run A "${A_SETUP:-}" "$@"
  echo "bench-ab: run $i of $runs, side B"
  one_run B "${B_SETUP:-}" "$@"
done
mapfile -t a < <(sed -n 's/^A //p' "$manifest")
mapfile -t b < <(sed -n 's/^B //p' "$manifest")
"$isobench" compare "${a[@]}" -- "${b[@]}" --out "$out/compare" ${COMPARE_ARGS:-}
