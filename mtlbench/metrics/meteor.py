"""METEOR 1.5 through pycocoevalcap's jar, with one Java process per Python process.

pycocoevalcap's own wrapper starts a JVM per scorer (about 8 s), leaves its stderr pipe unread
(a JVM that writes enough warnings there blocks forever) and is not safe across threads. This
wrapper starts the same jar with the same arguments once, lazily, sends stderr to /dev/null,
serialises access with a lock and closes the process at exit. Corpus METEOR is computed by the
jar from the summed segment statistics (its EVAL command), so a resample's corpus METEOR can be
recomputed exactly from the stored per-example statistics lines (:func:`meteor_from_stats`).
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import pycocoevalcap.meteor.meteor as _pycoco_meteor

from mtlbench.errors import MtlbenchError

_JAR_DIR = Path(_pycoco_meteor.__file__).parent
_COMMAND = ["java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]


class _Meteor:
    def __init__(self) -> None:
        if shutil.which("java") is None:
            raise MtlbenchError(
                "METEOR needs Java 8+ on PATH; install OpenJDK (e.g. openjdk-17-jre) or pass --no-meteor"
            )
        self.process = subprocess.Popen(
            _COMMAND,
            cwd=_JAR_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lock = threading.Lock()

    def _ask(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()
        answer = self.process.stdout.readline().decode().strip()
        if not answer:
            raise MtlbenchError("the METEOR Java process stopped answering; re-run, or pass --no-meteor")
        return answer

    def stats(self, predictions: Sequence[str], references: Sequence[str]) -> list[str]:
        with self.lock:
            return [self._ask(_score_line(p, r)) for p, r in zip(predictions, references)]

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        """Per-segment scores and the corpus score from statistics lines."""
        if not stats:
            return 0.0, []
        with self.lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode())
            self.process.stdin.flush()
            segments = [float(self.process.stdout.readline().strip()) for _ in stats]
            corpus = float(self.process.stdout.readline().strip())
        return corpus, segments

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.kill()
            self.process.wait()


def _score_line(prediction: str, reference: str) -> str:
    hypothesis = prediction.replace("|||", "").replace("  ", " ")
    return f"SCORE ||| {reference} ||| {hypothesis}"


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
    stats = scorer.stats(predictions, references)
    corpus, segments = scorer.evaluate(stats)
    return corpus, segments, stats


def meteor_from_stats(stats: Sequence[Sequence[float]]) -> float:
    """Corpus METEOR of a subset from its stored statistics (exact, through the jar's EVAL)."""
    return _meteor().evaluate([" ".join(repr(float(v)) for v in row) for row in stats])[0]
