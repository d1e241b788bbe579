"""Pieces shared by the report's HTML pages: embedded figures and styles for small screens.

Pages must open anywhere, offline and from a copied folder: figures are PNG data URIs, styles
are inline, nothing is fetched.
"""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtlbench.stats.pictures import Picture

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'

RESPONSIVE_STYLE = """
img { max-width: 100%; height: auto; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
.scroll td:first-child, .scroll th:first-child { position: sticky; left: 0; background: #fff; }
.ci { display: block; font-size: 0.75em; color: #555; white-space: nowrap; }
a { color: #1f4e99; }
@media (max-width: 40em) {
  body { margin: 0.6em; font-size: 15px; }
  th, td { padding: 0.2em 0.4em; }
}
"""
"""Added to each page's own style: wide tables scroll inside their box instead of the page."""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def picture_html(picture: Picture) -> str:
    return (
        f'<figure id="{escape(picture.key)}"><img alt="{escape(picture.alt)}" src="{data_uri(picture.png)}">'
        f'<figcaption class="note">{escape(picture.caption)}</figcaption></figure>'
    )


def scrolling(table_html: str) -> str:
    """A table that scrolls sideways on a narrow screen rather than overflowing the page."""
    return f'<div class="scroll">{table_html}</div>'
