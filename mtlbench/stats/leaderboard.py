"""Leaderboards of a result store: the public entry points of the statistics module."""

from __future__ import annotations

from pathlib import Path

from mtlbench.stats.cells import Settings, analyse
from mtlbench.stats.store import scan
from mtlbench.stats.tables import FORMATS, render

SUFFIX = {"terminal": "txt", "markdown": "md", "latex": "tex", "csv": "csv", "html": "html"}


def render_leaderboard(
    results: Path, *, fmt: str = "terminal", settings: Settings | None = None, **options: object
) -> str:
    """The leaderboard of every cell in the store at ``results`` as text in ``fmt``.

    ``options`` are :class:`Settings` fields (baseline, alpha, correction, resamples, seed, test).
    """
    settings = settings or Settings(**options)  # type: ignore[arg-type]
    cells = analyse(scan(Path(results)), settings)
    if not cells:
        return f"no finished runs in {results} yet: nothing to rank\n"
    return render(cells, settings, fmt)


def write_leaderboards(results: Path, out: Path, *, settings: Settings | None = None, **options: object) -> list[Path]:
    """Write the leaderboard in every format as ``out``.{txt,md,tex,csv,html}; returns the paths."""
    settings = settings or Settings(**options)  # type: ignore[arg-type]
    cells = analyse(scan(Path(results)), settings)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        path = out.with_name(f"{out.name}.{SUFFIX[fmt]}")
        text = render(cells, settings, fmt) if cells else f"no finished runs in {results}\n"
        if fmt == "html":
            text = f"<!doctype html><meta charset='utf-8'><title>{out.name}</title><body>\n{text}</body>\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
