"""The committed leaderboard of the default grid covers every built-in method and its page is whole.

A method added to the registry without re-making ``leaderboards/synthetic.*`` fails here, so the
README's claim that the committed leaderboard holds every method stays true.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from mtlbench.methods import METHODS
from mtlbench.runner.grid import GridSpec, expand

BOARD = Path(__file__).resolve().parents[1] / "leaderboards" / "synthetic"


def _rows() -> list[dict[str, str]]:
    with BOARD.with_suffix(".csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_committed_leaderboard_holds_every_method_of_the_default_grid_at_five_seeds() -> None:
    grid_methods = {spec.method for spec in expand(GridSpec(methods=("all",), seeds=(0,)))}
    rows = _rows()
    assert {row["method"] for row in rows} == grid_methods  # ls-tuned joins only grids that tune
    assert "ls-tuned" in METHODS.expand("all") and "ls-tuned" not in grid_methods
    assert {row["seeds"] for row in rows if row["metric"] == "BLEU_4"} == {"5"}
    assert {row["baseline"] for row in rows} == {"ls", "stl"}  # delta_m_percent_vs_stl rows name stl


def test_the_committed_page_links_only_to_files_that_exist() -> None:
    html = BOARD.with_suffix(".html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"#]+)"', html))
    assert links, "the page links each row to its method's page"
    missing = sorted(link for link in links if not (BOARD.parent / link).is_file())
    assert not missing, f"leaderboards/synthetic.html links to missing files: {missing[:5]}"
    for method in {row["method"] for row in _rows()}:
        assert f'href="synthetic-methods/{method}.html"' in html


@pytest.mark.parametrize("suffix", [".md", ".txt", ".tex", ".png"])
def test_every_format_of_the_committed_leaderboard_is_there(suffix: str) -> None:
    assert BOARD.with_suffix(suffix).stat().st_size > 0
