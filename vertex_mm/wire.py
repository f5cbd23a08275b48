"""The wire format, in one place and without I/O.

Vertex ``multimodalembedding@001`` (``:predict``): one instance per request::

    instance   = {"text": str?, "image": {"bytesBase64Encoded" | "gcsUri", "mimeType"?}?,
                  "video": {"bytesBase64Encoded" | "gcsUri", "mimeType"?,
                            "videoSegmentConfig": {"startOffsetSec", "endOffsetSec", "intervalSec"}?}?}
    parameters = {"dimension": N}?
    prediction = {"imageEmbedding": [...]?, "textEmbedding": [...]?,
                  "videoEmbeddings": [{"embedding", "startOffsetSec", "endOffsetSec"}]?}

Gemini ``gemini-embedding-2`` (``:embedContent``, google-genai on Vertex)::

    body     = {"content": {"parts": [{"text"} | {"inlineData": {"data", "mimeType"}}]},
                "embedContentConfig": {"outputDimensionality": N}?}
    response = {"embedding": {"values": [...]}}

The client builds requests with these functions and the emulator parses them with the same
ones, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError, InvalidArgumentError
from .limits import (
    MULTIMODAL_EMBEDDING_001,
    ModelLimits,
    check_dimension,
    check_image_bytes,
    check_text,
    check_video_bytes,
    check_video_segment,
)
from .media import Image, Video, VideoSegmentConfig
from .results import EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding

__all__ = [
    "EmbedRequest",
    "build_embed_content_body",
    "build_embed_content_response",
    "build_instance",
    "build_parameters",
    "build_prediction",
    "parse_embed_content_body",
    "parse_embed_content_response",
    "parse_instance",
    "parse_prediction",
]


@dataclass(frozen=True)
class EmbedRequest:
    """One validated embedding request: what one ``predict`` call carries.

    Build it with :meth:`create`, which runs every check of :mod:`vertex_mm.limits` so that a
    bad input fails before any network call.
    """

    image: Image | None = None
    video: Video | None = None
    text: str | None = None
    dimension: int = 1408
    video_segment_config: VideoSegmentConfig | None = None
    image_mime_type: str | None = None
    video_mime_type: str | None = None
    key: str | None = field(default=None, compare=False)

    @classmethod
    def create(
        cls,
        *,
        image: Image | None = None,
        video: Video | None = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
        limits: ModelLimits = MULTIMODAL_EMBEDDING_001,
        key: str | None = None,
        decode_check: bool = True,
    ) -> "EmbedRequest":
        if image is None and video is None and contextual_text is None:
            raise InputError("One of `image`, `video`, or `contextual_text` is required.")
        dim = check_dimension(dimension, limits, video=video is not None)
        image_mime = video_mime = None
        if image is not None:
            if not isinstance(image, Image):
                raise TypeError(f"image must be a vertex_mm.Image, got {type(image).__name__}")
            if image.data is not None:
                image_mime = check_image_bytes(image.data, limits, name=image.name, decode=decode_check)
        if video is not None:
            if not isinstance(video, Video):
                raise TypeError(f"video must be a vertex_mm.Video, got {type(video).__name__}")
            if video.data is not None:
                video_mime = check_video_bytes(video.data, limits, name=video.name)
            if video_segment_config is not None:
                c = video_segment_config
                check_video_segment(c.start_offset_sec, c.end_offset_sec, c.interval_sec, limits)
        elif video_segment_config is not None:
            raise InputError("video_segment_config was given without a video", input_name="video_segment_config")
        if contextual_text is not None:
            check_text(contextual_text)
        return cls(image, video, contextual_text, dim, video_segment_config, image_mime, video_mime, key)

    def cache_key(self, model: str) -> str:
        """Content address: sha256 over bytes/URIs, text, model, dimension and segments."""
        import hashlib

        h = hashlib.sha256()
        for part in (
            model,
            str(self.dimension),
            self.image.sha256() if self.image else "",
            self.video.sha256() if self.video else "",
            self.text or "",
            repr(self.video_segment_config) if self.video_segment_config else "",
        ):
            h.update(part.encode())
            h.update(b"\x00")
        return h.hexdigest()


def _media_json(media: Image | Video, mime: str | None) -> dict[str, Any]:
    if media.gcs_uri is not None:
        out: dict[str, Any] = {"gcsUri": media.gcs_uri}
    else:
        out = {"bytesBase64Encoded": base64.b64encode(media.data or b"").decode("ascii")}
    if mime:
        out["mimeType"] = mime
    return out


def build_instance(req: EmbedRequest) -> dict[str, Any]:
    """The JSON instance of one ``:predict`` request."""
    instance: dict[str, Any] = {}
    if req.image is not None:
        instance["image"] = _media_json(req.image, req.image_mime_type)
    if req.video is not None:
        instance["video"] = _media_json(req.video, req.video_mime_type)
        c = req.video_segment_config
        if c is not None:
            instance["video"]["videoSegmentConfig"] = {
                "startOffsetSec": _num(c.start_offset_sec),
                "endOffsetSec": _num(c.end_offset_sec),
                "intervalSec": _num(c.interval_sec),
            }
    if req.text is not None:
        instance["text"] = req.text
    return instance


def build_parameters(req: EmbedRequest) -> dict[str, Any]:
    return {"dimension": req.dimension}


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _decode_b64(value: Any, where: str, *, field: str = "bytesBase64Encoded", proto_bytes: bool = False) -> bytes:
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
        return _decode_b64(obj["bytesBase64Encoded"], where), None
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
        if seg is not None:
            defaults = VideoSegmentConfig()
            segment = VideoSegmentConfig(
                start_offset_sec=_as_number(seg.get("startOffsetSec", defaults.start_offset_sec)),
                end_offset_sec=_as_number(seg.get("endOffsetSec", defaults.end_offset_sec)),
                interval_sec=_as_number(seg.get("intervalSec", defaults.interval_sec)),
            )
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


def _as_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidArgumentError(f"videoSegmentConfig values must be numbers, got {v!r}", status="INVALID_ARGUMENT")
    return _num(v)


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
                "startOffsetSec": _num(v.start_offset_sec),
                "endOffsetSec": _num(v.end_offset_sec),
            }
            for v in response.video_embeddings
        ]
    return out


def parse_prediction(prediction: Mapping[str, Any], space: EmbeddingSpace | None = None) -> MultiModalEmbeddingResponse:
    """Client side: prediction JSON into a :class:`MultiModalEmbeddingResponse`."""
    videos = [
        VideoEmbedding(
            start_offset_sec=_num(v["startOffsetSec"]),
            end_offset_sec=_num(v["endOffsetSec"]),
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


# ---- gemini-embedding-2 (embedContent) -------------------------------------------------


def build_embed_content_body(req: EmbedRequest) -> dict[str, Any]:
    """The REST body google-genai sends for one content (used by the emulator's tests)."""
    parts: list[dict[str, Any]] = []
    if req.text is not None:
        parts.append({"text": req.text})
    for media, mime in ((req.image, req.image_mime_type), (req.video, req.video_mime_type)):
        if media is None:
            continue
        if media.gcs_uri is not None:
            parts.append({"fileData": {"fileUri": media.gcs_uri, "mimeType": mime or _guess_mime(media)}})
        else:
            parts.append({"inlineData": {"data": base64.b64encode(media.data or b"").decode(), "mimeType": mime}})
    return {"content": {"parts": parts}, "embedContentConfig": {"outputDimensionality": req.dimension}}


def _guess_mime(media: Image | Video) -> str:
    """A gs:// object's MIME type from its name (Gemini requires one for fileData)."""
    import mimetypes

    guessed, _ = mimetypes.guess_type(media.gcs_uri or "")
    kind = "video" if isinstance(media, Video) else "image"
    if guessed and guessed.startswith(kind + "/"):
        return guessed
    return "video/mp4" if kind == "video" else "image/jpeg"


def parse_embed_content_body(body: Any, limits: ModelLimits) -> EmbedRequest:
    """Server side: an embedContent body into a validated request. Accepts the camelCase and
    snake_case spellings the SDKs produce."""
    if not isinstance(body, Mapping):
        raise InvalidArgumentError("request body must be a JSON object", status="INVALID_ARGUMENT")
    content = body.get("content")
    if content is None and isinstance(body.get("contents"), list) and len(body["contents"]) == 1:
        content = body["contents"][0]
    if not isinstance(content, Mapping) or not isinstance(content.get("parts"), list) or not content["parts"]:
        raise InvalidArgumentError("content.parts must be a non-empty list", status="INVALID_ARGUMENT")
    texts: list[str] = []
    media: dict[str, Image | Video] = {}
    for i, part in enumerate(content["parts"]):
        where = f"content.parts[{i}]"
        if not isinstance(part, Mapping):
            raise InvalidArgumentError(f"{where} must be an object", status="INVALID_ARGUMENT")
        if "text" in part:
            if not isinstance(part["text"], str):
                raise InvalidArgumentError(f"{where}.text must be a string", status="INVALID_ARGUMENT")
            texts.append(part["text"])
            continue
        kind, item = _parse_media_part(part, where)
        if kind in media:
            # One EmbedRequest holds one image and one video; dropping a part silently would
            # return a vector for less than was sent.
            raise InvalidArgumentError(
                f"{where}: only one {kind} part per content is supported", status="INVALID_ARGUMENT"
            )
        media[kind] = item
    image, video = media.get("image"), media.get("video")
    assert image is None or isinstance(image, Image)
    assert video is None or isinstance(video, Video)
    cfg = body.get("embedContentConfig") or body.get("config") or {}
    dim = cfg.get("outputDimensionality", cfg.get("output_dimensionality")) if isinstance(cfg, Mapping) else None
    if dim is None:
        dim = body.get("outputDimensionality")
    if isinstance(dim, float) and dim.is_integer():
        dim = int(dim)
    return EmbedRequest.create(
        image=image,
        video=video,
        contextual_text=" ".join(texts) if texts else None,
        dimension=dim,
        limits=limits,
    )


def _parse_media_part(part: Mapping[str, Any], where: str) -> tuple[str, Image | Video]:
    """An ``inlineData`` or ``fileData`` part into ("image" | "video", media)."""
    inline = part.get("inlineData") or part.get("inline_data")
    file_data = part.get("fileData") or part.get("file_data")
    if isinstance(inline, Mapping):
        mime = inline.get("mimeType") or inline.get("mime_type") or ""
    elif isinstance(file_data, Mapping):
        mime = file_data.get("mimeType") or file_data.get("mime_type") or ""
    else:
        raise InvalidArgumentError(f"{where}: expected text, inlineData or fileData", status="INVALID_ARGUMENT")
    if not isinstance(mime, str):
        raise InvalidArgumentError(f"{where}: mimeType must be a string", status="INVALID_ARGUMENT")
    kind = "video" if mime.startswith("video/") else "image" if mime.startswith("image/") else None
    if kind is None:
        raise InvalidArgumentError(
            f"{where}: mimeType {mime!r} is not supported; expected image/* or video/*", status="INVALID_ARGUMENT"
        )
    cls = Video if kind == "video" else Image
    if isinstance(inline, Mapping):
        data = _decode_b64(inline.get("data"), where + ".inlineData", field="data", proto_bytes=True)
        return kind, cls(data, name=where)
    uri = file_data.get("fileUri") or file_data.get("file_uri")  # type: ignore[union-attr]
    if not isinstance(uri, str):
        raise InvalidArgumentError(f"{where}.fileData.fileUri must be a string", status="INVALID_ARGUMENT")
    return kind, cls(gcs_uri=uri, name=where)


def build_embed_content_response(values: Any) -> dict[str, Any]:
    return {"embedding": {"values": [float(x) for x in values]}}


def parse_embed_content_response(body: Mapping[str, Any]) -> list[float]:
    return list(body["embedding"]["values"])
