"""A one-line progress display for long cache builds: redrawn in place on a terminal, plain
lines (every tenth of the work, and at least every 30 s) when the output is a log file; a build
shorter than 2 s shows its closing line only."""

from __future__ import annotations

import sys
import time
from typing import TextIO

PLAIN_EVERY_S = 30.0
QUIET_S = 2.0


def duration(seconds: float) -> str:
    """Seconds as 42s, 3m07s or 2h05m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class BuildProgress:
    """``advance(n)`` as items are done, ``close()`` at the end (prints the total time)."""

    def __init__(self, label: str, total: int, *, unit: str = "images", stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_tenth = 0

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        share = self.done / self.total if self.total else 1.0
        return (
            f"{self.label}: {self.done}/{self.total} {self.unit} ({share:.0%}), "
            f"{rate:.0f}/s, {duration(elapsed)} elapsed, about {duration(left)} left"
        )

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.started < QUIET_S:  # a short build shows only its closing line
            return
        if self.tty:
            if now - self.last_draw >= 0.1:
                self.stream.write("\r" + self._line() + "\033[K")
                self.stream.flush()
                self.last_draw = now
            return
        tenth = int(10 * self.done / self.total) if self.total else 10
        if tenth > self.last_tenth or now - self.last_draw >= PLAIN_EVERY_S:
            self.stream.write(self._line() + "\n")
            self.stream.flush()
            self.last_tenth, self.last_draw = tenth, now

    def close(self) -> None:
        elapsed = time.perf_counter() - self.started
        text = f"{self.label}: {self.done}/{self.total} {self.unit} in {duration(elapsed)}"
        self.stream.write(("\r" + text + "\033[K\n") if self.tty else text + "\n")
        self.stream.flush()
