"""mtlbench: a benchmark harness for multi-task gradient methods in radiology report generation."""

__version__ = "0.1.0"
