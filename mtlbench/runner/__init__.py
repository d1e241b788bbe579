"""Grids and their settings, run identity, the result store, executors and ``run_one``."""
