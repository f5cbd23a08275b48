"""Property-based tests (hypothesis): whatever bytes or JSON arrive, the parsers and sniffers give
a valid result or a typed vertex-mm error, never another exception (issue 11, item 4)."""

from __future__ import annotations

import base64

import pytest
from factories import image_bytes, mp4_bytes, pdf_bytes, wav_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertex_mm.content import as_parts
from vertex_mm.errors import VertexMMError
from vertex_mm.limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001, check_image_bytes, check_video_bytes, sniff_media
from vertex_mm.limits.content import check_audio_bytes, check_content_video_bytes, check_document_bytes
from vertex_mm.wire import (
    parse_batch_input_line,
    parse_batch_output_line,
    parse_embed_content_body,
    parse_instance,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values the parsers accept, mixed in so that random structures get past the first checks.
plausible = st.sampled_from(["gs://bkt/a.jpg", "gs://bkt/v.mp4", "image/png", "video/mp4", "application/pdf",
                             "audio/wav", base64.b64encode(image_bytes("PNG")).decode(), 128, 1408, 4.0, 16])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20) | plausible,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
# Real media with random damage: the interesting bytes are near-valid ones.
SEEDS = [image_bytes("PNG"), image_bytes("JPEG"), pdf_bytes(1), wav_bytes(0.2)]


def _mutated() -> st.SearchStrategy[bytes]:
    def damage(args: tuple[bytes, int, int, bytes]) -> bytes:
        data, cut, at, junk = args
        data = data[: max(1, cut % (len(data) + 1))]
        at = at % (len(data) + 1)
        return data[:at] + junk + data[at + len(junk):]

    return st.tuples(st.sampled_from(SEEDS), st.integers(0, 10**6), st.integers(0, 10**6),
                     st.binary(max_size=16)).map(damage)


any_bytes = st.binary(max_size=2048) | _mutated()


def _typed_or_ok(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except VertexMMError:
        pass


def _obj(**fields: st.SearchStrategy) -> st.SearchStrategy:
    """Objects with the wire format's own keys (any subset), holding anything: where parsers
    trip, beside arbitrary JSON."""
    return st.fixed_dictionaries({}, optional=fields) | json_values


uris = st.sampled_from(["gs://bkt/a.jpg", "gs://bkt/v.mp4", "gs://bkt/d.pdf"]) | st.text(max_size=10)
b64 = st.sampled_from([base64.b64encode(image_bytes("PNG")).decode(), base64.b64encode(wav_bytes(0.1)).decode(),
                       base64.b64encode(pdf_bytes(1)).decode(), "!!", ""]) | st.text(max_size=8)
mimes = st.sampled_from(["image/png", "video/mp4", "application/pdf", "audio/wav", "text/plain"]) | json_values
segment = _obj(startOffsetSec=json_values, endOffsetSec=json_values, intervalSec=json_values)
media_json = _obj(bytesBase64Encoded=b64, gcsUri=uris, mimeType=mimes, videoSegmentConfig=segment)
instances = _obj(text=st.text(max_size=10) | json_values, image=media_json, video=media_json)
parameters = _obj(dimension=st.sampled_from([128, 1408, 100]) | json_values)
blob = _obj(mimeType=mimes, mime_type=mimes, data=b64, fileUri=uris, file_uri=uris)
part_json = _obj(text=st.text(max_size=10) | json_values, inlineData=blob, fileData=blob, inline_data=blob, file_data=blob)
config = _obj(outputDimensionality=st.sampled_from([128, 768, 100.0]) | json_values,
              output_dimensionality=json_values, audioTrackExtraction=json_values)
content_json = _obj(parts=st.lists(part_json, max_size=3) | json_values, role=json_values)
bodies = _obj(content=content_json, contents=st.lists(content_json, max_size=2) | json_values, embedContentConfig=config,
              config=config, outputDimensionality=json_values)


@FAST
@given(instance=instances, params=parameters)
def test_predict_instances_parse_or_fail_typed(instance, params):
    _typed_or_ok(parse_instance, instance, params, MULTIMODAL_EMBEDDING_001)


@FAST
@given(body=bodies)
def test_embed_content_bodies_parse_or_fail_typed(body):
    _typed_or_ok(parse_embed_content_body, body, GEMINI_EMBEDDING_2)


@FAST
@given(data=any_bytes, mime=st.sampled_from(["image/png", "image/jpeg", "application/pdf", "audio/wav", "audio/mpeg",
                                             "video/mp4", "text/plain", ""]))
def test_embed_content_parts_of_any_bytes_parse_or_fail_typed(data, mime):
    body = {"content": {"parts": [{"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}]},
            "embedContentConfig": {"outputDimensionality": 128}}
    _typed_or_ok(parse_embed_content_body, body, GEMINI_EMBEDDING_2)


@FAST
@given(line=_obj(key=st.text(max_size=5) | json_values, request=bodies,
                 response=_obj(embedding=_obj(values=st.lists(st.floats(), max_size=3) | json_values)),
                 status=json_values))
def test_batch_lines_parse_or_fail_typed(line):
    _typed_or_ok(parse_batch_input_line, line, GEMINI_EMBEDDING_2)
    key, values, error = parse_batch_output_line(line)  # output lines never raise: a bad row is an error row
    assert isinstance(key, str) and (values is None) != (error is None)


@FAST
@given(data=any_bytes)
def test_sniffers_and_checks_of_any_bytes_never_raise_untyped(data):
    found = sniff_media(data)
    assert found is None or found[0] in ("image", "video", "document", "audio")
    content = GEMINI_EMBEDDING_2.content
    assert content is not None
    for check in (lambda: check_image_bytes(data, MULTIMODAL_EMBEDDING_001),
                  lambda: check_video_bytes(data, MULTIMODAL_EMBEDDING_001),
                  lambda: check_document_bytes(data, content),
                  lambda: check_audio_bytes(data, content),
                  lambda: check_content_video_bytes(data, content),
                  lambda: as_parts(data)):
        _typed_or_ok(check)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(cut=st.integers(1, 4000), junk=st.binary(min_size=1, max_size=64))
def test_damaged_mp4s_are_typed_errors_or_valid(cut, junk):
    data = mp4_bytes(seconds=1.0, fps=2, size=(16, 16))
    _typed_or_ok(check_content_video_bytes, data[:cut] + junk + data[cut + len(junk):], GEMINI_EMBEDDING_2.content)
