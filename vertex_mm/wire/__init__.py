"""The wire format, in one place and without I/O.

* :mod:`.request` — :class:`EmbedRequest`, the validated request both shapes share;
* :mod:`.predict` — multimodalembedding@001's ``:predict`` instances and predictions;
* :mod:`.embed_content` — gemini-embedding-2's ``:embedContent`` bodies and responses, and
  the JSONL lines of its batch prediction jobs.

The client builds requests with these functions and the emulator parses them with the same
ones, so the two cannot drift apart.
"""

from __future__ import annotations

from .embed_content import (
    build_batch_input_line,
    build_batch_output_line,
    build_embed_content_body,
    build_embed_content_response,
    parse_batch_input_line,
    parse_batch_output_line,
    parse_embed_content_body,
    parse_embed_content_response,
)
from .predict import build_instance, build_parameters, build_prediction, parse_instance, parse_prediction
from .request import ContentPart, EmbedRequest, VideoSpan, guess_mime

__all__ = [
    "ContentPart",
    "EmbedRequest",
    "VideoSpan",
    "build_batch_input_line",
    "build_batch_output_line",
    "build_embed_content_body",
    "build_embed_content_response",
    "build_instance",
    "build_parameters",
    "build_prediction",
    "guess_mime",
    "parse_batch_input_line",
    "parse_batch_output_line",
    "parse_embed_content_body",
    "parse_embed_content_response",
    "parse_instance",
    "parse_prediction",
]
