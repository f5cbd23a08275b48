"""The local backend on a batch that mixes good files with corrupted real ones: every good one
comes back, every bad one is its own typed :class:`~vertex_mm.errors.InputError` naming it
(never :class:`~vertex_mm.errors.BackendError`, which means "not the input's fault").

Pinned from a fuzz run (thousands of mutations of real files): a video whose header states no
duration (a browser's live-recorded WebM) failed as ``BackendError`` wrapping PyAV's
``RuntimeError``, and a PDF part with a page pdfium cannot load as ``BackendError`` wrapping
``PdfiumError``.
"""

from __future__ import annotations

import damaged
import numpy as np
import pytest
from factories import decompression_bomb_png, image_bytes, mp4_bytes, pdf_bytes

from vertex_mm import Document, Image, Video
from vertex_mm.errors import ImageTooLargeError, InputError, InvalidDocumentError, InvalidImageError, InvalidVideoError

pytest.importorskip("av")


def test_a_mixed_batch_returns_every_good_item_and_a_typed_error_for_each_bad_one(local_embedder, jpegs, corrupt_jpeg):
    mp4 = mp4_bytes(seconds=2.0, fps=4, size=(32, 32))
    items = {
        "good.jpg": ({"image": Image(jpegs["coffee"], name="good.jpg")}, None),
        "cut.jpg": ({"image": Image(corrupt_jpeg, name="cut.jpg")}, InvalidImageError),
        "bomb.png": ({"image": Image(decompression_bomb_png(), name="bomb.png")}, ImageTooLargeError),
        "lies.png": ({"image": Image(damaged.png_claiming(image_bytes("PNG"), 9000, 9000), name="lies.png")},
                     InvalidImageError),
        "garbage.jpg": ({"image": Image(damaged.header_then_garbage(jpegs["rocket"], 64), name="garbage.jpg")},
                        InvalidImageError),
        "codec.mp4": ({"video": Video(damaged.mp4_with_unknown_codec(mp4), name="codec.mp4")}, InvalidVideoError),
        "live.webm": ({"video": Video(damaged.live_webm(seconds=2.0), name="live.webm")}, None),
        "good.png": ({"image": Image(image_bytes("PNG"), name="good.png")}, None),
        "text": ({"contextual_text": "a cup of coffee"}, None),
    }
    results = local_embedder.embed_many([request for request, _ in items.values()])
    for (name, (_, expected)), result in zip(items.items(), results):
        if expected is None:
            assert not isinstance(result, Exception), (name, result)
        else:
            assert isinstance(result, expected) and isinstance(result, InputError), (name, result)
            assert result.input_name == name and name in str(result)
    live = results[list(items).index("live.webm")]
    assert [(v.start_offset_sec, v.end_offset_sec) for v in live.video_embeddings] == [(0.0, 2.0)]


def test_a_content_with_an_unloadable_pdf_page_is_a_typed_error_and_the_next_content_embeds(local_embedder):
    lying = damaged.pdf_with_lying_page_count(pdf_bytes(2))
    out = local_embedder.embed_contents([["report", Document(lying, name="report.pdf")],
                                         ["report", Document(pdf_bytes(1), name="ok.pdf")]], errors="collect")
    assert isinstance(out.errors[0], InvalidDocumentError) and "report.pdf: page 3 of 3" in str(out.errors[0])
    assert out.errors[1] is None and np.isfinite(out[1]).all()
