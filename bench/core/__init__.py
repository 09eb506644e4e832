"""Foundations every layer uses: phases, errors, paths, config, presets, signals, deadlines."""
