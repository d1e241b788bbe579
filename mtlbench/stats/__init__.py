"""Statistics and leaderboards, computed from the result store alone (nothing is re-run)."""

from mtlbench.stats.document import Report, build_report
from mtlbench.stats.leaderboard import render_leaderboard, render_report, write_leaderboards, write_report
from mtlbench.stats.settings import Settings

__all__ = [
    "Report",
    "Settings",
    "build_report",
    "render_leaderboard",
    "render_report",
    "write_leaderboards",
    "write_report",
]
