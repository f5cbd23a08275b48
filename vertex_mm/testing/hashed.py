"""``HashedEmbedder``: deterministic pseudo-embeddings from SHA-256 of the content.

**Its vectors carry no meaning.** Two photos of the same cat are as far apart as a cat and a
car; an image and its caption are unrelated. What it does guarantee:

- the same content (bytes, text, or video bytes + segment) always gives the same vector, on
  every machine and every run (SHA-256 in counter mode, no random state, no torch);
- different content gives a different, nearly orthogonal vector;
- every vector is float32 with unit L2 norm, of exactly the requested dimension, and the first
  ``k`` values at dimension ``d > k`` are the vector at dimension ``k`` before renormalising.

That makes it the stand-in for plumbing: the emulator serves it when the real local backend is
not installed, and fast tests use it to check ordering, caching, batching and wire formats
without loading a model. Never evaluate retrieval quality with it.

>>> from vertex_mm.testing import HashedEmbedder
>>> emb = HashedEmbedder()
>>> r = emb.get_embeddings(contextual_text="a cat", dimension=128)
>>> len(r.text_embedding)
128
"""

from __future__ import annotations

import hashlib
import io
import math
import struct

import numpy as np

from ..embedder import BaseEmbedder
from ..errors import InvalidVideoError
from ..limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001, ModelLimits
from ..media import Audio, Document, Image, Video, VideoSegmentConfig
from ..results import EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding
from ..wire import EmbedRequest

__all__ = ["HashedEmbedder", "hashed_vector", "probe_video_duration"]

# Each SHA-256 block yields eight 32-bit words, i.e. eight vector components.
_WORDS_PER_BLOCK = 8


def hashed_vector(key: bytes, dimension: int) -> np.ndarray:
    """A unit-norm float32 vector of ``dimension`` values derived from SHA-256 of ``key``.

    Counter mode (``sha256(sha256(key) || counter)``) makes the stream prefix-stable: a longer
    vector starts with the same raw values as a shorter one.
    """
    if dimension < 1:
        raise ValueError(f"dimension must be >= 1, got {dimension}")
    seed = hashlib.sha256(key).digest()
    blocks = math.ceil(dimension / _WORDS_PER_BLOCK)
    stream = b"".join(hashlib.sha256(seed + struct.pack(">I", i)).digest() for i in range(blocks))
    words = np.frombuffer(stream, dtype=">u4")[:dimension].astype(np.float64)
    # Uniform in [-1, 1): centred, so independent keys give nearly orthogonal vectors.
    values = words / 2.0**31 - 1.0
    norm = float(np.linalg.norm(values))
    if norm == 0.0:  # pragma: no cover - would need 2**32 equal words
        values[0], norm = 1.0, 1.0
    return (values / norm).astype(np.float32)


def probe_video_duration(data: bytes, *, name: str = "video") -> float | None:
    """The duration in seconds of in-memory video bytes, read with PyAV.

    Returns None when PyAV is not installed (the caller then trusts the segment config).
    Raises :class:`InvalidVideoError` when PyAV is present but cannot open the container.
    """
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration is not None:
                return container.duration / av.time_base
            stream = next((s for s in container.streams if s.type == "video"), None)
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return None
    except Exception as exc:  # av raises av.error.InvalidDataError and friends
        raise InvalidVideoError(f"{name}: video cannot be decoded: {exc}", input_name=name) from exc


class HashedEmbedder(BaseEmbedder):
    """Embeds anything into meaningless but deterministic unit vectors (see module docs).

    ``limits`` decides what :meth:`get_embeddings` accepts (multimodalembedding@001's by
    default, so it rejects what Vertex rejects). The vector itself is computed at whatever
    dimension a validated request carries.
    """

    backend = "hashed"
    #: Pure Python + NumPy, no shared state: safe to call from many threads at once.
    thread_safe = True
    #: Any dimension can be produced exactly; the emulator needs no projection for it.
    dimension_free = True

    def __init__(self, *, model: str = "sha256", limits: ModelLimits = MULTIMODAL_EMBEDDING_001,
                 content_limits: ModelLimits = GEMINI_EMBEDDING_2) -> None:
        self.model = model
        self.limits = limits
        self.content_limits = content_limits

    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        dim = request.dimension
        if request.content is not None:
            # One vector for the ordered parts: the hash of every part's own hash, in order.
            key = b"content\x00" + b"\x00".join(f"{p.kind}:{p.digest()}".encode() for p in request.content)
            return MultiModalEmbeddingResponse(
                content_embedding=hashed_vector(key, dim).tolist(),
                space=EmbeddingSpace(self.backend, self.model, dim, task=request.task or ""))
        image = text = None
        videos: list[VideoEmbedding] = []
        if request.image is not None:
            image = hashed_vector(b"image\x00" + _payload(request.image), dim).tolist()
        if request.text is not None:
            text = hashed_vector(b"text\x00" + request.text.encode("utf-8"), dim).tolist()
        if request.video is not None:
            videos = self._video(request, dim)
        return MultiModalEmbeddingResponse(
            image_embedding=image,
            text_embedding=text,
            video_embeddings=videos,
            # Not self.space(dim): the request was validated already, maybe against other limits.
            space=EmbeddingSpace(self.backend, self.model, dim),
        )

    def _video(self, request: EmbedRequest, dim: int) -> list[VideoEmbedding]:
        video = request.video
        assert video is not None
        config = request.video_segment_config or VideoSegmentConfig()
        duration = probe_video_duration(video.data, name=video.name) if video.data is not None else None
        segments = config.segments(duration)
        if not segments:
            raise InvalidVideoError(
                f"{video.name}: start_offset_sec={config.start_offset_sec:g} is at or beyond the end of "
                f"the video ({duration:g} s); no segment to embed",
                input_name=video.name,
            )
        digest = hashlib.sha256(_payload(video)).digest()
        return [
            VideoEmbedding(
                start_offset_sec=start,
                end_offset_sec=end,
                embedding=hashed_vector(b"video\x00" + digest + f"{start:g}:{end:g}".encode(), dim).tolist(),
            )
            for start, end in segments
        ]


def _payload(media: Image | Video | Document | Audio) -> bytes:
    # gs:// inputs cannot be read here: the URI stands in for the bytes.
    return media.data if media.data is not None else ("uri:" + (media.gcs_uri or "")).encode()
