"""The one table of input limits, shared by the client, the local backend and the emulator.

* :mod:`.formats` — formats decided from the bytes, their MIME types, file suffixes;
* :mod:`.models` — what each model accepts (:class:`ModelLimits`, with sources);
* :mod:`.checks` — checks of single inputs (dimension, image, video, text, gs:// URI);
* :mod:`.content` — checks of gemini-embedding-2 contents (PDF pages, audio and video
  durations, parts per content).

Every check runs before any network call and raises a typed :mod:`vertex_mm.errors` error
whose message names the input and the limit it broke.
"""

from __future__ import annotations

from .checks import (
    MAX_TEXT_CHARS,
    check_dimension,
    check_gcs_uri,
    check_image_bytes,
    check_text,
    check_video_bytes,
    check_video_segment,
    decode_image,
    text_token_estimate,
)
from .formats import (
    AUDIO_MIME_TYPES,
    AUDIO_SUFFIXES,
    DOCUMENT_MIME_TYPES,
    IMAGE_MIME_TYPES,
    IMAGE_SUFFIXES,
    MEDIA_SUFFIXES,
    PAGE_IMAGE_SUFFIXES,
    PDF_SUFFIXES,
    VIDEO_MIME_TYPES,
    VIDEO_SUFFIXES,
    sniff_audio_format,
    sniff_document_format,
    sniff_image_format,
    sniff_media,
    sniff_video_format,
)
from .models import GEMINI_EMBEDDING_2, MB, MULTIMODAL_EMBEDDING_001, ContentLimits, ModelLimits, limits_for

__all__ = [
    "AUDIO_MIME_TYPES",
    "AUDIO_SUFFIXES",
    "DOCUMENT_MIME_TYPES",
    "GEMINI_EMBEDDING_2",
    "IMAGE_MIME_TYPES",
    "IMAGE_SUFFIXES",
    "MAX_TEXT_CHARS",
    "MB",
    "MEDIA_SUFFIXES",
    "MULTIMODAL_EMBEDDING_001",
    "PAGE_IMAGE_SUFFIXES",
    "PDF_SUFFIXES",
    "VIDEO_MIME_TYPES",
    "VIDEO_SUFFIXES",
    "ContentLimits",
    "ModelLimits",
    "check_dimension",
    "check_gcs_uri",
    "check_image_bytes",
    "check_text",
    "check_video_bytes",
    "check_video_segment",
    "decode_image",
    "limits_for",
    "sniff_audio_format",
    "sniff_document_format",
    "sniff_image_format",
    "sniff_media",
    "sniff_video_format",
    "text_token_estimate",
]
