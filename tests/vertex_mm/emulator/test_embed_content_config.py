"""The emulator's ``embedContentConfig`` switches and ``usageMetadata``, through the real
google-genai client: ``autoTruncate`` (false over the token budget: 400 INVALID_ARGUMENT),
``documentOcr`` (the text the service reads adds tokens) and ``promptTokensDetails`` (per
modality, which google-genai reads into ``statistics.tokens_details``)."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
import numpy as np
import pytest
from factories import pdf_bytes
from genai_clients import genai_client_for

from vertex_mm import Video
from vertex_mm.wire import parse_embed_content_body
from vertex_mm.wire.embed_content import EmbedContentOptions, parse_embed_content_options

PAGE_TEXT = "Quarterly revenue by region, 2026"


def text_pdf(text: str = PAGE_TEXT) -> bytes:
    """A one-page PDF whose text layer holds ``text`` (Helvetica, written by hand)."""
    stream = f"BT /F1 18 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _embed(client: Any, contents: Any, **config: Any) -> Any:
    from google.genai import types

    return client.models.embed_content(model="gemini-embedding-2", contents=contents,
                                       config=types.EmbedContentConfig(output_dimensionality=128, **config))


def _details(response: Any) -> dict[str, int]:
    stats = response.embeddings[0].statistics
    return {d.modality.value: d.token_count for d in stats.tokens_details or ()}


@pytest.fixture
def client(genai_client):
    return genai_client  # the short name these tests read with


# -- promptTokensDetails -------------------------------------------------------------------------


def test_token_details_per_modality_are_read_by_the_sdk(client, png_bytes):
    from google.genai import types

    parts = [types.Part(text="x" * 40), types.Part.from_bytes(data=png_bytes, mime_type="image/png"),
             types.Part.from_bytes(data=pdf_bytes(2), mime_type="application/pdf")]
    r = _embed(client, types.Content(role="user", parts=parts))
    assert _details(r) == {"TEXT": 10, "IMAGE": 258, "DOCUMENT": 2 * 258}
    assert r.embeddings[0].statistics.token_count == 10 + 258 + 2 * 258  # the details add up to the count


def test_a_video_with_its_audio_track_is_counted_as_video_and_audio(client, mp4_10s):
    from google.genai import types

    r = _embed(client, types.Part.from_bytes(data=mp4_10s, mime_type="video/mp4"), audio_track_extraction=True)
    details = _details(r)
    assert set(details) == {"VIDEO", "AUDIO"} and details["AUDIO"] == 10 * 25
    assert sum(details.values()) == r.embeddings[0].statistics.token_count


# -- autoTruncate ---------------------------------------------------------------------------------


LONG = "word " * 8000  # 40,000 characters: about 10,000 tokens, over the 8192 budget


def test_auto_truncate_false_over_the_budget_is_invalid_argument(client):
    from google.genai import errors

    with pytest.raises(errors.ClientError) as info:
        _embed(client, LONG, auto_truncate=False)
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "autoTruncate is false" in info.value.message and "8192" in info.value.message


@pytest.mark.parametrize("auto_truncate", [None, True])
def test_by_default_or_with_auto_truncate_the_start_is_embedded_and_truncated_said(client, auto_truncate):
    r = _embed(client, LONG, auto_truncate=auto_truncate)
    assert r.embeddings[0].statistics.truncated is True


def test_auto_truncate_false_within_the_budget_is_answered(client):
    r = _embed(client, "short", auto_truncate=False)
    assert len(r.embeddings[0].values) == 128 and not r.embeddings[0].statistics.truncated


def test_the_deprecated_top_level_auto_truncate_is_read_too():
    assert parse_embed_content_options({"content": {}, "autoTruncate": False}) == EmbedContentOptions(False, False)
    assert parse_embed_content_options({"embedContentConfig": {"auto_truncate": True, "document_ocr": True}}) == \
        EmbedContentOptions(True, True)


# -- documentOcr ----------------------------------------------------------------------------------


def test_document_ocr_adds_the_text_it_reads_to_the_document_tokens(client, hashed):
    from google.genai import types

    pdf = types.Part.from_bytes(data=text_pdf(), mime_type="application/pdf")
    plain, ocr = _embed(client, pdf), _embed(client, pdf, document_ocr=True)
    assert _details(plain) == {"DOCUMENT": 258}
    assert _details(ocr) == {"DOCUMENT": 258 + math.ceil(len(PAGE_TEXT) / 4)}
    # The vector stays the emulator's vector of the PDF.
    np.testing.assert_allclose(ocr.embeddings[0].values, plain.embeddings[0].values)


def test_document_ocr_of_a_pdf_without_text_adds_nothing(client):
    from google.genai import types

    r = _embed(client, types.Part.from_bytes(data=pdf_bytes(1), mime_type="application/pdf"), document_ocr=True)
    assert _details(r) == {"DOCUMENT": 258}


@pytest.mark.parametrize("field", ["documentOcr", "autoTruncate", "audioTrackExtraction"])
def test_a_switch_that_is_not_a_boolean_is_a_400(emulator, field):
    url = f"{emulator.url}/v1/projects/p/locations/global/publishers/google/models/gemini-embedding-2:embedContent"
    body = {"content": {"parts": [{"text": "hi"}]}, "embedContentConfig": {field: "yes"}}
    r = httpx.post(url, json=body)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert f"embedContentConfig.{field} must be a boolean" in r.json()["error"]["message"]


def test_task_type_and_title_are_ignored_as_the_model_documents():
    from vertex_mm.limits import GEMINI_EMBEDDING_2

    body = {"content": {"parts": [{"text": "hi"}]},
            "embedContentConfig": {"taskType": "RETRIEVAL_QUERY", "title": "t", "outputDimensionality": 128}}
    assert parse_embed_content_body(body, GEMINI_EMBEDDING_2).dimension == 128


@pytest.mark.parametrize(("body", "message"), [
    # Each was answered 200 (a typo giving the default dimension); the service refuses them.
    ({"content": {"parts": [{"text": "hi"}]}, "embedContentConfig": {"outputDimensionalty": 256}},
     "Unknown name 'outputDimensionalty' at 'embed_content_config'"),
    ({"contents": [{"parts": [{"text": "hi"}]}]}, "Unknown name 'contents'"),
    ({"content": {"parts": [{"text": "hi"}]}, "config": {"output_dimensionality": 256}}, "Unknown name 'config'"),
    ({"content": {"parts": [{"text": "hi", "txt": "x"}]}}, "Unknown name 'txt' at 'content.parts[0]'"),
    ({"content": {"parts": [{"text": "hi", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}},
     "a part holds one of text, inlineData or fileData, got text and inlineData"),
    ({"content": {"parts": [{"text": "hi"}]}, "embedContentConfig": {"taskType": "retrieval_document"}},
     "Invalid value at 'embed_content_config.task_type'"),
    ({"content": {"parts": [{"text": "hi"}]}, "embedContentConfig": {"title": 5}},
     "Invalid value at 'embed_content_config.title'"),
])
def test_what_the_service_refuses_is_a_400_here_too(body, message):
    from vertex_mm.errors import InvalidArgumentError
    from vertex_mm.limits import GEMINI_EMBEDDING_2

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        parse_embed_content_body(body, GEMINI_EMBEDDING_2)


def test_the_sdk_in_snake_case_and_enum_numbers_are_accepted():
    from vertex_mm.limits import GEMINI_EMBEDDING_2

    body = {"content": {"role": "user", "parts": [{"text": "hi"}]},
            "embed_content_config": {"task_type": 2, "output_dimensionality": 128, "auto_truncate": True}}
    assert parse_embed_content_body(body, GEMINI_EMBEDDING_2).dimension == 128
    body["embed_content_config"]["output_dimensionality"] = "256"  # proto JSON: an int32 may be a string
    assert parse_embed_content_body(body, GEMINI_EMBEDDING_2).dimension == 256


# -- batch prediction rows ------------------------------------------------------------------------


def test_batch_rows_honour_video_metadata_auto_truncate_and_document_ocr(gcs_emulator, bucket, mp4_10s):
    import base64
    import json
    import time

    from google.genai import types

    from vertex_mm.testing import HashedEmbedder

    def row(key: str, part: dict, **config: Any) -> dict:
        return {"key": key, "request": {"content": {"parts": [part]},
                                        "embed_content_config": {"output_dimensionality": 128, **config}}}

    def inline(data: bytes, mime: str) -> dict:
        return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}

    lines = [row("span", {**inline(mp4_10s, "video/mp4"), "video_metadata": {"start_offset": "2s", "end_offset": "5s"}}),
             row("long", {"text": LONG}, auto_truncate=False),
             row("ocr", inline(text_pdf(), "application/pdf"), document_ocr=True)]
    bucket.blob("in/rows.jsonl").upload_from_string("".join(json.dumps(x) + "\n" for x in lines))
    client = genai_client_for(gcs_emulator.url)
    try:
        job = client.batches.create(model="gemini-embedding-2", src="gs://bkt/in/rows.jsonl",
                                    config=types.CreateBatchJobConfig(dest="gs://bkt/out/"))
        deadline = time.monotonic() + 30
        while job.state.value not in {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_PARTIALLY_SUCCEEDED"}:
            assert time.monotonic() < deadline, job.state
            time.sleep(0.02)
            job = client.batches.get(name=job.name)
    finally:
        client.close()
    directory = job.output_info.gcs_output_directory[len("gs://bkt/"):]
    rows = {r["key"]: r for r in map(json.loads, bucket.blob(directory + "/predictions.jsonl").download_as_text().splitlines())}
    assert rows["span"]["response"]["tokenCount"] == str(3 * 66)  # 3 s of the 10 s video
    assert not np.allclose(rows["span"]["response"]["embedding"]["values"],
                           HashedEmbedder().embed_content([Video(mp4_10s)], dimension=128))
    assert "INVALID_ARGUMENT" in rows["long"]["status"] and "autoTruncate is false" in rows["long"]["status"]
    assert rows["ocr"]["response"]["tokenCount"] == str(258 + math.ceil(len(PAGE_TEXT) / 4))
