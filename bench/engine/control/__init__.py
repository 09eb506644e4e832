"""Stopping and starting engines: restarts and the VM-hosted engine."""
