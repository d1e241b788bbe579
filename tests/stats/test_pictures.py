"""The report's pictures and per-method pages, drawn from a store with training logs."""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from storefakes import fill_store, write_train_log

from mtlbench.stats import Settings, build_report, write_report
from mtlbench.stats.pictures import forest_rows
from mtlbench.stats.store import scan

LEVELS = {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.45}


@pytest.fixture(scope="module")
def logged_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ls, pcgrad and mgda, 3 seeds each, with training logs; mgda logs no task weights."""
    root = fill_store(tmp_path_factory.mktemp("logged") / "store", LEVELS, n=60)
    for cell in scan(root):
        for run in cell.runs:
            write_train_log(
                run.path, epochs=4, steps_per_epoch=5, level=LEVELS[run.method], weights=run.method != "mgda"
            )
    return root


@pytest.fixture(scope="module")
def written(logged_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("board") / "board"
    write_report(build_report(logged_store, Settings(resamples=200)), out)
    return out


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_the_page_embeds_every_figure_of_the_cell_with_its_caption(written: Path) -> None:
    page = written.with_suffix(".html").read_text()
    images = _images(page)
    assert len(images) == 5  # validation BLEU_4 and loss, cosine, weights, forest plot (one cell: no CD diagram)
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in images)
    for alt in ("validation BLEU_4", "validation loss", "task-gradient cosine", "task weights", "forest plot"):
        assert f'alt="{alt}' in page
    assert "model-selection criterion" in page and "band: lowest to highest seed" in page
    assert "No task weights logged by: mgda." in page
    assert "with the interval of that difference (simultaneous 95% intervals over each table&#x27;s family" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<span class="ci">95% CI [' in page and '<span class="ci">vs ls: ' in page  # intervals on the page
    assert "http" not in page.split("<body>")[1]  # nothing fetched


def test_each_row_links_to_a_page_with_the_methods_runs(written: Path, logged_store: Path) -> None:
    page = written.with_suffix(".html").read_text()
    for method in LEVELS:
        assert f'<a href="board-methods/{method}.html">{method}</a>' in page
    method_page = (written.parent / "board-methods" / "pcgrad.html").read_text()
    runs = [r for r in scan(logged_store)[0].runs if r.method == "pcgrad"]
    assert len(runs) == 3 and all(f"<code>{r.run_id}</code>" in method_page for r in runs)
    assert '<a href="../board.html">' in method_page and len(_images(method_page)) == 1
    assert "mtlbench show RUN_ID" in method_page


def test_the_forest_plot_shows_the_cells_differences_and_marks(logged_store: Path) -> None:
    report = build_report(logged_store, Settings(resamples=200))
    (result,) = report.cells
    rows = forest_rows(result, report.settings.summary_metrics)
    assert next(iter(rows)) == "BLEU-4 ↑" and {r.method for r in rows["BLEU-4 ↑"]} == {"mgda", "pcgrad"}
    k = result.index("BLEU_4")
    pcgrad = next(r for r in rows["BLEU-4 ↑"] if r.method == "pcgrad")
    i = result.methods.index("pcgrad")
    assert pcgrad.diff == pytest.approx(100 * result.diff[i, k]) and pcgrad.diff > 0
    assert pcgrad.low == pytest.approx(100 * result.diff_low[i, k]) and pcgrad.high > pcgrad.diff > pcgrad.low
    assert pcgrad.significant == bool(result.significant[i, k])
    assert np.isfinite([r.diff for r in rows["BLEU-4 ↑"]]).all()


def _headless() -> ModuleType:
    """tools/headless_chromium.py (a script of the repository, not part of the package)."""
    path = Path(__file__).resolve().parents[2] / "tools" / "headless_chromium.py"
    spec = importlib.util.spec_from_file_location("headless_chromium", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_the_pages_render_in_a_real_headless_browser(written: Path) -> None:
    """Chromium (Debian's package, installed where missing and possible) loads every image, logs no
    console error, and on a phone-sized window the page does not overflow: wide tables scroll in their box."""
    headless = _headless()
    try:
        chromium = headless.ensure_chromium()
    except headless.Unavailable as why:
        pytest.skip(f"no headless Chromium: {why}")
    page, method_page = written.with_suffix(".html"), written.parent / "board-methods" / "mgda.html"
    with headless.Browser(chromium) as browser:
        loads = {
            "wide": browser.open(page, width=1280),
            "narrow": browser.open(page, width=390),
            "method page": browser.open(method_page, width=390),
        }
    for name, load in loads.items():
        assert load.errors == [], name
        assert load.images and all(image["naturalWidth"] > 0 for image in load.images), (name, load.images)
        assert load.scroll_width <= load.client_width, name
    assert loads["narrow"].client_width == 390 and len(loads["wide"].images) == 5
    assert "board-methods/mgda.html" in loads["wide"].links and "../board.html" in loads["method page"].links
