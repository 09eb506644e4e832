"""`isobench overhead`: the harness's own cost against raw HTTP and the docker CLI (see main). Nothing is
imported here, so `python -m bench.overhead.stand_in` runs its module once."""
