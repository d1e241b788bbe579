"""Leaderboards of a result store: the public entry points of the statistics module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mtlbench.stats.document import Report, build_report
from mtlbench.stats.htmlpage import cd_png, render_html
from mtlbench.stats.pages import write_method_pages
from mtlbench.stats.pictures import report_pictures
from mtlbench.stats.plots import PlotsUnavailable
from mtlbench.stats.settings import Settings
from mtlbench.stats.tables import FORMATS, render

SUFFIX = {"terminal": "txt", "markdown": "md", "latex": "tex", "csv": "csv", "html": "html"}
CD_SUFFIX = "-cd.png"


@dataclass
class Written:
    """Files a leaderboard was written to, and what could not be written (one line each)."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render_report(report: Report, fmt: str, *, ansi: bool = False) -> str:
    """``report`` as text in ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if report.empty and fmt != "html":
        lines = [f"no finished runs in {report.results} yet: nothing to rank"]
        lines += [f"- {line}" for line in report.skipped]
        return "\n".join(lines) + "\n"
    return render(report, fmt, ansi=ansi)


def render_leaderboard(
    results: Path, *, fmt: str = "terminal", settings: Settings | None = None, ansi: bool = False, **options: object
) -> str:
    """The leaderboard of every cell in the store at ``results`` as text in ``fmt``.

    ``options`` are :class:`Settings` fields (baseline, alpha, correction, resamples, seed, test,
    posthoc). A baseline missing from the store is reported in the text, not raised.
    """
    settings = settings or Settings(**options)  # type: ignore[arg-type]
    return render_report(build_report(Path(results), settings, require_baseline=False), fmt, ansi=ansi)


def write_report(report: Report, out: Path) -> Written:
    """Every format as ``out``.{txt,md,tex,csv,html}, one page per method in ``out``-methods/ (the
    HTML page embeds each cell's figures and links to them), and the CD diagram as ``out``-cd.png
    where the cells are enough for a post-hoc test to separate some pair (the report says so otherwise)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = Written()
    pictures = report_pictures(report)
    links, pages = write_method_pages(report, pictures, out)
    if pictures.missing:
        written.notes.append(f"no figures: {pictures.missing}")
    for fmt in FORMATS:
        path = out.with_name(f"{out.name}.{SUFFIX[fmt]}")
        html = fmt == "html"
        text = (
            render_html(report, title=out.name, pictures=pictures, links=links) if html else render_report(report, fmt)
        )
        path.write_text(text, encoding="utf-8")
        written.paths.append(path)
    if not isinstance(report.ranking, str) and report.ranking.diagram:
        try:
            png = cd_png(report.ranking)
        except PlotsUnavailable as err:
            written.notes.append(f"no critical-difference diagram: {err}")
        else:
            path = out.with_name(out.name + CD_SUFFIX)
            path.write_bytes(png)
            written.paths.append(path)
    written.paths += pages
    return written


def write_leaderboards(results: Path, out: Path, *, settings: Settings | None = None, **options: object) -> Written:
    """Analyse the store at ``results`` and write every format as ``out``.* (see :func:`write_report`)."""
    settings = settings or Settings(**options)  # type: ignore[arg-type]
    return write_report(build_report(Path(results), settings), out)
