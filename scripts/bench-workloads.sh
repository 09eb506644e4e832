#!/usr/bin/env bash
# make bench-workloads (issue 20): the published ranking for the user's image and first start.
#  1. images of 10M, 100M and 1G (isobench image --size: the test image plus incompressible data);
#  2. readiness by log and by exec (and tcp/http), one short warm run of workloads (workloads.toml);
#  3. --scenario size: runc, runsc and the VM engine x each size, warm, interleaved;
#  4. --scenario size --first-start: each cycle removes the image and pulls it from a docker-registry the
#     run starts on loopback (pushed once, untimed, from this host's engine); the VM's engine pulls it at
#     10.0.2.2, qemu's address for the host's loopback, so the host still connects only to loopback;
#  then the engines' image events (a pull per first-start cycle: the host's from dockerd, the VM's from the
#  VM's own engine), the reports, and a check that nothing is left (containers, the registry process, its
#  storage, its tags, the VM). The size images are removed at the end.
# The VM engine (TCG here, one vCPU) runs sizes up to VM_SIZE_MAX (100M): its first starts take ~5 s (10M)
# and ~14 s (100M) a cycle here; a 1G one does not fit its in-memory storage (vfs: each layer a full copy;
# measured: the pull ran out of space at the 4th layer after 104 s, with 6 GB), and at 2+ minutes a cycle
# 8 rounds of it would not fit in the 15 minutes either.
# The VM is brought up once for both runs (isobench vm up: its image events stream from before the first
# pull) and stopped on every exit path (vm down); without qemu, the VM mode is left out and it says so.
# Usage: bench-workloads.sh ISOBENCH   (env: ROUNDS=12 FS_ROUNDS=8 SIZES=10M,100M,1G VM_SIZE_MAX=100M
#                                        MODES="--mode runc --mode runsc --mode vm-engine" OUT=DIR)
set -euo pipefail
isobench=${1:?usage: bench-workloads.sh ISOBENCH}
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-12}
fs_rounds=${FS_ROUNDS:-8}
sizes=${SIZES:-10M,100M,1G}
modes=${MODES:---mode runc --mode runsc --mode vm-engine}
vm_max=${VM_SIZE_MAX:-100M}
python="$here/../.venv/bin/python"
out=${OUT:-build/bench-workloads/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
events= vm_events= vm_up=
cleanup() {
  for p in $events $vm_events; do kill "$p" 2>/dev/null || true; done
  [ -n "$vm_up" ] && "$isobench" vm down >/dev/null 2>&1
  "$isobench" image --size "$sizes" --remove >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$(date +%s)

bash "$here/setup-registry.sh"
"$isobench" image
"$isobench" image --size "$sizes"
set_of() { sed -n 's/^  writing //p' "$1" | tail -n 1; }

# readiness probes: log, exec, tcp, http, and one that never succeeds (timeout samples, the run goes on)
"$isobench" run --config "$here/../docs/examples/workloads.toml" --rounds 6 --warmup 0 --no-summary 2>&1 | tee "$out/probes.log"
# the VM engine, up once for both size runs (after the probes' run: an idle guest still costs some CPU)
case " $modes " in *" --mode vm-engine "*)
  if bash "$here/setup-vm.sh" "$python" --packages-only && vm_up=1 && "$isobench" vm up; then
    modes="$modes --size-max vm-engine=$vm_max"
  else
    echo "bench-workloads: the VM engine did not come up (see build/vm/console.log): runs without it" >&2
    if [ -n "$vm_up" ]; then "$isobench" vm down >/dev/null 2>&1 || true; vm_up=; fi
    modes=${modes//--mode vm-engine/}
  fi;;
esac
# shellcheck disable=SC2086
"$isobench" run --scenario size --sizes "$sizes" $modes --rounds "$rounds" --warmup 1 --budget 100000 \
  --no-summary 2>&1 | tee "$out/size.log"
# every image event of the first-start run, streamed (the engine keeps only its last 256 for --since): the
# host's dockerd, and the VM's own engine (its events never reach the host's)
timeout 3600 docker events --filter type=image --format '{{.Action}} {{.Actor.ID}}' >"$out/image-events.txt" &
events=$!
if [ -n "$vm_up" ]; then
  "$python" - "$out/vm-image-events.txt" <<'PY' &
import sys
from bench.engine.control.vm.qemu import vm_client

with open(sys.argv[1], "w") as out:
    for e in vm_client(60).events(decode=True, filters={"type": "image"}):
        out.write(f"{e.get('Action')} {(e.get('Actor') or {}).get('ID')}\n")
        out.flush()
PY
  vm_events=$!
fi
sleep 2
# shellcheck disable=SC2086
"$isobench" run --scenario size --first-start --sizes "$sizes" $modes --rounds "$fs_rounds" --warmup 0 \
  --budget 100000 --no-summary 2>&1 | tee "$out/first-start.log"
sleep 2
for p in $events $vm_events; do kill "$p" 2>/dev/null || true; done
events= vm_events=
touch "$out/vm-image-events.txt"
fs_set=$(set_of "$out/first-start.log")
# ok pull samples per engine (the VM's mode apart), against each engine's own pull events
read -r cycles vm_cycles < <("$python" - "$fs_set" <<'PY'
import json, sys
n = {"host": 0, "vm": 0}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("type") == "sample" and r.get("phase") == "pull" and r.get("ok"):
        n["vm" if r.get("mode") == "vm-engine" else "host"] += 1
print(n["host"], n["vm"])
PY
)
pulls=$(grep -c '^pull ' "$out/image-events.txt" || true)
deletes=$(grep -c '^delete ' "$out/image-events.txt" || true)
vm_pulls=$(grep -c '^pull ' "$out/vm-image-events.txt" || true)
vm_deletes=$(grep -c '^delete ' "$out/vm-image-events.txt" || true)
echo "engine image events during the first-start run: host dockerd $pulls pulls, $deletes deletes (pull samples ok: $cycles); VM engine $vm_pulls pulls, $vm_deletes deletes (pull samples ok: $vm_cycles)" | tee "$out/events.txt"
for f in probes size first-start; do
  "$isobench" report "$(set_of "$out/$f.log")" >"$out/report-$f.txt" 2>&1 || echo "report of the $f set failed: see $out/report-$f.txt"
done
left_containers=$(docker ps -aq --filter label=isobench.run | wc -l)
left_registry=$(pgrep -c -x docker-registry || true)
left_storage=$(find /tmp -maxdepth 1 -name 'isobench-registry-*' | wc -l)
left_tags=$(docker images --format '{{.Repository}}' | grep -c '^127\.0\.0\.1:' || true)
# the VM: stopped here (its storage is in its memory: its images and tags go with it)
if [ -n "$vm_up" ]; then "$isobench" vm down >/dev/null 2>&1; vm_up=; fi
left_vm=$(pgrep -c -f "qemu-system-x86_64.*$(cd "$here/.." && pwd)/build/vm/initrd.cpio" || true)
echo "left: $left_containers containers, $left_registry registry processes, $left_storage registry folders, $left_tags registry tags, $left_vm VMs" | tee -a "$out/events.txt"
"$python" -m analysis.size_plots "$(set_of "$out/size.log")" "$fs_set" | tee "$out/table.md"
for f in size first-start; do
  "$python" - "$(set_of "$out/$f.log")" <<'PY'
import json, pathlib, sys
report = pathlib.Path(sys.argv[1]).with_suffix(".report") / "claims.json"
for c in json.loads(report.read_text()):
    if c["claim"]["id"].startswith(("size-", "first-start-size")):
        print(f'{c["claim"]["id"]}: {c["verdict"]} ({c["reason"]})')
PY
done | tee -a "$out/table.md"
echo "bench-workloads: $(( $(date +%s) - started )) s in all (the VM engine: sizes up to $vm_max)" | tee -a "$out/table.md"
[ "$pulls" -ge "$cycles" ] && [ "$vm_pulls" -ge "$vm_cycles" ] && [ "$left_containers$left_registry$left_storage$left_tags$left_vm" = "00000" ]
