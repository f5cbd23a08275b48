"""The table: what each model accepts. One row per model, used by the client before any
network call, by the local backend, and by the emulator to answer like the service.

Sources for gemini-embedding-2 (read 2026-12; Google renamed Vertex AI "Gemini Enterprise Agent
Platform" and moved the pages under docs.cloud.google.com/gemini-enterprise-agent-platform/):

* [CARD] the model card, .../models/gemini/embedding-2 (GA 2026-04-22);
* [GUIDE] "Get multimodal embeddings", .../models/embeddings/get-multimodal-embeddings;
* [GAPI] the Gemini API embeddings guide, ai.google.dev/gemini-api/docs/embeddings;
* [BATCH] "Get batch embeddings inferences", .../models/embeddings/batch-prediction-genai-embeddings.

Where they disagree the stricter value is used, and the comment says so. The preview model
``gemini-embedding-2-preview`` (its own card, us-central1 only, audio <= 80 s, PNG/JPEG) is
superseded by the GA model: :func:`resolve_model` sends and names spaces by the GA id.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass, field

from .formats import AUDIO_MIME_TYPES, VIDEO_MIME_TYPES

__all__ = ["GEMINI_EMBEDDING_2", "MB", "MULTIMODAL_EMBEDDING_001", "REQUEST_ENVELOPE_BYTES", "SUPERSEDED_MODELS",
           "ContentLimits", "ModelLimits", "canonical_model", "limits_for", "model_id", "model_names", "resolve_model"]

MB = 1024 * 1024
#: Room left in a request for all but its media and text: keys, MIME types, parameters, task.
REQUEST_ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ContentLimits:
    """What one *content* (ordered parts embedded into one vector) may hold."""

    max_images: int = 6  # [CARD] [GUIDE] [GAPI] all say 6 per request
    max_documents: int = 1  # [CARD] "Maximum number of files per prompt: 1"
    max_document_pages: int = 6  # [CARD] [GUIDE] [GAPI]: 6 pages ([GUIDE] recommends 1)
    max_videos: int = 1  # [CARD]
    # [GUIDE]/[CARD]: 120 s at the default 1 frame/s without audio; with audio track extraction
    # the shared token budget allows about 80 s ([CARD] "with audio: 80 seconds").
    max_video_seconds: float = 120.0
    max_video_seconds_with_audio: float = 80.0
    max_audios: int = 1  # [CARD]
    max_audio_seconds: float = 180.0  # [CARD] GA; the preview model card says 80 s
    # [CARD] (image/png, jpeg, webp, bmp, heic, heif, avif) and [GUIDE] ("API limits": JPEG, PNG,
    # WebP, BMP, HEIC, HEIF, AVIF) agree on seven formats. [GAPI] and the preview card still say
    # PNG and JPEG, but vertex-mm calls Vertex only, whose two pages are the ones that count.
    image_formats: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "BMP", "HEIC", "HEIF", "AVIF"})
    # [GUIDE]: "Container: MOV, MP4" (codecs AV1, H264, H265, VP9); [CARD] MIME list: video/mp4,
    # video/mpeg. MP4 is in both; MOV (video/quicktime) is in the guide; MPEG only on the card,
    # which the guide does not confirm: left out.
    video_formats: frozenset[str] = frozenset({"MP4", "MOV"})
    audio_formats: frozenset[str] = frozenset(AUDIO_MIME_TYPES)  # MP3, WAV in all three
    # No source gives a request size for embedContent; this is Vertex AI's online request
    # limit, the same bound multimodalembedding@001 lives under. Larger media go by gs:// URI.
    max_request_bytes: int = 30 * MB
    # [GUIDE] "8192 tokens ... shared by all modalities ... silently truncated": not an error.
    max_tokens: int = 8192


@dataclass(frozen=True)
class ModelLimits:
    """What one embedding model accepts. Numbers follow the Vertex AI documentation."""

    model: str
    dimensions: tuple[int, ...]
    default_dimension: int
    video_dimensions: tuple[int, ...]
    # [GUIDE] for multimodalembedding@001: "BMP, GIF, JPG, PNG". WebP is accepted as well:
    # vertex-mm has always sent it, the service has taken it, and refusing it now would break
    # working pipelines on the strength of a list that may only be incomplete.
    image_formats: frozenset[str] = frozenset({"BMP", "GIF", "JPEG", "PNG", "WEBP"})
    video_formats: frozenset[str] = field(default_factory=lambda: frozenset(VIDEO_MIME_TYPES))
    max_image_bytes: int = 20 * MB
    # A decompression-bomb guard: Pillow's own default threshold. The service resizes to
    # 512x512 anyway, so nothing useful is lost above it.
    max_image_pixels: int = 89_478_485
    #: The longest side an image may have, in pixels (None: no documented side limit).
    max_image_side: int | None = None
    text_max_tokens: int = 32
    # Inline payload bound: the REST request limit minus base64 growth (4/3) and envelope.
    max_request_bytes: int = 30 * MB
    max_video_seconds: float = 120.0
    min_video_interval_sec: float = 4.0
    dimension_range: tuple[int, int] | None = None  # models with free (Matryoshka) dimensions
    #: What one content may hold, for models that embed contents (None: this model does not).
    content: ContentLimits | None = None

    @property
    def max_inline_video_bytes(self) -> int:
        return (self.max_request_bytes - REQUEST_ENVELOPE_BYTES) * 3 // 4

    def allows_dimension(self, dimension: int, *, video: bool = False) -> bool:
        if self.dimension_range is not None:
            # Free (Matryoshka) dimensions hold for every input: a video is one more part.
            lo, hi = self.dimension_range
            return lo <= dimension <= hi
        if video:
            return dimension in self.video_dimensions
        return dimension in self.dimensions


MULTIMODAL_EMBEDDING_001 = ModelLimits(
    model="multimodalembedding@001",
    dimensions=(128, 256, 512, 1408),
    default_dimension=1408,
    video_dimensions=(1408,),
)

GEMINI_EMBEDDING_2 = ModelLimits(
    model="gemini-embedding-2",
    # Any dimension of 128..3072 is accepted (dimension_range), default 3072 [CARD] [GUIDE]. The
    # "recommended" ones differ by page: [GAPI] "Recommended: 768, 1536, 3072"; [GUIDE]'s table
    # "Recommended lower dimensions: 128, 768 or 1536". These are [GAPI]'s; they only pick the
    # emulator's nearest inner dimension, nothing on the wire depends on them.
    # The service L2-normalises truncated vectors itself ([GAPI], [GUIDE]); the client
    # normalises again anyway, which costs nothing and guards against a change.
    dimensions=(768, 1536, 3072),
    default_dimension=3072,
    video_dimensions=(768, 1536, 3072),
    image_formats=ContentLimits.image_formats,
    video_formats=ContentLimits.video_formats,
    max_image_side=16_384,  # [GUIDE] "Maximum 16384 x 16384 pixels per image"
    text_max_tokens=8192,
    dimension_range=(128, 3072),
    content=ContentLimits(),
)

_BY_MODEL = {lim.model: lim for lim in (MULTIMODAL_EMBEDDING_001, GEMINI_EMBEDDING_2)}
# Other ids of the same model: the service answers to them with that model.
_ALIASES = {"multimodalembedding": "multimodalembedding@001"}
#: Ids of models Google has superseded -> the id used instead. gemini-embedding-2-preview was a
#: separate model (preview card: us-central1 only, audio <= 80 s, PNG/JPEG), replaced by the
#: GA gemini-embedding-2 (GA 2026-04-22); [GUIDE] "Quotas": its quotas "might be deleted".
SUPERSEDED_MODELS = {"gemini-embedding-2-preview": "gemini-embedding-2"}
_warned: set[str] = set()
_warned_lock = threading.Lock()


_PUBLISHER_PATH = re.compile(r"(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/(?P<id>[^/]+)")


def model_id(model: str) -> str:
    """A Google model's short id: ``model`` itself, or the id at the end of a
    ``[projects/P/locations/L/]publishers/google/models/ID`` path. Spaces and cache keys are
    named by it (a path in a space id could not be parsed back, and named the same model's
    space twice); the SDKs build the path from it. Other paths (a tuned model's endpoint) are
    kept as they are."""
    m = _PUBLISHER_PATH.fullmatch(model)
    return m["id"] if m else model


def canonical_model(model: str) -> str:
    """The one id of a Google model, whichever of its names ``model`` is: its short id
    (:func:`model_id`) with an alias resolved (``multimodalembedding`` is
    ``multimodalembedding@001``). Spaces and cache keys are named by it, so that the names of
    one model share one space and one cache; the service answers each name with that model."""
    short = model_id(model)
    return _ALIASES.get(short, short)


def resolve_model(model: str) -> str:
    """The id to send for ``model`` and to name its embedding space by: ``model`` itself, or
    for a superseded id (:data:`SUPERSEDED_MODELS`, a resource path too) its successor, with
    a :class:`FutureWarning` once per process and id. The successor's vectors are not the
    preview's: an index built under the old id keeps it, and mixing raises
    :class:`~vertex_mm.errors.EmbeddingSpaceMismatchError`."""
    head, _, name = model.rpartition("/")
    successor = SUPERSEDED_MODELS.get(name)
    if successor is None:
        return model
    with _warned_lock:
        first = name not in _warned
        _warned.add(name)
    if first:
        warnings.warn(
            f"{name} is a preview model superseded by {successor}: vertex-mm sends {successor} instead (its "
            f"vectors are in the {successor} space). An index built with {name} cannot take the new vectors: "
            f"re-embed it with `vertex-mm migrate INDEX --to {successor} --out NEW_INDEX`. Pass "
            f"model={successor!r} to silence this warning", FutureWarning, stacklevel=3)
    return f"{head}/{successor}" if head else successor


def limits_for(model: str) -> ModelLimits:
    """The limits of ``model``; unknown models (local ones) get multimodalembedding@001's. A
    superseded id gets its successor's, the model it is sent as (:func:`resolve_model`)."""
    name = model.split("/")[-1]
    name = SUPERSEDED_MODELS.get(name, name)
    return _BY_MODEL.get(_ALIASES.get(name, name), MULTIMODAL_EMBEDDING_001)


def model_names(limits: ModelLimits) -> tuple[str, ...]:
    """Every name vertex-mm takes for ``limits``' model: its own, its aliases, then the
    superseded ids it stands in for (:func:`resolve_model`)."""
    others = {**_ALIASES, **SUPERSEDED_MODELS}
    return (limits.model, *(alias for alias, model in others.items() if model == limits.model))
