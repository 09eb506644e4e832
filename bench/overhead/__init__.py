"""`isobench overhead`: the harness's own cost against raw HTTP and the docker CLI (see main)."""

from bench.overhead.main import main

__all__ = ["main"]
