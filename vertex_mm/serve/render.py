"""HTML for search results: the example's static results page and the web app's pages.

Plain strings and :func:`html.escape` (no template engine), so writing a results page needs
only Pillow. Every value that reaches the page is escaped; image sources are either data URIs
made here or URLs of the app's own ``/thumb`` route.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..index.results import Hit

__all__ = ["QuerySection", "results_page", "search_page", "thumbnail_data_uri", "thumbnail_jpeg"]

#: The most results one query may ask for (the page's k field, the app's check).
MAX_K = 100

THUMB_SIDE = 240

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:2rem 0 .5rem}
form{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center;margin-bottom:1rem}
input[type=text]{flex:1;min-width:16rem;font-size:1rem;padding:.4rem}
button{font-size:1rem;padding:.4rem 1rem}
.meta{color:#666;font-size:.85rem}
.error{color:#a00;font-weight:600}
ol.results{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:1rem}
li.hit{position:relative;background:#fff;border:1px solid #ddd;border-radius:6px;padding:1.4rem .5rem .5rem;text-align:center}
li.hit img{display:block;width:100%;height:160px;object-fit:contain;margin-bottom:.4rem}
li.hit .rank{position:absolute;top:.25rem;left:.5rem;color:#888;font-size:.85rem}
li.hit .name{display:block;font-weight:600;word-break:break-all}
li.hit .score{font-family:ui-monospace,monospace}
img.query{max-height:120px;border:1px solid #ddd}
"""


#: The largest image file a thumbnail is made of (the largest image any model takes inline).
MAX_THUMB_SOURCE_BYTES = 30 * 1024 * 1024


def thumbnail_jpeg(source: str | Path | bytes, side: int = THUMB_SIDE) -> bytes:
    """A small JPEG of an image file or of image bytes (at most ``side`` px on its long edge).

    Decoded by the one decoder of untrusted image bytes (:func:`vertex_mm.limits.decode_image`:
    pixel cap, JPEGs at reduced scale), the file read only up to :data:`MAX_THUMB_SOURCE_BYTES`.
    Raises :class:`~vertex_mm.errors.InputError` subclasses for a file or bytes it cannot use.
    """
    from ..limits.checks import decode_image
    from ..media import read_input_file

    if isinstance(source, bytes):
        data, name = source, "image"
    else:
        name = str(source)
        data = read_input_file(name, kind="image", max_bytes=MAX_THUMB_SOURCE_BYTES)
    with decode_image(data, name=name, draft_size=side) as opened:
        img = opened.convert("RGB")
        img.thumbnail((side, side))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def thumbnail_data_uri(source: str | Path | bytes, side: int = THUMB_SIDE) -> str:
    """The thumbnail as a ``data:`` URI, so a results page is one self-contained file."""
    return "data:image/jpeg;base64," + base64.b64encode(thumbnail_jpeg(source, side)).decode("ascii")


@dataclass
class QuerySection:
    """One query and its hits, as shown on a page."""

    label: str
    hits: Sequence[Hit]
    query_image_src: str | None = None
    expected: str | None = None
    notes: list[str] = field(default_factory=list)


def display_name(id_: str) -> str:
    """How a hit without a ``name`` is labelled: its id, or the file name of an id that is an
    absolute path (``vertex-mm embed LIST.txt`` writes those), not where it sits on this machine."""
    return Path(id_).name if Path(id_).is_absolute() else id_


def _hit_items(hits: Sequence[Hit], thumb_src: Callable[[Hit], str]) -> str:
    items = []
    for rank, hit in enumerate(hits, 1):
        name = hit.metadata.get("name") or display_name(hit.id)
        items.append(
            f'<li class="hit" data-id="{html.escape(hit.id, quote=True)}" data-score="{hit.score:.6f}">'
            f'<span class="rank">#{rank}</span>'
            f'<img src="{html.escape(thumb_src(hit), quote=True)}" alt="{html.escape(str(name), quote=True)}" loading="lazy">'
            f'<span class="name">{html.escape(str(name))}</span>'
            f'<span class="score">score {hit.score:.4f}</span></li>'
        )
    return '<ol class="results">' + "".join(items) + "</ol>"


def _section(sec: QuerySection, thumb_src: Callable[[Hit], str]) -> str:
    parts = [f"<h2>{html.escape(sec.label)}</h2>"]
    if sec.query_image_src:
        parts.append(f'<img class="query" src="{html.escape(sec.query_image_src, quote=True)}" alt="query image">')
    if sec.expected:
        top = sec.hits[0].id if sec.hits else None
        verdict = "found first" if top and Path(top).name == sec.expected else "not first"
        parts.append(f'<p class="meta">expected {html.escape(sec.expected)}: {verdict}</p>')
    for note in sec.notes:
        parts.append(f'<p class="meta">{html.escape(note)}</p>')
    parts.append(_hit_items(sec.hits, thumb_src) if sec.hits else '<p class="meta">no results</p>')
    return "\n".join(parts)


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def results_page(title: str, sections: Sequence[QuerySection], thumb_src: Callable[[Hit], str], subtitle: str = "") -> str:
    """A static page: one section per query with a grid of thumbnails and scores."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="meta">{html.escape(subtitle)}</p>')
    body.extend(_section(s, thumb_src) for s in sections)
    return _document(title, "\n".join(body))


def search_page(
    *,
    title: str,
    info: str,
    query: str = "",
    k: int = 10,
    section: QuerySection | None = None,
    thumb_src: Callable[[Hit], str] = lambda h: "",
    error: str | None = None,
) -> str:
    """The web app's page: a query box, an image upload and (after a search) the results grid."""
    form = (
        '<form id="search" action="/search" method="post" enctype="multipart/form-data">'
        f'<input type="text" id="q" name="q" value="{html.escape(query, quote=True)}" '
        'placeholder="describe a photo, e.g. a cat" autofocus>'
        '<input type="file" id="image" name="image" accept="image/*">'
        f'<label>k <input type="number" id="k" name="k" value="{int(k)}" min="1" max="{MAX_K}" style="width:4rem"></label>'
        '<button type="submit" id="go">Search</button></form>'
    )
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(info)}</p>', form]
    if error:
        body.append(f'<p class="error" id="error">{html.escape(error)}</p>')
    if section is not None:
        body.append(f'<div id="answer">{_section(section, thumb_src)}</div>')
    return _document(title, "\n".join(body))
