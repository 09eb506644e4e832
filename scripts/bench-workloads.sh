#!/usr/bin/env bash
# make bench-workloads (issue 20): the published ranking for the user's image and first start.
#  1. images of 10M, 100M and 1G (isobench image --size: the test image plus incompressible data);
#  2. readiness by log and by exec (and tcp/http), one short warm run of workloads (workloads.toml);
#  3. --scenario size: runc and runsc x each size, warm, interleaved;
#  4. --scenario size --first-start: each cycle removes the image and pulls it from a docker-registry the
#     run starts on loopback (pushed once, untimed), then starts it;
#  then the engine's image events (a pull per first-start cycle), the reports, and a check that nothing is
#  left (containers, the registry process, its storage, its tags). The size images are removed at the end.
# Usage: bench-workloads.sh ISOBENCH   (env: ROUNDS=12 FS_ROUNDS=8 SIZES=10M,100M,1G MODES="--mode runc --mode runsc"
#                                        OUT=DIR)
set -euo pipefail
isobench=${1:?usage: bench-workloads.sh ISOBENCH}
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-12}
fs_rounds=${FS_ROUNDS:-8}
sizes=${SIZES:-10M,100M,1G}
modes=${MODES:---mode runc --mode runsc}
out=${OUT:-build/bench-workloads/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
events=
trap '[ -n "$events" ] && kill "$events" 2>/dev/null; "$isobench" image --size "$sizes" --remove >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$here/setup-registry.sh"
"$isobench" image
"$isobench" image --size "$sizes"
set_of() { sed -n 's/^  writing //p' "$1" | tail -n 1; }

# readiness probes: log, exec, tcp, http, and one that never succeeds (timeout samples, the run goes on)
"$isobench" run --config "$here/../docs/examples/workloads.toml" --rounds 6 --warmup 0 --no-summary 2>&1 | tee "$out/probes.log"
# shellcheck disable=SC2086
"$isobench" run --scenario size --sizes "$sizes" $modes --rounds "$rounds" --warmup 1 --budget 100000 \
  --no-summary 2>&1 | tee "$out/size.log"
# every image event of the first-start run, streamed (the engine keeps only its last 256 for --since)
timeout 3600 docker events --filter type=image --format '{{.Action}} {{.Actor.ID}}' >"$out/image-events.txt" &
events=$!
sleep 1
# shellcheck disable=SC2086
"$isobench" run --scenario size --first-start --sizes "$sizes" $modes --rounds "$fs_rounds" --warmup 0 \
  --budget 100000 --no-summary 2>&1 | tee "$out/first-start.log"
sleep 1
kill "$events" 2>/dev/null || true
fs_set=$(set_of "$out/first-start.log")
pulls=$(grep -c '^pull ' "$out/image-events.txt" || true)
deletes=$(grep -c '^delete ' "$out/image-events.txt" || true)
cycles=$(grep -c '"phase":"pull","duration_ns":[0-9]*,"ok":true' "$fs_set" || true)
echo "engine image events during the first-start run: $pulls pulls, $deletes deletes; pull samples ok: $cycles" | tee "$out/events.txt"
for f in probes size first-start; do
  "$isobench" report "$(set_of "$out/$f.log")" >"$out/report-$f.txt" 2>&1 || echo "report of the $f set failed: see $out/report-$f.txt"
done
left_containers=$(docker ps -aq --filter label=isobench.run | wc -l)
left_registry=$(pgrep -c -x docker-registry || true)
left_storage=$(find /tmp -maxdepth 1 -name 'isobench-registry-*' | wc -l)
left_tags=$(docker images --format '{{.Repository}}' | grep -c '^127\.0\.0\.1:' || true)
echo "left: $left_containers containers, $left_registry registry processes, $left_storage registry folders, $left_tags registry tags" | tee -a "$out/events.txt"
"$here/../.venv/bin/python" -m analysis.size_plots "$(set_of "$out/size.log")" "$fs_set" | tee "$out/table.md"
for f in size first-start; do
  "$here/../.venv/bin/python" - "$(set_of "$out/$f.log")" <<'PY'
import json, pathlib, sys
report = pathlib.Path(sys.argv[1]).with_suffix(".report") / "claims.json"
for c in json.loads(report.read_text()):
    if c["claim"]["id"].startswith(("size-", "first-start-size")):
        print(f'{c["claim"]["id"]}: {c["verdict"]} ({c["reason"]})')
PY
done | tee -a "$out/table.md"
[ "$pulls" -ge "$cycles" ] && [ "$left_containers$left_registry$left_storage$left_tags" = "0000" ]
