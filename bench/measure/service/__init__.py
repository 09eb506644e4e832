"""Timing Swarm services (the service scenario, issue #13): one service's life from create (or a
scale-up) to every task ready, scaled to 0, removed; each task's ClusterLoader2 metrics.

``trace`` (a task's marks and samples: pure), ``readers`` (first lines on the tasks' nodes),
``watch`` (the GET /tasks poll loop), ``lifecycle`` (one service, timed and cleaned up).
"""
