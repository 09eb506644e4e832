"""isobench history: every result set of every host as one static site, with change points found and gated.

One module per job: ``discover`` (find and read the sets; unreadable ones listed with the reason),
``setstats`` (each set's level per mode and metric, from compare's batch-means model), ``changes``
(E-Divisive means change points, accepted only when significant and beyond the minimum effect),
``drift`` (slow creep no single step explains), ``attribute`` (the factor that changed), ``build``
(the history of every host), ``site`` (the pages), ``gate`` (the CI sentence) and ``bench`` (how
well the detector does on series built from real per-set noise).
"""
