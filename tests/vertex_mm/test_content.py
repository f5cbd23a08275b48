"""The content model: parts, sniffing, task instructions, and the per-content limits, checked
before any network call with a typed error naming the part and the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import image_bytes, mp3_bytes, mp4_bytes, pdf_bytes, wav_bytes

from vertex_mm import Audio, Document, Image, Video
from vertex_mm.content import TASKS, as_parts, document_task, resolve_task
from vertex_mm.errors import (
    InputError,
    InvalidAudioError,
    InvalidContentError,
    InvalidDimensionError,
    InvalidDocumentError,
    InvalidImageError,
    InvalidTextError,
    InvalidVideoError,
    UnsupportedInputError,
)
from vertex_mm.limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001
from vertex_mm.wire import EmbedRequest


def content(*parts, **kw):
    return EmbedRequest.create_content(list(parts), limits=GEMINI_EMBEDDING_2, **kw)


# -- parts -------------------------------------------------------------------------------------


def test_a_str_is_always_text_even_when_it_looks_like_a_path(tmp_path):
    (tmp_path / "cat.jpg").write_bytes(image_bytes())
    assert as_parts(str(tmp_path / "cat.jpg")) == (str(tmp_path / "cat.jpg"),)


def test_paths_and_bytes_are_sniffed_into_their_kind(tmp_path):
    files = {"a.bin": image_bytes("PNG"), "b.bin": pdf_bytes(1), "c.bin": wav_bytes(0.5), "d.bin": mp4_bytes(1.0)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    parts = as_parts([Path(tmp_path / n) for n in files])
    assert [type(p) for p in parts] == [Image, Document, Audio, Video]
    assert [type(p) for p in as_parts([image_bytes(), mp3_bytes(0.5)])] == [Image, Audio]


def test_unknown_bytes_and_objects_are_typed_errors():
    with pytest.raises(InputError, match="no image, PDF, audio or video"):
        as_parts(b"just some bytes")
    with pytest.raises(InputError, match="cannot use int as a content part"):
        as_parts(["ok", 3])
    with pytest.raises(InputError, match="at least one part"):
        as_parts([])


# -- tasks -------------------------------------------------------------------------------------


def test_task_presets_use_the_documented_forms_word_for_word():
    assert content("hi", task=TASKS["retrieval_query"]).content[0].text == "task: search result | query: hi"
    assert content("hi", task=TASKS["retrieval_document"]).content[0].text == "title: none | text: hi"
    doc = content("hi", task=TASKS["retrieval_document"], title="Zoo")
    assert doc.content[0].text == "title: Zoo | text: hi"
    assert TASKS["fact_verification"].format("x") == "task: fact checking | query: x"
    assert TASKS["similarity"].format("x") == "task: sentence similarity | query: x"
    assert TASKS["code_retrieval"].format("x") == "task: code retrieval | query: x"


def test_old_task_type_names_and_free_instructions_resolve():
    assert resolve_task("RETRIEVAL_DOCUMENT").name == "retrieval_document"
    assert resolve_task(task_instruction="find recipes").format("pie") == "task: find recipes | query: pie"
    custom = resolve_task(task_instruction="question: {content}")
    assert custom.format("why") == "question: why" and custom.name.startswith("custom-")
    with pytest.raises(InputError, match="unknown task"):
        resolve_task("sorting")
    with pytest.raises(InputError, match="not both"):
        resolve_task("retrieval_query", "x")


def test_the_task_formats_the_first_text_part_only_and_leaves_media_alone(png_bytes):
    req = content(Image(png_bytes), "a cat", "on a mat", task=TASKS["retrieval_query"])
    assert [p.kind for p in req.content] == ["image", "text", "text"]
    assert [p.text for p in req.content[1:]] == ["task: search result | query: a cat", "on a mat"]
    assert req.task == "retrieval_query"


# -- limits, checked before the network --------------------------------------------------------


def test_six_images_are_fine_and_a_seventh_is_refused_naming_it(png_bytes):
    assert len(content(*[Image(png_bytes)] * 6).content) == 6
    with pytest.raises(InvalidImageError, match=r"7 images.*at most 6.*part #7"):
        content("x", *[Image(png_bytes)] * 7)


def test_a_seven_page_pdf_is_refused_and_six_pages_pass():
    assert content(Document(pdf_bytes(6))).content[0].pages == 6
    with pytest.raises(InvalidDocumentError, match="7 pages.*at most 6"):
        content(Document(pdf_bytes(7)))


def test_a_pdf_that_is_not_a_pdf_is_a_document_error(png_bytes):
    with pytest.raises(InvalidDocumentError, match="not a PDF"):
        content(Document(png_bytes))
    with pytest.raises(InvalidDocumentError, match="cannot be opened|not a readable PDF"):
        content(Document(b"%PDF-1.7\n garbage"))


def test_audio_over_180_seconds_and_unknown_audio_are_refused():
    assert content(Audio(wav_bytes(2.0))).content[0].seconds == pytest.approx(2.0)
    with pytest.raises(InvalidAudioError, match=r"181\.0 s long.*at most 180 s"):
        content(Audio(wav_bytes(181.0, rate=800)))
    with pytest.raises(InvalidAudioError, match="not a recognised audio file"):
        content(Audio(b"\x00" * 64))


def test_video_must_be_mp4_and_at_most_120_seconds():
    with pytest.raises(InvalidVideoError, match="at most 120 s"):
        content(Video(mp4_bytes(seconds=121, fps=1, size=(16, 16))))
    with pytest.raises(InvalidVideoError, match="at most 80 s with audio track extraction"):
        content(Video(mp4_bytes(seconds=81, fps=1, size=(16, 16))), audio_track_extraction=True)


def test_one_pdf_one_video_one_audio_per_content():
    with pytest.raises(InvalidDocumentError, match="2 PDF documents"):
        content(Document(pdf_bytes(1)), Document(pdf_bytes(1)))
    with pytest.raises(InvalidAudioError, match="2 audio files"):
        content(Audio(wav_bytes(0.5)), Audio(wav_bytes(0.5)))


def test_webp_images_are_taken_as_the_guide_and_model_card_now_agree():
    assert content(Image(image_bytes("WEBP"))).content[0].mime == "image/webp"
    with pytest.raises(InvalidImageError, match="TIFF images are not supported by gemini-embedding-2"):
        content(Image(image_bytes("TIFF")))


def test_inline_media_beyond_the_request_size_is_refused(monkeypatch):
    big = Document(b"%PDF-1.4\n" + b"0" * (23 * 1024 * 1024))
    monkeypatch.setattr("vertex_mm.limits.content.pdf_page_count", lambda data, name: 1)
    with pytest.raises(InvalidContentError, match="Cloud Storage"):
        content(big)


@pytest.mark.parametrize("dimension", [100, 4000])
def test_dimensions_outside_128_to_3072_are_refused(dimension):
    with pytest.raises(InvalidDimensionError, match="128..3072"):
        content("x", dimension=dimension)


def test_gs_uri_parts_are_left_to_the_service_with_a_mime_type():
    req = content(Video(gcs_uri="gs://bkt/clip.mp4"), Document(gcs_uri="gs://bkt/report.pdf"))
    assert [p.mime for p in req.content] == ["video/mp4", "application/pdf"]


def test_text_with_a_lone_surrogate_is_an_invalid_text_error():
    with pytest.raises(InvalidTextError, match="lone surrogate"):
        content("bad \udcff text")


def test_multimodalembedding_001_takes_no_contents():
    with pytest.raises(UnsupportedInputError, match="gemini-embedding-2"):
        EmbedRequest.create_content(["x"], limits=MULTIMODAL_EMBEDDING_001)


def test_the_cache_key_covers_every_part_in_order_and_the_task(png_bytes):
    a = content("x", Image(png_bytes))
    assert a.cache_key("m") == content("x", Image(png_bytes)).cache_key("m")
    assert a.cache_key("m") != content(Image(png_bytes), "x").cache_key("m")
    assert a.cache_key("m") != content("x", Image(png_bytes), task=TASKS["clustering"]).cache_key("m")


@pytest.mark.parametrize("query_task", ["retrieval_query", "question_answering", "fact_verification",
                                        "code_retrieval", "CODE_RETRIEVAL_QUERY"])
def test_the_corpus_of_an_asymmetric_query_task_is_embedded_as_retrieval_document(query_task):
    assert document_task(query_task) is TASKS["retrieval_document"]


@pytest.mark.parametrize("task", ["classification", "clustering", "similarity", "retrieval_document"])
def test_symmetric_tasks_embed_both_sides_alike(task):
    assert document_task(task) is TASKS[task]


def test_custom_instructions_and_no_task_stay_as_they_are():
    custom = resolve_task(task_instruction="find the chart")
    assert document_task(custom) is custom
    assert document_task(None) is None
