"""Rounds: the scheduler, its progress views and scripted runs."""
