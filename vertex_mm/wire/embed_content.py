"""The ``:embedContent`` wire format of gemini-embedding-2 on Vertex AI, and the JSONL lines of
its batch prediction jobs.

Online (``POST …/publishers/google/models/gemini-embedding-2:embedContent``), one content per
request; google-genai sends exactly this (captured from google-genai 2.34)::

    body     = {"content": {"parts": [{"text": str}
                                      | {"inlineData": {"mimeType", "data": base64}}
                                      | {"fileData": {"mimeType", "fileUri": "gs://…"}}, ...],
                            "role": "user"?},
                "embedContentConfig": {"outputDimensionality": N?, "audioTrackExtraction": bool?,
                                       "documentOcr": bool?, "autoTruncate": bool?,
                                       "taskType"?, "title"?}?}
    a video part may also hold  "videoMetadata": {"startOffset": "10s", "endOffset": "20.5s",
                                                  "fps": 0.5}   (each optional)
    response = {"embedding": {"values": [...]},
                "usageMetadata": {"promptTokenCount": N,
                                  "promptTokensDetails": [{"modality": "TEXT" | "IMAGE" | "VIDEO"
                                                           | "AUDIO" | "DOCUMENT", "tokenCount": n}]}?,
                "truncated": bool?}

The SDK writes the inner keys in snake_case (``mime_type``, ``file_uri``, ``start_offset``) and
bytes as URL-safe base64; proto JSON accepts both spellings and both alphabets, and so does the
parser here. Offsets are ``google.protobuf.Duration`` strings (``"10s"``, ``"1.5s"``).
``taskType`` and ``title`` are checked (an enum name or number, a string) and otherwise ignored
by this model (its guide: put the task in the text); a field the request proto does not have is
refused, as the service refuses it (400, "Unknown name");
``autoTruncate: false`` makes a content over the 8192-token budget an INVALID_ARGUMENT
(google-genai's ``EmbedContentConfig.auto_truncate``), where by default the service embeds the
start and says ``truncated``; ``documentOcr`` reads the text of PDF parts too.

Batch prediction ("Get batch embeddings inferences"), one JSON object per line::

    input  = {"key": str, "request": {"content": {...}, "embed_content_config": {...}}}
    output = {"key": str, "request": {...}, "response": {"embedding": {"values": [...]},
                                                         "tokenCount": "N"}}
             or, for a failed row, {"key", "request", "status": str}

The client builds with these functions and the emulator parses with the same ones.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, InvalidArgumentError
from ..limits import ModelLimits
from ..media import Audio, Document, Image, Video
from .predict import decode_b64
from .request import ContentPart, EmbedRequest, VideoSpan, format_duration

__all__ = [
    "EmbedContentOptions",
    "build_batch_input_line",
    "build_batch_output_line",
    "build_embed_content_body",
    "build_embed_content_response",
    "format_duration",
    "parse_batch_input_line",
    "parse_batch_output_line",
    "parse_duration",
    "parse_embed_content_body",
    "parse_embed_content_options",
    "parse_embed_content_response",
]

_KIND_BY_MIME_PREFIX = (("image/", Image), ("video/", Video), ("audio/", Audio), ("application/pdf", Document))


#: A ``google.protobuf.Duration`` in proto JSON: seconds with up to 9 decimals and an ``s``.
_DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")


def parse_duration(value: Any, where: str) -> float:
    """Seconds of a proto JSON Duration string, or 400 INVALID_ARGUMENT naming ``where``."""
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise _bad(f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.Duration), {value!r}: "
                   "expected seconds with an 's' suffix, such as \"10s\" or \"1.5s\"")
    return float(value[:-1])


def _span_json(span: VideoSpan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if span.start is not None:
        out["startOffset"] = format_duration(span.start)
    if span.end is not None:
        out["endOffset"] = format_duration(span.end)
    if span.fps is not None:
        out["fps"] = span.fps
    return out


def _part_json(part: ContentPart) -> dict[str, Any]:
    if part.kind == "text":
        return {"text": part.text}
    media = part.media
    assert media is not None
    if media.gcs_uri is not None:
        out: dict[str, Any] = {"fileData": {"mimeType": part.mime, "fileUri": media.gcs_uri}}
    else:
        out = {"inlineData": {"mimeType": part.mime, "data": base64.b64encode(media.data or b"").decode("ascii")}}
    if part.span is not None:
        out["videoMetadata"] = _span_json(part.span)
    return out


def _config_json(req: EmbedRequest, *, snake_case: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"output_dimensionality" if snake_case else "outputDimensionality": req.dimension}
    if req.audio_track_extraction:
        config["audio_track_extraction" if snake_case else "audioTrackExtraction"] = True
    return config


def build_embed_content_body(req: EmbedRequest) -> dict[str, Any]:
    """The REST body of one ``:embedContent`` call for a content request."""
    if req.content is None:
        raise InputError("build_embed_content_body needs a content request (EmbedRequest.create_content)")
    return {"content": {"role": "user", "parts": [_part_json(p) for p in req.content]},
            "embedContentConfig": _config_json(req, snake_case=False)}


def _field(obj: Mapping[str, Any], camel: str) -> Any:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(camel, obj.get(snake))


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, status="INVALID_ARGUMENT")


# The fields of the request proto (aiplatform v1/v1beta1 EmbedContentRequest, Content, Part,
# Blob, FileData, VideoMetadata) in camelCase; proto JSON takes the snake_case names too. The
# service refuses any other name ("Invalid JSON payload received. Unknown name ..."): a misspelt
# outputDimensionality must not pass here and fail in production.
_REQUEST_FIELDS = frozenset({"model", "content", "title", "taskType", "outputDimensionality", "autoTruncate",
                             "embedContentConfig"})
_CONFIG_FIELDS = frozenset({"title", "taskType", "autoTruncate", "outputDimensionality", "documentOcr",
                            "audioTrackExtraction"})
_CONTENT_FIELDS = frozenset({"role", "parts"})
_PART_FIELDS = frozenset({"text", "inlineData", "fileData", "videoMetadata", "thought", "thoughtSignature",
                          "functionCall", "functionResponse", "executableCode", "codeExecutionResult", "mediaResolution"})
_BLOB_FIELDS = frozenset({"mimeType", "data", "displayName"})
_FILE_FIELDS = frozenset({"mimeType", "fileUri", "displayName"})
_VIDEO_FIELDS = frozenset({"startOffset", "endOffset", "fps"})
#: ``EmbedContentRequest.EmbeddingTaskType``: proto JSON takes the names or their numbers.
TASK_TYPES = ("TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY",
              "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _check_fields(obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for name in obj:
        if not isinstance(name, str) or _camel(name) not in allowed:
            raise _bad(f"Invalid JSON payload received. Unknown name {name!r} at '{where}': Cannot find field")


def _check_task_type(holder: Mapping[str, Any], where: str) -> None:
    task = _field(holder, "taskType")
    if task is not None and (isinstance(task, bool) or not (
            task in TASK_TYPES or (isinstance(task, int) and 0 <= task < len(TASK_TYPES)))):
        raise _bad(f"Invalid value at '{where}.task_type' (type.googleapis.com/google.cloud.aiplatform.v1."
                   f"EmbedContentRequest.EmbeddingTaskType), {task!r}; expected one of {', '.join(TASK_TYPES[1:])}")
    title = _field(holder, "title")
    if title is not None and not isinstance(title, str):
        raise _bad(f"Invalid value at '{where}.title' (TYPE_STRING), {title!r}")


def _parse_span(part: Mapping[str, Any], where: str) -> VideoSpan | None:
    meta = _field(part, "videoMetadata")
    if meta is None:
        return None
    where += ".videoMetadata"
    if not isinstance(meta, Mapping):
        raise _bad(f"{where} must be an object")
    start, end, fps = (_field(meta, k) for k in ("startOffset", "endOffset", "fps"))
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float))):
        raise _bad(f"{where}.fps must be a number, got {fps!r}")
    return VideoSpan(start=None if start is None else parse_duration(start, where + ".startOffset"),
                     end=None if end is None else parse_duration(end, where + ".endOffset"),
                     fps=None if fps is None else float(fps))


def _parse_part(part: Any, where: str) -> str | Image | Video | Document | Audio:
    if not isinstance(part, Mapping):
        raise _bad(f"{where} must be an object")
    _check_fields(part, _PART_FIELDS, where)
    data = [k for k in ("text", "inlineData", "fileData") if _field(part, k) is not None]
    if len(data) > 1:  # a oneof: the service refuses a second member, it does not drop it
        raise _bad(f"{where}: a part holds one of text, inlineData or fileData, got {' and '.join(data)}")
    for key, allowed in (("inlineData", _BLOB_FIELDS), ("fileData", _FILE_FIELDS), ("videoMetadata", _VIDEO_FIELDS)):
        inner = _field(part, key)
        if isinstance(inner, Mapping):
            _check_fields(inner, allowed, f"{where}.{key}")
    if "text" in part:
        if not isinstance(part["text"], str):
            raise _bad(f"{where}.text must be a string")
        return part["text"]
    inline, file_data = _field(part, "inlineData"), _field(part, "fileData")
    holder = inline if isinstance(inline, Mapping) else file_data if isinstance(file_data, Mapping) else None
    if holder is None:
        raise _bad(f"{where}: expected text, inlineData or fileData")
    mime = _field(holder, "mimeType")
    if not isinstance(mime, str) or not mime:
        raise _bad(f"{where}: mimeType is required and must be a string")
    cls = next((c for prefix, c in _KIND_BY_MIME_PREFIX if mime.startswith(prefix)), None)
    if cls is None:
        raise _bad(f"{where}: mimeType {mime!r} is not supported; expected image/*, video/*, audio/* or application/pdf")
    if holder is inline:
        return cls(decode_b64(_field(holder, "data"), where + ".inlineData", field="data", proto_bytes=True), name=where)
    uri = _field(holder, "fileUri")
    if not isinstance(uri, str):
        raise _bad(f"{where}.fileData.fileUri must be a string")
    return cls(gcs_uri=uri, name=where)


def parse_embed_content_body(body: Any, limits: ModelLimits) -> EmbedRequest:
    """Server side: an ``:embedContent`` body into a validated content request (the same
    checks as the client; bad input raises an :class:`InputError`, which the emulator answers
    with 400 INVALID_ARGUMENT and its message)."""
    if not isinstance(body, Mapping):
        raise _bad("request body must be a JSON object")
    _check_fields(body, _REQUEST_FIELDS, "")
    content = body.get("content")
    if not isinstance(content, Mapping) or not isinstance(content.get("parts"), list) or not content["parts"]:
        raise _bad("content.parts must be a non-empty list")
    _check_fields(content, _CONTENT_FIELDS, "content")
    _check_task_type(body, "")
    parts = [_parse_part(p, f"content.parts[{i}]") for i, p in enumerate(content["parts"])]
    spans = []
    for i, (raw, parsed) in enumerate(zip(content["parts"], parts)):
        span = _parse_span(raw, f"content.parts[{i}]")
        if span is not None and not isinstance(parsed, Video):
            raise _bad(f"content.parts[{i}].videoMetadata goes with a video part only")
        if span is not None:
            spans.append(span)
    config = _config(body)
    dim = _field(config, "outputDimensionality")
    if dim is None:
        dim = _field(body, "outputDimensionality")
    if isinstance(dim, float) and dim.is_integer():
        dim = int(dim)
    if isinstance(dim, str) and dim.strip().lstrip("-").isdigit():  # proto JSON takes an int32 as a string
        dim = int(dim)
    audio = _bool(config, "audioTrackExtraction")
    parse_embed_content_options(body)  # their types are checked with the rest of the request
    # One video per content at most: a second video (and its span) is refused by the count check.
    return EmbedRequest.create_content(parts, limits=limits, dimension=dim, audio_track_extraction=bool(audio),
                                       video_span=spans[0] if spans else None)


def _config(body: Mapping[str, Any]) -> Mapping[str, Any]:
    config = _field(body, "embedContentConfig") or {}
    if not isinstance(config, Mapping):
        raise _bad("embedContentConfig must be an object")
    _check_fields(config, _CONFIG_FIELDS, "embed_content_config")
    _check_task_type(config, "embed_content_config")
    return config


def _bool(config: Mapping[str, Any], camel: str) -> bool | None:
    value = _field(config, camel)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"embedContentConfig.{camel} must be a boolean")
    return value


@dataclass(frozen=True)
class EmbedContentOptions:
    """The ``embedContentConfig`` switches that do not change what is embedded:
    ``auto_truncate`` (None: not sent, the service truncates) and ``document_ocr``."""

    auto_truncate: bool | None = None
    document_ocr: bool = False


def parse_embed_content_options(body: Mapping[str, Any]) -> EmbedContentOptions:
    """``autoTruncate`` (also the deprecated top-level field) and ``documentOcr`` of a body;
    a value that is not a boolean is a 400 INVALID_ARGUMENT."""
    config = _config(body)
    auto = _bool(config, "autoTruncate")
    if auto is None:
        auto = _bool(body, "autoTruncate")
    return EmbedContentOptions(auto_truncate=auto, document_ocr=bool(_bool(config, "documentOcr")))


def build_embed_content_response(values: Sequence[float], *, token_count: int | None = None,
                                 truncated: bool = False,
                                 tokens_by_modality: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The ``:embedContent`` answer; ``truncated`` appears only when true (proto3 JSON leaves
    a false bool out). ``tokens_by_modality`` (``{"text": 10, "video": 660}``) becomes
    ``usageMetadata.promptTokensDetails`` (google-genai's ``statistics.tokens_details``)."""
    out: dict[str, Any] = {"embedding": {"values": [float(x) for x in values]}}
    if token_count is not None:
        usage: dict[str, Any] = {"promptTokenCount": int(token_count)}
        details = [{"modality": m.upper(), "tokenCount": int(n)} for m, n in (tokens_by_modality or {}).items() if n]
        if details:
            usage["promptTokensDetails"] = details
        out["usageMetadata"] = usage
    if truncated:
        out["truncated"] = True
    return out


def parse_embed_content_response(body: Mapping[str, Any]) -> list[float]:
    values = body["embedding"]["values"]
    return [float(x) for x in values]


# -- batch prediction lines -----------------------------------------------------------------


def build_batch_input_line(key: str, req: EmbedRequest) -> dict[str, Any]:
    """One input line of a batch prediction job (the documented snake_case config)."""
    body = build_embed_content_body(req)
    return {"key": key, "request": {"content": body["content"], "embed_content_config": _config_json(req, snake_case=True)}}


def parse_batch_input_line(obj: Any, limits: ModelLimits) -> tuple[str, EmbedRequest]:
    """Server side: one input line into ``(key, request)``; a bad line raises ``InputError``."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("request"), Mapping):
        raise _bad("each line must be a JSON object with a 'request' object")
    key = obj.get("key", "")
    if not isinstance(key, str):
        raise _bad("'key' must be a string")
    return key, parse_embed_content_body(obj["request"], limits)


def build_batch_output_line(key: str, request: Any, values: Sequence[float] | None = None, *,
                            error: str | None = None, token_count: int | None = None) -> dict[str, Any]:
    """One output line: the embedding, or the row's error in ``status``."""
    out: dict[str, Any] = {"key": key, "request": request}
    if error is not None:
        out["status"] = error
        return out
    response: dict[str, Any] = {"embedding": {"values": [float(x) for x in values or ()]}}
    if token_count is not None:
        response["tokenCount"] = str(int(token_count))  # int64 in proto JSON: a string
    out["response"] = response
    return out


def parse_batch_output_line(obj: Any) -> tuple[str, list[float] | None, str | None]:
    """``(key, values, error)`` of one output line; exactly one of values and error is set.
    A line that is not of the documented shape is reported as that row's error."""
    if not isinstance(obj, Mapping):
        return "", None, f"output line is not a JSON object: {str(obj)[:200]}"
    key = obj.get("key")
    key = key if isinstance(key, str) else ""
    response = obj.get("response")
    if isinstance(response, Mapping):
        try:
            return key, parse_embed_content_response(response), None
        except (KeyError, TypeError, ValueError) as exc:
            return key, None, f"malformed response ({exc!r})"
    status = obj.get("status")
    return key, None, str(status) if status else "the row has neither a response nor a status"
