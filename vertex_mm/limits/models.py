"""The table: what each model accepts. One row per model, used by the client before any
network call, by the local backend, and by the emulator to answer like the service.

Sources for gemini-embedding-2 (read 2026-12; Google renamed Vertex AI "Gemini Enterprise Agent
Platform" and moved the pages under docs.cloud.google.com/gemini-enterprise-agent-platform/):

* [CARD] the model card, .../models/gemini/embedding-2 (GA 2026-04-22);
* [GUIDE] "Get multimodal embeddings", .../models/embeddings/get-multimodal-embeddings;
* [GAPI] the Gemini API embeddings guide, ai.google.dev/gemini-api/docs/embeddings;
* [BATCH] "Get batch embeddings inferences", .../models/embeddings/batch-prediction-genai-embeddings.

Where they disagree the stricter value is used, and the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .formats import AUDIO_MIME_TYPES, IMAGE_MIME_TYPES, VIDEO_MIME_TYPES

__all__ = ["GEMINI_EMBEDDING_2", "MB", "MULTIMODAL_EMBEDDING_001", "ContentLimits", "ModelLimits", "limits_for", "model_names"]

MB = 1024 * 1024


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
    # [CARD] lists image/png, jpeg, webp, bmp, heic, heif, avif; [GAPI] and the preview card
    # PNG and JPEG only. Stricter: PNG and JPEG.
    image_formats: frozenset[str] = frozenset({"JPEG", "PNG"})
    # [CARD] MIME list: video/mp4, video/mpeg; [GUIDE]/[GAPI]: MP4, MOV. Stricter (in both): MP4.
    video_formats: frozenset[str] = frozenset({"MP4"})
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
    image_formats: frozenset[str] = field(default_factory=lambda: frozenset(IMAGE_MIME_TYPES))
    video_formats: frozenset[str] = field(default_factory=lambda: frozenset(VIDEO_MIME_TYPES))
    max_image_bytes: int = 20 * MB
    # A decompression-bomb guard: Pillow's own default threshold. The service resizes to
    # 512x512 anyway, so nothing useful is lost above it.
    max_image_pixels: int = 89_478_485
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
        return (self.max_request_bytes - 64 * 1024) * 3 // 4

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
    # [GAPI] "Flexible, supports: 128 - 3072, Recommended: 768, 1536, 3072"; default 3072 [CARD].
    # The service L2-normalises truncated vectors itself ([GAPI], [GUIDE]); the client
    # normalises again anyway, which costs nothing and guards against a change.
    dimensions=(768, 1536, 3072),
    default_dimension=3072,
    # Only the recommended values: any dimension of dimension_range is accepted, video included.
    video_dimensions=(768, 1536, 3072),
    image_formats=frozenset({"JPEG", "PNG"}),
    video_formats=frozenset({"MP4"}),
    text_max_tokens=8192,
    dimension_range=(128, 3072),
    content=ContentLimits(),
)

_BY_MODEL = {lim.model: lim for lim in (MULTIMODAL_EMBEDDING_001, GEMINI_EMBEDDING_2)}
_ALIASES = {"multimodalembedding": "multimodalembedding@001", "gemini-embedding-2-preview": "gemini-embedding-2"}


def limits_for(model: str) -> ModelLimits:
    """The limits of ``model``; unknown models (local ones) get multimodalembedding@001's."""
    name = model.split("/")[-1]
    return _BY_MODEL.get(_ALIASES.get(name, name), MULTIMODAL_EMBEDDING_001)


def model_names(limits: ModelLimits) -> tuple[str, ...]:
    """Every name the service knows ``limits``' model by: its own, then its aliases."""
    return (limits.model, *(alias for alias, model in _ALIASES.items() if model == limits.model))
