"""Leaderboards from a result store: figures, significance marks, incomplete grids, formats."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.stats import Settings, render_leaderboard, write_leaderboards
from mtlbench.stats.cells import analyse
from mtlbench.stats.corpus import bleu
from mtlbench.stats.store import scan


def test_a_real_difference_is_marked_and_the_caption_says_how(store: Path) -> None:
    (result,) = analyse(scan(store), Settings(resamples=2000))
    assert result.methods == ["ls", "mgda", "pcgrad"]
    k = [d.key for d in result.metrics].index("BLEU_4")
    assert result.significant[2, k] and result.best_tied[2, k]  # pcgrad: best, and different from ls
    assert np.isnan(result.p_baseline[0, k])
    text = render_leaderboard(store, resamples=300)
    assert "two-level paired bootstrap (300 resamples" in text and "Holm" in text
    assert "rule test labeler" in text and "uncertain counted as positive" in text


def test_point_estimates_are_corpus_metrics_averaged_over_seeds(store: Path) -> None:
    import json

    (result,) = analyse(scan(store), Settings(resamples=50))
    k = [d.key for d in result.metrics].index("BLEU_4")
    per_seed = []
    for ref in scan(store)[0].done("pcgrad"):
        rows = [json.loads(line) for line in (ref.path / "examples.jsonl").read_text().splitlines()]
        comps = np.array(
            [
                [r["stats"]["bleu"][x] for x in ("testlen", "reflen")]
                + r["stats"]["bleu"]["guess"]
                + r["stats"]["bleu"]["correct"]
                for r in rows
            ]
        )
        per_seed.append(float(bleu(comps.sum(0), 4)))
    assert result.mean[2, k] == np.mean(per_seed)


def test_incomplete_grids_are_reported_not_hidden(store: Path) -> None:
    text = render_leaderboard(store, resamples=100)
    assert "failed: mgda seed 3 (diverged: loss nan)" in text


def test_every_format_is_written(store: Path, tmp_path: Path) -> None:
    paths = write_leaderboards(store, tmp_path / "out" / "board", resamples=100)
    assert sorted(p.suffix for p in paths) == [".csv", ".html", ".md", ".tex", ".txt"]
    latex = (tmp_path / "out" / "board.tex").read_text()
    assert "\\toprule" in latex and "\\textbf{" in latex
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "board.csv").read_text())))
    assert {r["method"] for r in rows} == {"ls", "pcgrad", "mgda"}
    assert "**" in (tmp_path / "out" / "board.md").read_text()
    assert "<table>" in (tmp_path / "out" / "board.html").read_text()


def test_report_command_prints_and_writes(store: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(store), "--resamples", "100", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "BLEU-4" in result.output and (tmp_path / "b.md").is_file()


def test_an_empty_store_says_so(tmp_path: Path) -> None:
    assert "no finished runs" in render_leaderboard(tmp_path)
