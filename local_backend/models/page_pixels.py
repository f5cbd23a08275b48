"""The pixels a page embedder sees for a page given through the Python API.

``vertex-mm pages index`` decodes files with :func:`vertex_mm.pixels.upright_rgb` (EXIF
orientation, 16-bit scans scaled to 8 bits, transparency on white). ``embed_pages(images)``
takes PIL images straight from the caller; a plain ``convert("RGB")`` there made a transparent
slide an all-black page, a 16-bit scan an all-white one and left phone photos sideways, so one
file gave other vectors through the API than through the CLI. Every page embedder here (native
ColPali family, colpali-engine, regions) goes through :func:`page_rgb` instead.
"""

from __future__ import annotations

from typing import Any

from vertex_mm.errors import InvalidImageError
from vertex_mm.pages import PageImage
from vertex_mm.pixels import upright_rgb

__all__ = ["page_rgb"]


def page_rgb(page: Any, index: int) -> Any:
    """``page`` (a PIL image or a :class:`PageImage`) as the upright RGB PIL image ``pages index``
    would embed; :class:`InvalidImageError` naming the page (``images[index]`` or its key) when it
    is not an image or cannot be decoded."""
    from PIL import Image

    image = page.image if isinstance(page, PageImage) else page
    label = page.key if isinstance(page, PageImage) else f"images[{index}]"
    if not isinstance(image, Image.Image):
        raise InvalidImageError(f"page {label}: expected a PIL image or a PageImage, got {type(page).__name__}", input_name=label)
    filename = getattr(image, "filename", "")
    try:
        # Lazily opened files decode here, so a broken page is named instead of failing mid-batch.
        image.load()
        return upright_rgb(image)  # an upright RGB image comes back as it is
    except Exception as exc:  # truncated data, a damaged EXIF block or palette: Pillow raises many types
        where = f" ({filename})" if filename else ""
        raise InvalidImageError(f"page {label}{where}: cannot decode the image: {exc}", input_name=label) from exc
