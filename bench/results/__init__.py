"""The raw result set: its format, reader (which upgrades old versions) and writer, exports."""
