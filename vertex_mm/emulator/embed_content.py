"""The emulator's ``:embedContent`` (gemini-embedding-2): what the service does with a parsed
content before and after it embeds it.

- ``videoMetadata`` (a video part's ``startOffset`` / ``endOffset`` / ``fps``): only that span
  is embedded. Its bytes are cut as an MP4 clip with vertex-mm's own PyAV helpers
  (:func:`vertex_mm.video_clips.cut_span`, the ``video`` extra) and the clip is embedded in place
  of the video. The offsets were checked when the body was parsed
  (:func:`vertex_mm.wire.request.check_video_span`: ``end`` after ``start``, ``start`` inside the
  video, the span within 120 s at 1 fps, ``120 / fps`` s at other rates, 80 s with audio track
  extraction; 400 INVALID_ARGUMENT otherwise); an ``endOffset`` past the video's end stops at
  it. ``fps`` changes the token count and the longest span, not the emulator's frames (its
  backend samples its own), and the clip has no audio track. A ``gs://`` video the emulator
  cannot read (no storage client) stands for its bytes as its URI does: the span is then part of
  what the hashed vector is made of.
- ``usageMetadata``: ``promptTokenCount`` and ``promptTokensDetails`` per modality, from
  vertex-mm's estimate (:func:`vertex_mm.pricing.content_usage`). With ``documentOcr`` the text
  the service would read from each PDF adds text tokens (characters / 4) to the DOCUMENT count:
  the emulator reads the PDF's text layer (it runs no OCR, so a scanned page adds nothing); the
  docs say only that "additional text tokens are extracted", not how they are counted. The
  vector does not change with ``documentOcr``.
- ``autoTruncate: false``: a content over the 8192-token budget is 400 INVALID_ARGUMENT
  (google-genai's ``EmbedContentConfig.auto_truncate``; the aiplatform proto calls the field
  "only applicable to text-only embedding models", so whether the service refuses a
  multimodal content is not known); by default the start is embedded and the answer says
  ``truncated``.

Batch prediction rows (:mod:`.batch_runner`) go through the same span cut and token count; a
row over the budget with ``autoTruncate: false`` fails with that row's status.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from starlette.responses import JSONResponse, Response

from ..errors import InvalidArgumentError
from ..media import Document, Video
from ..pricing import CHARS_PER_TOKEN, content_usage
from ..wire import EmbedRequest, build_embed_content_response, parse_embed_content_body
from ..wire.embed_content import EmbedContentOptions, parse_embed_content_options
from .gcs_media import GcsMedia
from .models import PublisherModel
from .vectors import VectorService

__all__ = ["checked_usage", "embed_content_answer", "ocr_text_tokens", "with_video_span_cut"]


def embed_content_answer(body: Any, model: PublisherModel, vectors: VectorService, media: GcsMedia) -> Response:
    """The vector, with the service's ``usageMetadata`` (vertex-mm's estimate) and
    ``truncated`` when the content is over the model's token budget (the service then embeds
    the start only, silently, unless ``autoTruncate`` is false)."""
    request = media.resolve(parse_embed_content_body(body, model.limits), model.limits)
    by_modality, truncated = checked_usage(request, parse_embed_content_options(body), model)
    values = vectors.embed_content(with_video_span_cut(request)).tolist()
    return JSONResponse(build_embed_content_response(values, token_count=sum(by_modality.values()), truncated=truncated,
                                                     tokens_by_modality=by_modality))


def checked_usage(request: EmbedRequest, options: EmbedContentOptions,
                  model: PublisherModel) -> tuple[dict[str, int], bool]:
    """``(tokens by modality, truncated)`` of a parsed request (an online call or a batch row);
    over the model's budget with ``autoTruncate: false``, 400 INVALID_ARGUMENT."""
    by_modality = {m: u.tokens for m, u in content_usage(request).items()}
    if options.document_ocr:
        ocr = ocr_text_tokens(request)
        if ocr:
            by_modality["document"] = by_modality.get("document", 0) + ocr
    tokens = sum(by_modality.values())
    budget = model.limits.content.max_tokens if model.limits.content is not None else None
    truncated = budget is not None and tokens > budget
    if truncated and options.auto_truncate is False:
        raise InvalidArgumentError(
            f"The input content has {tokens} tokens (estimated), over the maximum of {budget} tokens of "
            f"{model.model_id}; autoTruncate is false, so it is not truncated.", status="INVALID_ARGUMENT")
    return by_modality, truncated


def with_video_span_cut(request: EmbedRequest) -> EmbedRequest:
    """``request`` with the span of its video (``videoMetadata``) cut out of the bytes as the
    video part; a ``gs://`` video not read keeps its URI and span (both make its hashed vector)."""
    content = request.content or ()
    index = next((i for i, p in enumerate(content) if p.span is not None and p.media is not None
                  and p.media.data is not None), None)
    if index is None:
        return request
    part = content[index]
    assert part.span is not None and part.media is not None and part.media.data is not None
    if not part.span.start and part.span.end is None:  # all of it (fps alone changes the count only)
        whole = dataclasses.replace(part, span=None)
        return dataclasses.replace(request, content=content[:index] + (whole,) + content[index + 1:])
    from ..video_clips import cut_span

    start, end, clip = cut_span(part.media.data, part.span.start or 0.0, part.span.end, name=part.media.name)
    video = Video(clip, name=f"{part.media.name}[{start:g}-{end:g}s]")
    cut = dataclasses.replace(part, media=video, mime="video/mp4", seconds=end - start, span=None)
    return dataclasses.replace(request, content=content[:index] + (cut,) + content[index + 1:])


def ocr_text_tokens(request: EmbedRequest) -> int:
    """Text tokens (characters / 4) of the text layer of every inline PDF of ``request``: the
    emulator's stand-in for what ``documentOcr`` reads (0 for a gs:// PDF it cannot read)."""
    from ..pdf import open_pdf, text_page

    chars = 0
    for part in request.content or ():
        media = part.media
        if part.kind != "document" or not isinstance(media, Document) or media.data is None:
            continue
        with open_pdf(media.data, name=media.name) as pdf:
            for i in range(len(pdf)):
                page = pdf.page(i)
                try:
                    with text_page(page, media.name, i + 1) as text:
                        chars += len(text.get_text_range().strip())
                finally:
                    page.close()
    return math.ceil(chars / CHARS_PER_TOKEN)
