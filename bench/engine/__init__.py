"""Talking to engines: endpoints and TLS, container spec, preflight, image, sweep, events, error
classification, leases, host facts and Windows rules."""
