"""Swarm services through the Engine API, for the service scenario (issue #13).

What a mode's services look like (``spec``), the calls that create, scale, list and remove them
(``api``), the cluster's nodes as the manager lists them with a client to each node that can be
reached (``nodes``), the nodes' clocks against this process's (``nodes.clock_offset``), the
nodes' container events (``events``), what a failed task's error means (``taskerr``), and the
checks before a run (``preflight``). Timing lives in bench.measure.service; this package only
talks to engines, always with a timeout.
"""
