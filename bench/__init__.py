"""isobench timing core: measures container startup cycles per isolation mode.

The flow is one way: config -> endpoints -> preflight -> schedule -> cycle
(through an executor) -> resultset writer. Analysis lives in ``analysis/`` and
only reads what ``bench.results.resultset`` wrote.
"""

__version__ = "0.1.0"
