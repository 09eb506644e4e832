# isobench: every target does its own set-up, so `make bench` and `make test`
# work on a fresh Debian machine as root and leave a host with an engine alone.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
ISOBENCH := $(BIN)/isobench
STAMP   := $(VENV)/.installed
# Extra arguments: make bench ARGS="--rounds 10", make test PYTEST_ARGS="-k writer"
ARGS        ?=
PYTEST_ARGS ?=

.PHONY: bench-swarm bench-compare bench-ab bench-fleet bench-fleet-plant bench-cost history bench-history history-noise history-plant history-scale bench-workloads
.PHONY: setup engine image bench bench-cold bench-scale lint test doctor report compare check bench-overhead bench-analysis faults sweep vm vm-down

$(STAMP): pyproject.toml scripts/setup-venv.sh
	bash scripts/setup-venv.sh "$(PY)" "$(VENV)"
	touch $@

setup: $(STAMP)

engine: $(STAMP)
	bash scripts/setup-engine.sh "$(PYTHON)"

image: engine
	$(ISOBENCH) image

# The toolbox role: an engine in a qemu VM. The run boots it and stops it on every exit path
# (Ctrl-C, SIGTERM, an error); where it cannot come up, the run goes on without it and the
# report says why that role is untestable. Here we only make sure qemu and a kernel are installed.
# Podman modes (--mode podman-runc, podman-runsc): Podman is installed only when ARGS names one.
bench: image
	-bash scripts/setup-vm.sh "$(PYTHON)" --packages-only
	bash scripts/setup-podman.sh $(ARGS)
	$(ISOBENCH) run $(ARGS)

# Cold starts: before each cycle the engine is stopped and started again (the VM
# booted, the local dockerd restarted). Kept apart from warm results in the report.
bench-cold: image
	-bash scripts/setup-vm.sh "$(PYTHON)" --packages-only
	$(ISOBENCH) run --scenario cold $(ARGS)

# Swarm service startup (issue #13): the run brings the local 3-node swarm up (isobench swarm up:
# node dockerds in network namespaces, one of them runsc), measures services of 1, 4 and 8 tasks on the
# runc and the runsc nodes in shuffled rounds, brings the swarm down on every exit path (it owns the
# swarm it brought up), and writes the report of the set it wrote. About 10 minutes here.
SWARM_LOG := build/bench-swarm.log
bench-swarm: engine
	mkdir -p build
	bash -o pipefail -c '$(ISOBENCH) run --scenario service --mode swarm-runc --mode swarm-runsc \
		--rounds 69 --warmup 3 --budget 660 --no-summary $(ARGS) 2>&1 | tee $(SWARM_LOG)'
	$(ISOBENCH) report "$$(sed -n 's/^  writing //p' $(SWARM_LOG) | tail -n 1)"

# Scale on one host (#12): bursts of N = 1..16 containers per mode, 12 times each in shuffled rounds (the
# VM engine: N = 1 and 8, three times), then density steps for runc and runsc until a stop rule; settings
# in bench.toml [scale]. About 10 minutes here. Then `make report` shows its figures and the scaling claims.
bench-scale: image
	-bash scripts/setup-vm.sh "$(PYTHON)" --packages-only
	$(ISOBENCH) run --scenario scale $(ARGS)

# Why one mode is slower (issue 23): a warm set's CPU per start and waterfalls; a planted CPU burner and
# sleeper in front of runc (scripts/plant-cpu.sh restores daemon.json on every exit); the process-event
# listener's own cost (runs with and without it, alternated, compared at 2%); bursts of 16: the
# harness's CPU share. Sets and logs under build/cost. About 15 minutes here.
bench-cost: image
	bash scripts/bench-cost.sh $(ISOBENCH) warm plant listener burst

vm: image
	bash scripts/setup-vm.sh "$(PYTHON)"

vm-down: $(STAMP)
	$(ISOBENCH) vm down

# Style, types and the layer rules first: a violation fails `make test` (and so CI) in seconds.
lint: $(STAMP)
	$(BIN)/ruff check bench analysis tests
	$(BIN)/ruff format --check bench analysis tests
	$(BIN)/mypy

test: lint image
	bash scripts/setup-vm.sh "$(PYTHON)" --packages-only
	bash scripts/setup-podman.sh --always
	bash scripts/setup-ssh.sh
	bash scripts/setup-browser.sh
	bash scripts/setup-fleet.sh
	$(PYTHON) -m pytest -m "not bench" $(PYTEST_ARGS)

doctor: image
	$(ISOBENCH) doctor $(ARGS)

sweep: engine
	$(ISOBENCH) sweep

report: $(STAMP)
	$(ISOBENCH) report $(if $(RESULT),$(RESULT),--latest) $(ARGS)

check: $(STAMP)
	$(ISOBENCH) check $(if $(RESULT),$(RESULT),--latest) $(ARGS)

# make compare A=results/<host>/old.jsonl B=results/<host>/new.jsonl
compare: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "make compare needs two result sets: make compare A=OLD.jsonl B=NEW.jsonl"; exit 2; }
	$(ISOBENCH) compare $(A) $(B) $(ARGS)

# What compare can detect on this host (issue 24): a delay planted in the runtime (runc behind a wrapper
# registered with dockerd for this benchmark only) looked for by two runs with and without --reference,
# six runs a side alternated in time, and in-run A/B; false positives on A/A data; the power table.
# About 20 minutes here. Settings: ROUNDS=30 RUNS=6 PLANT_MS=40 SMALL_MS=10 AB_ROUNDS=100 (environment).
bench-compare: image
	bash scripts/bench-compare.sh $(ISOBENCH)

# Replicated runs alternated in time, when only one side can be installed at once:
# make bench-ab A_SETUP='apt-get install -y docker.io=A' B_SETUP='apt-get install -y docker.io=B' RUNS=3 ARGS="--mode runc"
# then compares the sides as replicated runs (results/ab-<time>/compare/).
bench-ab: image
	A_SETUP="$(A_SETUP)" B_SETUP="$(B_SETUP)" RUNS="$(or $(RUNS),3)" bash scripts/bench-ab.sh $(ISOBENCH) $(ARGS)

# Every result set of every host as one site (issue 22): index, a timeline per host and metric, the
# regressions page, each set's report; change points and drift found. Open build/history/index.html.
# make history RESULTS=DIR SITE=DIR ARGS="--fail-on-new-change" (exit 1 when a host's newest set starts a change).
RESULTS ?= results
SITE    ?= build/history
history: $(STAMP)
	$(ISOBENCH) history $(RESULTS) -o $(SITE) $(ARGS)

# How well history finds a 10% step, a 1.00->1.12 creep and how often it raises a false alarm, on 200
# series each built from the noise of the sets under NOISE (default results/), beside asv-style
# pairwise 5% thresholds. About a minute. REFERENCE=MODE: the noise of each mode's per-round ratio to
# MODE, as `history --reference MODE` tracks it. This machine's own noise, as the issue's figures were
# measured: make history-noise (8 sets of 100 rounds of runc and runsc, about 12 minutes of engine time),
# then make bench-history NOISE=build/history-noise/results REFERENCE=runsc.
NOISE ?= results
REFERENCE ?=
bench-history: $(STAMP)
	$(ISOBENCH) bench-history $(NOISE) $(if $(REFERENCE),--reference $(REFERENCE)) $(ARGS)

# Real sets for bench-history's noise: SETS=8 ROUNDS=100 OUT=build/history-noise (environment), each run
# under the engine lock. About 85 s a set of 100 rounds here.
history-noise: image
	bash scripts/history-noise.sh $(ISOBENCH)

# A real planted change: 10 sets of runc (behind a wrapper registered for this benchmark only) and runsc,
# runc's create delayed PLANT_MS=40 ms in the last PLANTED=4; then the site and the gate replayed after
# each set, by time and with --reference runsc. ROUNDS=60 (environment): about 10 minutes here.
history-plant: image
	bash scripts/history-plant.sh $(ISOBENCH)

# The site's cost at scale: 1,000 synthetic sets of 3 modes, the site built cold (no cache, no reports)
# and again warm. Wall time and peak memory by GNU time (of the largest process: the workers are apart).
SCALE_DIR := build/history-scale
history-scale: $(STAMP)
	rm -rf $(SCALE_DIR) && $(ISOBENCH) bench-history --write-sets $(SCALE_DIR)/results
	command time -f "cold: %e s, peak RSS %M KB" $(ISOBENCH) history $(SCALE_DIR)/results -o $(SCALE_DIR)/site
	command time -f "warm: %e s, peak RSS %M KB" $(ISOBENCH) history $(SCALE_DIR)/results -o $(SCALE_DIR)/site

bench-overhead: image
	$(ISOBENCH) overhead $(ARGS)

bench-analysis: $(STAMP)
	$(ISOBENCH) bench-analysis $(ARGS)

faults: image
	$(PYTHON) -m pytest -m faults -p no:randomly $(PYTEST_ARGS)

# The fleet (issue 21): the local 3-node swarm as the fleet. The harness image is built (mmdebstrap) and
# loaded onto the nodes, a warm benchmark (runc, and runsc where the node has it) runs on each node through a
# Swarm job, one node at a time, each host's set comes back under results/<host>/, then the fleet report
# (results/fleet/report/fleet.html, fleet.md, fleet.csv). The run brings the swarm up and down itself.
bench-fleet: engine
	bash scripts/setup-fleet.sh
	$(ISOBENCH) fleet run --local-swarm --rounds $(or $(ROUNDS),30) --min-rounds $(or $(ROUNDS),30) --warmup 2 --budget 150 $(ARGS)
	$(ISOBENCH) fleet report results

# A host difference planted on one node (its runc wrapped with a 50 ms sleep on create, in that node's mount
# namespace only): the fleet report names the node and attributes it to the host; the report's lines printed.
bench-fleet-plant: image
	bash scripts/setup-fleet.sh
	$(PYTHON) -m pytest -m bench -s -p no:randomly tests/test_fleet_swarm.py -k planted $(PYTEST_ARGS)

# Real workloads (issue 20): image sizes 10M/100M/1G, warm and first start (pulled from a docker-registry
# the run starts on loopback; the VM engine pulls it at 10.0.2.2), readiness by log, exec, tcp and http;
# each engine's image events and the leftovers checked. runc, runsc and the VM engine (its sizes up to
# VM_SIZE_MAX=100M: a 1G image does not fit its in-memory storage). 612 s here (a fresh clone, TCG).
# MODES for the runs' modes: make bench-workloads MODES="--mode runc --mode runsc".
bench-workloads: image
	bash scripts/bench-workloads.sh "$(ISOBENCH)"
