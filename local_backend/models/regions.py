"""The offline multi-vector page embedder (registry name ``regions``): CNN regions in the ConSE
joint image-text space.

**It does not read text.** No OCR happens here and none of its weights were trained on
documents. It sees pictures: each page is cut into square tiles, every tile goes through
EfficientNet-Lite0, and each cell of the tile's final 7 x 7 feature map is classified over the
1000 ImageNet classes and mapped into the MiniLM text space by ConSE (the probability-weighted
mean of its top classes' text embeddings; Norouzi et al., 2014). A page is the set of those
region vectors plus one vector for the whole page. A query is its MiniLM sentence vector plus
one vector per content word, so late interaction can match "dog" in a query to the region
where a dog is drawn.

What that buys: finding photos and figures of ImageNet-like things on pages (an animal, a
vehicle, a honeycomb-like hexagon grid, a logo on a sticker). What it cannot do: match words
printed on a page, numbers in a table, or chart semantics. For that, use a real ColPali
checkpoint (page-retriever spec ``colpali:DIR``) or the OCR-assisted default (``ocr-fused``).

Weights: the local backend's ``conse-effnet-minilm`` model (EfficientNet-Lite0 and
all-MiniLM-L6-v2 from local packages; nothing is downloaded). The OCR-assisted retriever uses
this embedder for its ``visual`` component.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from vertex_mm.errors import InvalidTextError
from vertex_mm.results import EmbeddingSpace

from .page_pixels import page_rgb

__all__ = ["RegionConSEEmbedder", "create_regions", "page_tiles", "query_terms"]

# Words that carry no visual content; dropping them keeps query vectors about things.
_STOP = frozenset(
    """a an the of and or in on at to for with by from into over under is are was were be been this that these those
    it its as which what where when who how show shows showing page pages figure figures picture image plot chart
    graph table diagram document next side some any all each one two three""".split()
)


def query_terms(text: str, max_terms: int = 15) -> list[str]:
    """Content words of a query, in order, without duplicates or stop words."""
    seen: dict[str, None] = {}
    for word in re.findall(r"[A-Za-z][A-Za-z\-]+", text.lower()):
        if word not in _STOP and len(word) > 2:
            seen.setdefault(word, None)
    return list(seen)[:max_terms]


def page_tiles(image: Any, columns: int = 2) -> list[Any]:
    """Square tiles covering the whole page, ``columns`` across; the last row aligns to the bottom."""
    w, h = image.size
    side = max(1, w // columns)
    rows = max(1, -(-h // side))
    tops = [min(r * side, max(h - side, 0)) for r in range(rows)]
    return [image.crop((c * side, top, c * side + side, top + side)) for top in tops for c in range(columns)]


#: The longest side a page keeps before letterboxing for its whole-page vector. The model sees
#: 224 px; a 1280 x 20000 strip made a 20000 x 20000 canvas (1.2 GB). Pages up to this size
#: (an A4 page at 300 dpi is 2480 x 3508) are letterboxed as they are, bit for bit as before.
LETTERBOX_MAX_SIDE = 4096


def _letterbox(image: Any) -> Any:
    from PIL import Image

    w, h = image.size
    side = max(w, h)
    if side > LETTERBOX_MAX_SIDE:  # shrink first (area average), so the canvas stays small
        scale = LETTERBOX_MAX_SIDE / side
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
        w, h = image.size
        side = max(w, h)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas


class RegionConSEEmbedder:
    """:class:`~vertex_mm.pages.MultiVectorEmbedder` over the offline ConSE model (384-d).

    ``columns`` sets the tile grid (2 across: a letter page gives 2 x 3 tiles, i.e. 294 region
    vectors + 1 whole-page vector). ``model`` defaults to the registry's shared
    ``conse-effnet-minilm``.
    """

    description = "CNN region vectors in the offline ConSE space (sees figures and photos; reads no text)"

    def __init__(self, model: Any = None, *, columns: int = 2) -> None:
        if model is None:
            from .registry import get_shared_model

            model = get_shared_model("conse-effnet-minilm", detail_weight=0.0)  # the joint space only
        self.model = model
        self.columns = int(columns)
        tag = getattr(model, "space_tag", "")
        variant = f"regions-c{self.columns}" + (f"-{tag}" if tag else "")
        self.space = EmbeddingSpace("local", f"{model.name}", int(model.native_dim), variant)

    def embed_pages(self, images: Sequence[Any]) -> list[np.ndarray]:
        pages = [page_rgb(im, i) for i, im in enumerate(images)]
        tiles_per_page = [page_tiles(p, self.columns) for p in pages]
        flat = [t for tiles in tiles_per_page for t in tiles]
        regions = self.model.encode_image_regions(flat) if flat else []
        whole = self.model.encode_images([_letterbox(p) for p in pages]) if pages else np.zeros((0, self.space.dimension))
        out, i = [], 0
        for tiles, page_vec in zip(tiles_per_page, whole):
            parts = regions[i : i + len(tiles)]
            i += len(tiles)
            out.append(np.vstack(parts + [page_vec[None, :]]).astype(np.float32))
        return out

    def embed_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        out = []
        for text in queries:
            if not isinstance(text, str) or not text.strip():
                raise InvalidTextError(f"query must be a non-empty string, got {text!r}", input_name="query")
            out.append(np.asarray(self.model.encode_texts([text] + query_terms(text)), dtype=np.float32))
        return out


def create_regions(model: str = "conse-effnet-minilm", columns: int = 2,
                   model_params: dict[str, Any] | None = None) -> RegionConSEEmbedder:
    """The registry's factory for ``regions``: ``model`` names the shared ConSE model, built with
    ``model_params`` (the config's ``{"detail_weight": 0}``: regions live in the 384-d joint space)."""
    from .registry import get_shared_model

    return RegionConSEEmbedder(get_shared_model(model, **(model_params or {})), columns=columns)
