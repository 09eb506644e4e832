"""The labels isobench puts on what it creates on an engine: how sweeps and leases find them."""

RUN_LABEL = "isobench.run"  # every container of a run: isobench.run=<run id>
MODE_LABEL = "isobench.mode"
LEASE_LABEL = "isobench.lease"  # a run's lease sentinel on an engine (bench.engine.lease)
