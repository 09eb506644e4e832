"""isobench analysis: reads result sets, never writes them.

A one-way chain of small modules: load -> metrics -> stats -> claims / compare
-> plots -> report, whose sections are content rendered by one exporter per
format (analysis.export).
"""
