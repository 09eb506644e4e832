"""What a start costs the host, and where its time goes inside the engine (issue 23): the names the
probe (bench.measure.cost) writes and the analysis (analysis.cost) reads, kept in one place.

CPU figures are cost records (bench.results.resultset.cost_record, never samples: a cost is no phase
of the cycle), one per metric per measured cycle (and per burst: slot null): their ``value_ns`` is CPU
time (user + system) in ns consumed between just before create and just after remove, never wall time.
A figure that cannot be had is not written (never as 0): the header's ``harness.cost`` says per mode why.

The startup waterfall: the start call's time split at the moments the engine's processes were
exec'd and exited (the kernel's process events, on the harness's perf_counter clock). Each step is
a cost record ``wf_<step>`` of the cycle; the steps of a cycle are contiguous and end at the ready line,
so they sum to the cycle's start + ready.
"""

from __future__ import annotations

# CPU per cycle: the engine stack's cgroup (dockerd, containerd, shims, runc/runsc create/start),
# the container's own cgroup (read just before stop: removal deletes it), the VM engine's qemu
# process, and the harness process's own rusage.
CPU_ENGINE, CPU_CONTAINER, CPU_VM, CPU_HARNESS = "cpu_engine", "cpu_container", "cpu_vm", "cpu_harness"
CPU_PHASES: tuple[str, ...] = (CPU_ENGINE, CPU_CONTAINER, CPU_VM, CPU_HARNESS)

# One sample per cycle holding the raw process events of its start (detail), duration = their span.
WATERFALL = "waterfall"
STEP_PREFIX = "wf_"

# The waterfall's markers in the order they happen; a step runs from its marker to the next one
# present (a marker missing, or out of order, merges its step into the one before it).
# (step name, the marker it starts at, what it covers)
STEPS: tuple[tuple[str, str, str], ...] = (
    ("engine", "t0", "the start call sent -> the shim exec'd (dockerd and containerd set the task up)"),
    ("shim", "shim", "the shim exec'd -> the runtime's create exec'd"),
    ("create", "create", "runtime create exec'd -> its first child exec'd (runc init, runsc gofer)"),
    ("init", "init", "runc init exec'd -> the network hook exec'd (namespaces, cgroups, mounts)"),
    ("gofer", "gofer", "runsc gofer exec'd -> the sandbox (runsc boot) exec'd"),
    ("sandbox", "sandbox", "runsc boot exec'd -> the network hook exec'd (the sandbox's kernel boots)"),
    ("hook", "hook", "dockerd's prestart hook (libnetwork-setkey: it calls back into dockerd) until it exited"),
    ("hooked", "hook_exit", "the hook exited -> runtime create exited"),
    ("created", "create_exit", "runtime create exited -> runtime start exec'd (containerd, the shim)"),
    ("start", "start", "runtime start exec'd -> it exited"),
    ("app", "start_exit", "runtime start exited -> the container's first line read by the harness"),
)
STEP_NAMES: tuple[str, ...] = tuple(s for s, _, _ in STEPS)
STEP_PHASES: tuple[str, ...] = tuple(STEP_PREFIX + s for s in STEP_NAMES)
COST_PHASES: tuple[str, ...] = CPU_PHASES + (WATERFALL,) + STEP_PHASES
