"""METEOR 1.5 through pycocoevalcap's jar, with one Java process per Python process.

pycocoevalcap's own wrapper starts a JVM per scorer (about 8 s), leaves its stderr pipe unread
(a JVM that writes enough warnings there blocks forever) and is not safe across threads. This
wrapper starts the same jar with the same arguments once, lazily, sends stderr to a temporary
file (read back only to explain a failure), serialises access with a lock and closes the process
at exit. Corpus METEOR is computed by the jar from the summed segment statistics (its EVAL
command), so a resample's corpus METEOR can be recomputed exactly from the stored per-example
statistics lines (:func:`meteor_from_stats`).

The jar answers one line per request line, so the bridge must never let the two fall out of
step: every text goes through :func:`mtlbench.metrics.text.clean_text` and
:func:`~mtlbench.metrics.text.cut` here too (idempotent, so texts that ``evaluate`` already
normalised pass unchanged; a direct caller is protected all the same), every answer is checked
to be what was asked for, an answer that does not come within :data:`ANSWER_TIMEOUT_S` counts
as none, and after any failure the process is discarded, so the next call starts a fresh one in
step. Failures name the example and never suggest a re-run of what would fail the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pycocoevalcap.meteor.meteor as _pycoco_meteor

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.text import clean_text, cut

_JAR_DIR = Path(_pycoco_meteor.__file__).parent
_COMMAND = ["java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
STATS_WIDTH = 23
"""Numbers in one METEOR 1.5 statistics line (one reference, as the jar writes them)."""
ANSWER_TIMEOUT_S = 600.0
"""Longest wait for one answer. The first one includes starting the JVM and loading METEOR's
paraphrase tables (20-45 s seen on a loaded 2-core machine); a pair of texts at the length limit
of :mod:`mtlbench.metrics.text` takes seconds."""


class _Unanswered(Exception):
    """The jar gave no answer, or one that is not an answer to the question asked."""


class _Meteor:
    def __init__(self) -> None:
        if shutil.which("java") is None:
            raise MtlbenchError(
                "METEOR needs Java 8+ on PATH; install OpenJDK (e.g. openjdk-17-jre) or pass --no-meteor"
            )
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            _COMMAND,
            cwd=_JAR_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.lock = threading.Lock()
        self._pending = b""

    def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        if "\n" in line or "\r" in line:  # cannot happen after clean_text; a bug if it does
            raise _Unanswered("a request held a line break")
        try:
            self.process.stdin.write((line + "\n").encode())
            self.process.stdin.flush()
        except OSError as err:  # BrokenPipeError: the process has gone
            raise _Unanswered(f"it stopped reading ({err.strerror or err})") from None

    def _receive(self) -> str:
        """One answer line, waiting at most ANSWER_TIMEOUT_S (select on the pipe; where select
        cannot wait on pipes, Windows, a plain blocking read)."""
        assert self.process.stdout is not None
        if os.name == "nt":  # pragma: no cover - select() takes only sockets there
            line = self.process.stdout.readline()
            if not line.endswith(b"\n"):
                raise _Unanswered("it exited")
            return line.decode(errors="replace").strip()
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise _Unanswered(f"it gave no answer within {ANSWER_TIMEOUT_S:.0f} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Unanswered("it exited")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode(errors="replace").strip()

    def _numbers(self, expected: int | None) -> list[float]:
        answer = self._receive()
        try:
            numbers = [float(v) for v in answer.split()]
        except ValueError:
            numbers = []
        if not numbers or (expected is not None and len(numbers) != expected):
            raise _Unanswered(f"it answered {answer[:80]!r} where numbers were due")
        return numbers

    def stats(self, predictions: Sequence[str], references: Sequence[str]) -> list[str]:
        lines = []
        for index, (prediction, reference) in enumerate(zip(predictions, references)):
            try:
                self._send(_score_line(prediction, reference))
                lines.append(" ".join(repr(v) for v in self._numbers(STATS_WIDTH)))
            except _Unanswered as err:
                words = len(prediction.split()) + len(reference.split())
                raise self._failed(f"{err}, on example {index + 1} of {len(predictions)} ({words} words)") from None
        return lines

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        """Per-segment scores and the corpus score from statistics lines."""
        if not stats:
            return 0.0, []
        try:
            self._send("EVAL ||| " + " ||| ".join(stats))
            segments = [self._numbers(1)[0] for _ in stats]
            corpus = self._numbers(1)[0]
        except _Unanswered as err:
            raise self._failed(f"{err}, on its corpus score of {len(stats)} segments") from None
        return corpus, segments

    def _failed(self, what: str) -> MtlbenchError:
        """Discard the process (its answers can no longer be trusted to be in step) and say why."""
        said = self._stderr_tail()
        self.close()
        return MtlbenchError(
            f"the METEOR Java process failed: {what}" + (f"; Java said: {said}" if said else "") + "; pass --no-meteor "
            "to score without METEOR (and check that Java 8+ runs with a 2 GB heap, -Xmx2G)"
        )

    def _stderr_tail(self) -> str:
        try:
            self.stderr.seek(0)
            lines = [line.strip() for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        return lines[-1][:160] if lines else ""

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):  # a broken pipe: it is gone already
                self.process.stdin.close()
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def _score_line(prediction: str, reference: str) -> str:
    """pycocoevalcap's request (its hypothesis clean-up included), on protocol-safe texts."""
    hypothesis = cut(clean_text(prediction)).replace("  ", " ")
    return f"SCORE ||| {cut(clean_text(reference))} ||| {hypothesis}"


_instance: _Meteor | None = None
_guard = threading.Lock()


def _meteor() -> _Meteor:
    global _instance
    with _guard:
        if _instance is None or _instance.process.poll() is not None:
            _instance = _Meteor()
            atexit.register(_instance.close)
        return _instance


def meteor(predictions: Sequence[str], references: Sequence[str]) -> tuple[float, list[float], list[str]]:
    """(corpus METEOR, per-example METEOR, per-example statistics lines)."""
    scorer = _meteor()
    with scorer.lock:
        stats = scorer.stats(predictions, references)
        corpus, segments = scorer.evaluate(stats)
    return corpus, segments, stats


def meteor_from_stats(stats: Sequence[Sequence[float]]) -> float:
    """Corpus METEOR of a subset from its stored statistics (exact, through the jar's EVAL).

    Each row must hold the jar's :data:`STATS_WIDTH` finite numbers: anything else would make
    the jar fail mid-answer, so it is refused here.
    """
    for index, row in enumerate(stats):
        try:
            ok = len(row) == STATS_WIDTH and all(math.isfinite(float(v)) for v in row)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise MtlbenchError(
                f"METEOR statistics row {index} is not {STATS_WIDTH} finite numbers as METEOR 1.5 writes them; "
                "the stored statistics are damaged: score the run again"
            )
    scorer = _meteor()
    with scorer.lock:
        return scorer.evaluate([" ".join(repr(float(v)) for v in row) for row in stats])[0]
