"""gs:// media in the emulator: read from Cloud Storage (the storage emulator) and checked like
inline bytes; without a storage client the URI stands in for the bytes, as before."""

from __future__ import annotations

import numpy as np
import pytest
from factories import image_bytes, pdf_bytes

from vertex_mm import Document, Image
from vertex_mm.emulator import run_emulator
from vertex_mm.emulator.gcs_media import GcsMedia
from vertex_mm.gcs import ObjectNotFoundError, ObjectTooLargeError
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.testing import HashedEmbedder
from vertex_mm.wire import EmbedRequest


def _embed(genai, uri: str, mime: str, dimension: int = 128) -> np.ndarray:
    from google.genai import types

    r = genai.models.embed_content(model="gemini-embedding-2", contents=types.Part.from_uri(file_uri=uri, mime_type=mime),
                                   config=types.EmbedContentConfig(output_dimensionality=dimension))
    return np.asarray(r.embeddings[0].values)


def test_a_gs_image_part_is_embedded_from_the_object_bytes(genai, bucket):
    data = image_bytes("PNG", color=(10, 200, 90))
    bucket.blob("pics/a.png").upload_from_string(data)
    expected = HashedEmbedder().embed_content(Image(data), dimension=128)
    np.testing.assert_allclose(_embed(genai, "gs://bkt/pics/a.png", "image/png"), expected, rtol=1e-5, atol=1e-7)


def test_a_seven_page_pdf_in_a_bucket_gets_the_same_400_as_inline(genai, bucket):
    from google.genai import errors

    bucket.blob("docs/long.pdf").upload_from_string(pdf_bytes(7))
    with pytest.raises(errors.ClientError) as info:
        _embed(genai, "gs://bkt/docs/long.pdf", "application/pdf")
    assert info.value.code == 400
    assert "7 pages" in info.value.message


def test_a_missing_object_is_a_400_naming_the_uri(genai):
    from google.genai import errors

    with pytest.raises(errors.ClientError) as info:
        _embed(genai, "gs://bkt/nope.png", "image/png")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "gs://bkt/nope.png" in info.value.message and "no such Cloud Storage object" in info.value.message


def test_predict_reads_a_gcs_uri_image(gcs_emulator, bucket):
    import httpx

    data = image_bytes("JPEG", color=(1, 2, 3))
    bucket.blob("img.jpg").upload_from_string(data)
    url = f"{gcs_emulator.url}/v1/projects/p/locations/us-central1/publishers/google/models/multimodalembedding@001:predict"
    body = {"instances": [{"image": {"gcsUri": "gs://bkt/img.jpg"}}], "parameters": {"dimension": 128}}
    got = httpx.post(url, json=body).json()["predictions"][0]["imageEmbedding"]
    expected = HashedEmbedder().get_embeddings(image=Image(data), dimension=128).image_embedding
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    missing = httpx.post(url, json={"instances": [{"image": {"gcsUri": "gs://bkt/gone.jpg"}}]})
    assert missing.status_code == 400 and "gs://bkt/gone.jpg" in missing.json()["error"]["message"]


def test_objects_over_the_bound_are_refused_unread(gcs, bucket):
    bucket.blob("big.pdf").upload_from_string(pdf_bytes(1))
    media = GcsMedia(gcs.client(), max_bytes=100)
    request = EmbedRequest.create_content([Document(gcs_uri="gs://bkt/big.pdf")], limits=GEMINI_EMBEDDING_2)
    with pytest.raises(ObjectTooLargeError, match="at most 100 bytes"):
        media.resolve(request, GEMINI_EMBEDDING_2)
    with pytest.raises(ObjectNotFoundError):
        media.read("gs://no-such-bucket/x.pdf")


def test_without_storage_the_uri_stands_in_for_the_bytes(monkeypatch, genai_for):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    with run_emulator(backend="hashed") as emu:
        got = _embed(genai_for(emu.url), "gs://bkt/never-read.png", "image/png")
    expected = HashedEmbedder().embed_content(Image(gcs_uri="gs://bkt/never-read.png"), dimension=128)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_storage_emulator_points_google_cloud_storage_at_itself_and_restores_the_variable(monkeypatch):
    from vertex_mm.gcs import make_client, read_object, write_object
    from vertex_mm.testing.storage import storage_emulator

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://before:1")
    with storage_emulator(buckets=["b1"]) as server:
        import os

        assert os.environ["STORAGE_EMULATOR_HOST"] == server.url
        client = make_client()  # a plain storage.Client() finds it through the variable
        write_object(client, "gs://b1/x.txt", b"hello")
        assert read_object(server.client(), "gs://b1/x.txt", max_bytes=5) == b"hello"
    assert os.environ["STORAGE_EMULATOR_HOST"] == "http://before:1"


def test_save_of_a_gs_image_reads_the_object(bucket, tmp_path):
    data = image_bytes("PNG", color=(5, 6, 7))
    bucket.blob("pics/b.png").upload_from_string(data)
    img = Image(gcs_uri="gs://bkt/pics/b.png")
    img.save(tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes() == data
    assert img._size == (64, 48)
    with pytest.raises(ObjectNotFoundError, match="gs://bkt/pics/missing.png"):
        Image(gcs_uri="gs://bkt/pics/missing.png").save(tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()


def test_gs_image_and_video_over_the_request_limit_together_are_embedded(gcs_emulator, bucket):
    """The service sizes the request it receives, where a gs:// part is a short URI: the
    object bytes the emulator downloads do not count against the 30 MB request limit."""
    import io
    import struct

    import httpx
    from factories import mp4_bytes
    from PIL import Image as PILImage

    mb = 1024 * 1024
    buf = io.BytesIO()
    PILImage.new("RGB", (1900, 1800), (40, 90, 200)).save(buf, "BMP")  # ~10 MB
    video = mp4_bytes(seconds=2.0, fps=2, size=(32, 32)) + struct.pack(">I", 15 * mb + 8) + b"free" + bytes(15 * mb)
    assert len(buf.getvalue()) + len(video) > 24 * mb  # as inline base64, over 30 MB
    bucket.blob("big.bmp").upload_from_string(buf.getvalue())
    bucket.blob("big.mp4").upload_from_string(video)
    url = f"{gcs_emulator.url}/v1/projects/p/locations/us-central1/publishers/google/models/multimodalembedding@001:predict"
    body = {"instances": [{"image": {"gcsUri": "gs://bkt/big.bmp"}, "video": {"gcsUri": "gs://bkt/big.mp4"}}],
            "parameters": {"dimension": 1408}}
    answer = httpx.post(url, json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert prediction["imageEmbedding"] and prediction["videoEmbeddings"]


def test_save_of_a_gs_video_over_the_embedding_limit_writes_the_whole_object(bucket, tmp_path):
    # vision_models' save writes the whole object: the inline-embedding bound is no save limit.
    from vertex_mm import Video

    data = b"\x00\x00\x00\x18ftypisom" + bytes(31 * 1024 * 1024)  # over the 30 MB a video embeds inline
    bucket.blob("clips/big.mp4").upload_from_string(data)
    Video(gcs_uri="gs://bkt/clips/big.mp4").save(tmp_path / "big.mp4")
    assert (tmp_path / "big.mp4").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.mp4"]  # no part file left
