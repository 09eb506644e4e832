#!/usr/bin/env bash
# The history gate as CI would have run it after each set arrived: for k = 1..N, the first k sets of
# RESULTS_DIR/HOST (in time order: their names start with the time) copied apart, then
# `isobench history --fail-on-new-change` on them. Prints one line per set: its name, the exit and the
# gate's sentence. Usage: history-gate-replay.sh ISOBENCH RESULTS_DIR/HOST [history options...]
set -euo pipefail
isobench=${1:?usage: history-gate-replay.sh ISOBENCH RESULTS_DIR/HOST [options]}
host_dir=${2:?usage: history-gate-replay.sh ISOBENCH RESULTS_DIR/HOST [options]}
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/results/$(basename "$host_dir")"
k=0
for set in $(ls "$host_dir"/*.jsonl | sort); do
  k=$((k + 1))
  cp "$set" "$work/results/$(basename "$host_dir")/"
  rc=0
  sentence=$("$isobench" history "$work/results" -o "$work/site" --fail-on-new-change "$@" 2>&1 >/dev/null) || rc=$?
  echo "after set $k ($(basename "$set" .jsonl)): exit $rc${sentence:+: $sentence}"
done
