"""Contents offline: gemini-embedding-2's call (ordered parts, one vector) on the local models,
so that code written for ``get_embedder("gemini")`` runs without a network.

How one content becomes one vector, stated exactly (gemini-embedding-2's own fusion is not
published; this is the local backend's):

* each part becomes one unit vector in the model's native joint space:

  - text: the text tower, on the caller's own words (a task instruction is recorded in the
    embedding space but not embedded: the local towers were not trained with instructions);
  - an image: the image tower;
  - a PDF: each page (at most 6) is rendered at 96 dpi and embedded by the image tower; a page
    with a text layer also embeds that text with the text tower, and the page vector is the
    normalised mean of the two; the document vector is the normalised mean of its pages;
  - a video: sampled and embedded as :mod:`local_backend.video` does for one 120 s segment
    (frames through the image tower, normalised mean);
  - audio: refused with :class:`~vertex_mm.errors.UnsupportedInputError` (no audio model
    ships in any package here; none is faked);

* the content vector is the L2-normalised mean of its parts' unit vectors, each part weighing
  the same, then projected to the requested dimension by :mod:`local_backend.projection`
  (any dimension 128..3072).

``gs://`` parts are refused: the local backend reads local bytes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vertex_mm.errors import UnsupportedInputError, VertexMMError
from vertex_mm.media import VideoSegmentConfig
from vertex_mm.pdf import PdfFile, open_pdf, text_page
from vertex_mm.results import MultiModalEmbeddingResponse
from vertex_mm.wire import ContentPart, EmbedRequest

from .models.base import l2_normalize
from .preprocess import no_gcs

if TYPE_CHECKING:
    from .embedder import LocalEmbedder

__all__ = ["PAGE_DPI", "embed_content_requests"]

#: Resolution of PDF pages for the image tower (it sees 224 px; more only costs time).
PAGE_DPI = 96.0


def embed_content_requests(embedder: LocalEmbedder,
                           requests: Sequence[EmbedRequest]) -> list[MultiModalEmbeddingResponse | VertexMMError]:
    """One response (``content_embedding``) or one typed error per content request."""
    out: list[MultiModalEmbeddingResponse | VertexMMError] = []
    for request in requests:
        try:
            out.append(_embed_one(embedder, request))
        except VertexMMError as exc:
            out.append(exc)
    return out


def _embed_one(embedder: LocalEmbedder, request: EmbedRequest) -> MultiModalEmbeddingResponse:
    assert request.content is not None
    vectors = [_part_vector(embedder, part, i) for i, part in enumerate(request.content)]
    fused = l2_normalize(np.mean(np.stack(vectors), axis=0))
    row = embedder.projection(request.dimension).apply(fused[None, :])[0]
    space = embedder.content_space(request.dimension).with_task(request.task)
    return MultiModalEmbeddingResponse(content_embedding=row.tolist(), space=space)


def _part_vector(embedder: LocalEmbedder, part: ContentPart, index: int) -> np.ndarray:
    where = f"parts[{index}]"
    if part.kind == "text":
        # The caller's words, without the task's form: the local towers were not trained with
        # task instructions, and "task: search result | query: ..." only adds noise to them.
        return l2_normalize(embedder.local_model.encode_texts([part.plain_text or part.text or ""])[0])
    if part.kind == "audio":
        raise UnsupportedInputError(
            f"{where}: the local backend has no audio model (no package here ships one); embed audio with "
            "get_embedder('gemini'), or leave the audio part out offline", input_name=where)
    media = part.media
    assert media is not None
    if media.data is None:
        raise no_gcs(media.gcs_uri, part.kind)
    if part.kind == "image":
        vecs, errs = embedder.encode_image_bytes([(media.data, media.name)])
        if errs[0] is not None:
            raise errs[0]
        return l2_normalize(vecs[0])
    if part.kind == "video":
        from .video import embed_video

        segments = embed_video(embedder, media.data, media.name, VideoSegmentConfig(0, 120, 120))
        return l2_normalize(np.mean(np.stack([v for _, _, v in segments]), axis=0))
    return _document_vector(embedder, media.data, media.name)


def _document_vector(embedder: LocalEmbedder, data: bytes, name: str) -> np.ndarray:
    pages: list[np.ndarray] = []
    with open_pdf(data, name=name) as pdf:
        images = [pdf.render(i, dpi=PAGE_DPI) for i in range(len(pdf))]
        texts = [_page_text(pdf, i) for i in range(len(pdf))]
    image_vecs = embedder.local_model.encode_images(images)
    with_text = [i for i, t in enumerate(texts) if t]
    text_vecs = list(embedder.local_model.encode_texts([texts[i] for i in with_text])) if with_text else []
    by_page = dict(zip(with_text, text_vecs))
    for i, image_vec in enumerate(image_vecs):
        parts = [l2_normalize(image_vec)] + ([l2_normalize(by_page[i])] if i in by_page else [])
        pages.append(l2_normalize(np.mean(np.stack(parts), axis=0)))
    return l2_normalize(np.mean(np.stack(pages), axis=0))


def _page_text(pdf: PdfFile, index: int) -> str:
    page = pdf.page(index)
    try:
        with text_page(page, pdf.name, index + 1) as textpage:
            return " ".join(str(textpage.get_text_range()).split())
    finally:
        page.close()
