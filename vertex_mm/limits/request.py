"""The size of one whole request on the wire, checked against the model's request limit.

Each part has its own limit (an image's 20 MB, a video's inline bound), but the service
refuses the *request* above ``max_request_bytes`` ("Request payload size exceeds the limit"),
after the upload. A @001 image and video, or a gemini video and a long text, each within its
own limit, can be too large together: :func:`check_request_size` refuses them before the
network, naming every part.

Sizes are worked out, not measured by serialising the request: inline media travel as base64
(4 bytes per 3, padded), text as a JSON string with every non-ASCII character escaped (what
google-genai's ``json.dumps`` and protobuf's ``MessageToJson`` send; gRPC sends UTF-8, which
is never longer), and the rest of the body (keys, MIME types, parameters) fits in
:data:`~vertex_mm.limits.models.REQUEST_ENVELOPE_BYTES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring_ascii

from ..errors import InputError
from .models import MB, REQUEST_ENVELOPE_BYTES

__all__ = ["base64_size", "check_request_size", "json_text_size"]


def base64_size(n: int) -> int:
    """Bytes of ``n`` bytes written as padded base64."""
    return 4 * ((n + 2) // 3)


def json_text_size(text: str) -> int:
    """Bytes of ``text`` as an ASCII-escaped JSON string, quotes included (the C encoder
    json.dumps uses: one pass over text already bounded by ``MAX_TEXT_CHARS``)."""
    return len(encode_basestring_ascii(text))


def check_request_size(parts: Sequence[tuple[str, int]], limit: int, *, model: str,
                       error: type[InputError]) -> int:
    """The wire size of a request made of ``parts`` (``(name, wire bytes)`` each, from
    :func:`base64_size` / :func:`json_text_size`) plus its envelope; ``error`` (an
    :class:`InputError` subclass) when it is over ``limit``, naming each part's share."""
    wire = sum(size for _, size in parts) + REQUEST_ENVELOPE_BYTES
    if wire > limit:
        shares = " + ".join(f"{name} {size:,}" for name, size in parts)
        largest = max(parts, key=lambda p: p[1])[0] if parts else None
        raise error(
            f"the request is {wire:,} bytes on the wire: {shares} (media as base64, text as JSON) + envelope "
            f"{REQUEST_ENVELOPE_BYTES:,}; {model} takes at most {limit:,} bytes ({limit // MB} MB) per request",
            input_name=largest,
            hint="Make the media smaller, or upload them to Cloud Storage and pass gs:// URIs "
                 "(Image(gcs_uri=...), Video(gcs_uri=...)), which do not count")
    return wire
