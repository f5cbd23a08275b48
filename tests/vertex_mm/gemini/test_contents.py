"""``GeminiEmbedder.embed_content`` / ``embed_contents`` end to end against the emulator: one
vector per content, tasks written into the text, per-item errors, input order, the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from factories import image_bytes, pdf_bytes, wav_bytes

from vertex_mm import Audio, Document, Image, get_embedder
from vertex_mm.errors import BatchError, InvalidDocumentError, InvalidImageError


def test_one_content_is_one_unit_vector_equal_to_the_services(gemini, hashed):
    parts = ["quarterly revenue", Image(image_bytes("PNG")), Document(pdf_bytes(2)), Audio(wav_bytes(0.5))]
    v = gemini.embed_content(parts, dimension=1536)
    assert v.shape == (1536,) and v.dtype == np.float32
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(v, hashed.embed_content(parts, dimension=1536), rtol=1e-5, atol=1e-7)


def test_the_default_dimension_is_3072(gemini):
    assert gemini.embed_content("x").shape == (3072,)


def test_a_task_is_written_into_the_text_the_service_receives(gemini, hashed):
    got = gemini.embed_content("red shoes", task="retrieval_query", dimension=128)
    np.testing.assert_allclose(got, hashed.embed_content("task: search result | query: red shoes", dimension=128),
                               rtol=1e-5)
    doc = gemini.embed_content("red shoes on sale", task="retrieval_document", title="Shop", dimension=128)
    np.testing.assert_allclose(doc, hashed.embed_content("title: Shop | text: red shoes on sale", dimension=128),
                               rtol=1e-5)


def test_a_list_of_strings_is_one_vector_per_string_never_merged(gemini):
    out = gemini.embed_contents(["a", "b", ["a", "b"]], dimension=128)
    assert out.shape == (3, 128)
    assert not np.allclose(out[0], out[1]) and not np.allclose(out[2], out[0])
    np.testing.assert_allclose(out[0], gemini.embed_content("a", dimension=128), rtol=1e-6)


def test_the_space_records_the_task_but_does_not_separate_queries_from_documents(gemini):
    docs = gemini.embed_contents(["doc one"], task="retrieval_document", dimension=768)
    queries = gemini.embed_contents(["query"], task="retrieval_query", dimension=768)
    assert docs.space.id == "gemini/gemini-embedding-2/768;task=retrieval_document"
    assert queries.space.task == "retrieval_query"
    docs.space.require_same(queries.space)  # one space: an index of documents takes these queries


def test_bad_contents_are_per_item_errors_and_the_batch_goes_on(gemini, emulator):
    png = image_bytes("PNG")
    contents = ["fine", [Image(png)] * 7, Document(pdf_bytes(7)), Document(png), ["also", Image(png)]]
    out = gemini.embed_contents(contents, dimension=256, errors="collect")
    assert out.ok.tolist() == [True, False, False, False, True]
    assert isinstance(out.errors[1], InvalidImageError) and "7 images" in str(out.errors[1])
    assert isinstance(out.errors[2], InvalidDocumentError) and "7 pages" in str(out.errors[2])
    assert isinstance(out.errors[3], InvalidDocumentError) and "not a PDF" in str(out.errors[3])
    assert emulator.stats()["2xx"] == 2  # refused before the network, nothing sent for them
    with pytest.raises(BatchError, match="3 of 5 inputs failed"):
        gemini.embed_contents(contents, dimension=256)


def test_files_are_read_and_sniffed_from_paths(gemini, hashed, tmp_path):
    pdf, wav = pdf_bytes(1), wav_bytes(0.5)
    (tmp_path / "page.pdf").write_bytes(pdf)
    (tmp_path / "clip.wav").write_bytes(wav)
    out = gemini.embed_contents([Path(tmp_path / "page.pdf"), [Path(tmp_path / "clip.wav"), "speech"]], dimension=128)
    np.testing.assert_allclose(out[0], hashed.embed_content(Document(pdf), dimension=128), rtol=1e-5)
    np.testing.assert_allclose(out[1], hashed.embed_content([Audio(wav), "speech"], dimension=128), rtol=1e-5)


def test_repeated_contents_are_sent_once_with_a_cache(emulator, tmp_path):
    emb = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None,
                       cache=tmp_path / "c.sqlite")
    try:
        first = emb.embed_contents(["x", ["x", "y"], "x"], dimension=128)
        again = emb.embed_contents([["x", "y"]], dimension=128)
    finally:
        emb.close()
    assert emulator.stats()["2xx"] == 2
    np.testing.assert_array_equal(first[1], again[0])


def test_async_twins_give_the_same_vectors(gemini):
    async def both():
        return await gemini.aembed_content("x", dimension=128), await gemini.aembed_contents(["x", "y"], dimension=128)

    one, many = asyncio.run(both())
    np.testing.assert_allclose(one, many[0], rtol=1e-6)
    np.testing.assert_allclose(one, gemini.embed_content("x", dimension=128), rtol=1e-6)


def test_multimodalembedding_001_answers_one_part_contents_and_refuses_more(emulator):
    from vertex_mm.errors import UnsupportedInputError

    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none")
    try:
        out = vertex.embed_contents(["a cat", Image(image_bytes("PNG"))], dimension=512)
        assert out.shape == (2, 512) and out.ok.all()
        with pytest.raises(UnsupportedInputError, match="gemini-embedding-2"):
            vertex.embed_content(["a cat", Image(image_bytes("PNG"))])
        with pytest.raises(UnsupportedInputError, match="task"):
            vertex.embed_content("a cat", task="retrieval_query")
    finally:
        vertex.close()


def _path_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "name of an existing media file" in str(w.message)]


def test_strings_naming_media_files_warn_once_and_are_still_embedded_as_text(gemini, tmp_path):
    cat, dog = tmp_path / "cat.jpg", tmp_path / "dog.PNG"
    cat.write_bytes(image_bytes("JPEG"))
    dog.write_bytes(image_bytes("PNG"))
    items = [str(cat), "a photo of a cat", str(dog), str(tmp_path / "missing.jpg"), str(tmp_path)]
    with pytest.warns(UserWarning) as record:
        got = gemini.embed_contents(items, dimension=128)
    messages = _path_warnings(record)
    assert len(messages) == 1, messages
    assert repr(str(cat)) in messages[0] and "(and 1 more)" in messages[0] and "pathlib.Path" in messages[0]
    # What is embedded does not change: the text of the name, not the file. One content warns too.
    with pytest.warns(UserWarning, match=r"^embed_content: the text .*cat\.jpg"):
        one = gemini.embed_content(str(cat), dimension=128)
    np.testing.assert_allclose(np.asarray(got)[0], one, rtol=1e-6)
    with pytest.warns(UserWarning, match=r"^aembed_content: .*dog\.PNG"):
        asyncio.run(gemini.aembed_content(["a dog:", str(dog)], dimension=128))
    assert not np.allclose(np.asarray(got)[0], gemini.embed_content(cat, dimension=128), atol=1e-3)


def test_paths_captions_and_async_calls(gemini, tmp_path, recwarn):
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(image_bytes("JPEG"))
    gemini.embed_contents([cat, "cat.jpg is a file name in a caption", str(tmp_path / "notes.txt")], dimension=128)
    assert _path_warnings(recwarn) == []
    asyncio.run(gemini.aembed_contents([str(cat)], dimension=128))
    messages = _path_warnings(recwarn)
    assert len(messages) == 1 and messages[0].startswith("aembed_contents: ")


def test_gs_uri_strings_of_media_warn_and_are_still_embedded_as_text(gemini, recwarn):
    uri = "gs://my-bucket/photos/cat.jpg"
    with pytest.warns(UserWarning, match=r"^embed_contents: the text 'gs://my-bucket/photos/cat.jpg' \(and 1 more\) "
                                         r"is a gs:// URI .* Pass Image\(gcs_uri=\.\.\.\)"):
        got = gemini.embed_contents([uri, "a cat", "gs://b/report.PDF"], dimension=128)
    np.testing.assert_allclose(np.asarray(got)[0], gemini.embed_content(uri, dimension=128), rtol=1e-6)  # the text
    recwarn.clear()
    gemini.embed_contents(["gs://bucket/notes.txt", "see gs://b/cat.jpg for the photo"], dimension=128)
    assert not [w for w in recwarn if "gs:// URI" in str(w.message)]  # not media, or not a whole URI
