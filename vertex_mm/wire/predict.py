"""The ``:predict`` wire format of multimodalembedding@001: one instance per request::

    instance   = {"text": str?, "image": {"bytesBase64Encoded" | "gcsUri", "mimeType"?}?,
                  "video": {"bytesBase64Encoded" | "gcsUri",
                            "videoSegmentConfig": {"startOffsetSec", "endOffsetSec", "intervalSec"}?}?}
    parameters = {"dimension": N}?
    prediction = {"imageEmbedding": [...]?, "textEmbedding": [...]?,
                  "videoEmbeddings": [{"embedding", "startOffsetSec", "endOffsetSec"}]?}

The client builds instances with these functions and the emulator parses them with the same
ones, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError
from ..limits import MULTIMODAL_EMBEDDING_001, ModelLimits
from ..media import Image, Video, VideoSegmentConfig
from ..results import EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding
from .request import EmbedRequest, wire_number

__all__ = ["build_instance", "build_parameters", "build_prediction", "decode_b64", "parse_instance", "parse_prediction"]


#: The image ``mimeType`` values the API reference documents. vision_models sends no
#: ``mimeType`` at all, and the reference gives the video object none; the other image formats
#: the service reads (BMP, GIF) go without one, as they do from the SDK.
DOCUMENTED_IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png"})


def _media_json(media: Image | Video, mime: str | None = None) -> dict[str, Any]:
    if media.gcs_uri is not None:
        out: dict[str, Any] = {"gcsUri": media.gcs_uri}
    else:
        out = {"bytesBase64Encoded": base64.b64encode(media.data or b"").decode("ascii")}
    if mime in DOCUMENTED_IMAGE_MIME_TYPES:
        out["mimeType"] = mime
    return out


def build_instance(req: EmbedRequest) -> dict[str, Any]:
    """The JSON instance of one ``:predict`` request: the fields vision_models sends, plus the
    documented image ``mimeType`` for JPEG and PNG bytes."""
    instance: dict[str, Any] = {}
    if req.image is not None:
        instance["image"] = _media_json(req.image, req.image_mime_type)
    if req.video is not None:
        instance["video"] = _media_json(req.video)
        c = req.video_segment_config
        if c is not None:
            instance["video"]["videoSegmentConfig"] = {
                "startOffsetSec": wire_number(c.start_offset_sec),
                "endOffsetSec": wire_number(c.end_offset_sec),
                "intervalSec": wire_number(c.interval_sec),
            }
    if req.text is not None:
        instance["text"] = req.text
    return instance


def build_parameters(req: EmbedRequest, limits: ModelLimits = MULTIMODAL_EMBEDDING_001) -> dict[str, Any]:
    """``{"dimension": N}``, or ``{}`` at the model's default dimension: what vision_models
    sends when no dimension is asked for (the reference says the parameter applies to text and
    images, so a video request carries none)."""
    return {} if req.dimension == limits.default_dimension else {"dimension": req.dimension}


def decode_b64(value: Any, where: str, *, field: str = "bytesBase64Encoded", proto_bytes: bool = False) -> bytes:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where}.{field} must be a base64 string", status="INVALID_ARGUMENT")
    if proto_bytes:
        # A protobuf `bytes` field in JSON may be standard or URL-safe base64, padded or not;
        # google-genai sends URL-safe.
        value = value.replace("-", "+").replace("_", "/")
        value += "=" * (-len(value) % 4)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgumentError(f"{where}.{field} is not valid base64: {exc}", status="INVALID_ARGUMENT") from exc


def _parse_media(obj: Any, where: str) -> tuple[bytes | None, str | None]:
    if not isinstance(obj, Mapping):
        raise InvalidArgumentError(f"{where} must be an object", status="INVALID_ARGUMENT")
    has_bytes, has_uri = "bytesBase64Encoded" in obj, "gcsUri" in obj
    if has_bytes == has_uri:
        raise InvalidArgumentError(f"{where} needs exactly one of bytesBase64Encoded or gcsUri", status="INVALID_ARGUMENT")
    if has_bytes:
        return decode_b64(obj["bytesBase64Encoded"], where), None
    return None, obj["gcsUri"]


def parse_instance(
    instance: Any, parameters: Any = None, limits: ModelLimits = MULTIMODAL_EMBEDDING_001
) -> EmbedRequest:
    """Server side: a JSON instance + parameters back into a validated :class:`EmbedRequest`.

    Bad input raises :class:`InputError` (the emulator answers 400 with its message).
    JSON numbers may arrive as doubles (the SDKs send protobuf Values), so integral floats
    are accepted as ints.
    """
    if not isinstance(instance, Mapping):
        raise InvalidArgumentError("instance must be a JSON object", status="INVALID_ARGUMENT")
    unknown = set(instance) - {"text", "image", "video"}
    if unknown:
        raise InvalidArgumentError(f"unknown instance fields: {sorted(unknown)}", status="INVALID_ARGUMENT")
    image = video = None
    segment = None
    if "image" in instance:
        data, uri = _parse_media(instance["image"], "instance.image")
        image = Image(image_bytes=data, name="instance.image") if data is not None else Image(gcs_uri=uri)
    if "video" in instance:
        data, uri = _parse_media(instance["video"], "instance.video")
        video = Video(video_bytes=data, name="instance.video") if data is not None else Video(gcs_uri=uri)
        seg = instance["video"].get("videoSegmentConfig")
        if seg is not None and not isinstance(seg, Mapping):
            raise InvalidArgumentError("instance.video.videoSegmentConfig must be an object", status="INVALID_ARGUMENT")
        if seg is not None:
            segment = _segment_config(seg, limits)
    dimension = None
    if parameters:
        if not isinstance(parameters, Mapping):
            raise InvalidArgumentError("parameters must be a JSON object", status="INVALID_ARGUMENT")
        raw = parameters.get("dimension")
        if raw is not None:
            dimension = int(raw) if isinstance(raw, float) and raw.is_integer() else raw
    return EmbedRequest.create(
        image=image,
        video=video,
        contextual_text=instance.get("text"),
        dimension=dimension,
        video_segment_config=segment,
        limits=limits,
    )


def _segment_config(seg: Mapping[str, Any], limits: ModelLimits) -> VideoSegmentConfig:
    """A videoSegmentConfig with the API reference's rules for missing fields: no
    ``startOffsetSec`` is ``max(0, endOffsetSec - 120)``, no ``endOffsetSec`` is
    ``startOffsetSec + 120`` (the video's end cuts it later), no ``intervalSec`` is 16."""
    span = limits.max_video_seconds
    start = _as_number(seg["startOffsetSec"]) if seg.get("startOffsetSec") is not None else None
    end = _as_number(seg["endOffsetSec"]) if seg.get("endOffsetSec") is not None else None
    interval = _as_number(seg["intervalSec"]) if seg.get("intervalSec") is not None else VideoSegmentConfig.interval_sec
    if start is None:
        start = wire_number(max(0, end - span)) if end is not None else 0
    if end is None:
        end = wire_number(start + span)
    return VideoSegmentConfig(start_offset_sec=start, end_offset_sec=end, interval_sec=interval)


def _as_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidArgumentError(f"videoSegmentConfig values must be numbers, got {v!r}", status="INVALID_ARGUMENT")
    return wire_number(v)


def build_prediction(response: MultiModalEmbeddingResponse) -> dict[str, Any]:
    """Server side: a response into the prediction JSON."""
    out: dict[str, Any] = {}
    if response.image_embedding is not None:
        out["imageEmbedding"] = [float(x) for x in response.image_embedding]
    if response.text_embedding is not None:
        out["textEmbedding"] = [float(x) for x in response.text_embedding]
    if response.video_embeddings:
        out["videoEmbeddings"] = [
            {
                "embedding": [float(x) for x in v.embedding],
                "startOffsetSec": wire_number(v.start_offset_sec),
                "endOffsetSec": wire_number(v.end_offset_sec),
            }
            for v in response.video_embeddings
        ]
    return out


def parse_prediction(prediction: Mapping[str, Any], space: EmbeddingSpace | None = None) -> MultiModalEmbeddingResponse:
    """Client side: prediction JSON into a :class:`MultiModalEmbeddingResponse`."""
    # Offsets are floats, as vision_models gives them: the service's JSON numbers travel as
    # protobuf Values (doubles), so its SDK reads ``0.0 - 16.0``, never ``0 - 16``.
    videos = [
        VideoEmbedding(
            start_offset_sec=float(v["startOffsetSec"]),
            end_offset_sec=float(v["endOffsetSec"]),
            embedding=list(v["embedding"]),
        )
        for v in prediction.get("videoEmbeddings", []) or []
    ]
    image = prediction.get("imageEmbedding")
    text = prediction.get("textEmbedding")
    return MultiModalEmbeddingResponse(
        image_embedding=list(image) if image is not None else None,
        text_embedding=list(text) if text is not None else None,
        video_embeddings=videos,
        space=space,
    )
