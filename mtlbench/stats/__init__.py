"""Statistics and leaderboards, computed from the result store alone (nothing is re-run)."""

from mtlbench.stats.cells import Settings
from mtlbench.stats.leaderboard import render_leaderboard, write_leaderboards

__all__ = ["Settings", "render_leaderboard", "write_leaderboards"]
