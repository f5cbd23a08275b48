"""``embed_content`` on the local backend: gemini-embedding-2's call, offline, with real models.
The fusion rule is the normalised mean of the parts' unit vectors (local_backend.contents)."""

from __future__ import annotations

import numpy as np
import pytest
from factories import mp4_bytes, pdf_bytes, wav_bytes

from vertex_mm import Audio, Document, Image, Video
from vertex_mm.errors import BatchError, InvalidImageError, InvalidURIError, UnsupportedInputError


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_one_image_or_text_content_is_that_images_or_texts_vector(local_embedder, jpegs):
    img = local_embedder.embed_content(Image(jpegs["chelsea"]), dimension=512)
    np.testing.assert_allclose(img, local_embedder.embed_images([jpegs["chelsea"]], dimension=512)[0], atol=1e-5)
    txt = local_embedder.embed_content("a cat", dimension=1408)
    np.testing.assert_allclose(txt, local_embedder.embed_texts(["a cat"], dimension=1408)[0], atol=1e-5)


def test_several_images_fuse_by_the_normalised_mean_of_their_unit_vectors(local_embedder, jpegs):
    # The parts fuse in the model's native space; the projection comes after.
    a, b = (local_embedder.encode_image_bytes([(jpegs[n], n)])[0][0] for n in ("chelsea", "rocket"))
    both = local_embedder.embed_content([Image(jpegs["chelsea"]), Image(jpegs["rocket"])], dimension=384)
    want = local_embedder.projection(384).apply(_unit(_unit(a) + _unit(b))[None, :].astype(np.float32))[0]
    np.testing.assert_allclose(both, want, atol=1e-5)


def test_an_image_and_its_caption_land_nearer_the_caption_than_an_unrelated_photo(local_embedder, jpegs):
    query = local_embedder.embed_content("a cat", task="retrieval_query", dimension=768)
    cat = local_embedder.embed_content(["a photo of a cat", Image(jpegs["chelsea"])], task="retrieval_document",
                                       dimension=768)
    rocket = local_embedder.embed_content(Image(jpegs["rocket"]), dimension=768)
    assert float(query @ cat) > float(query @ rocket)


def test_any_dimension_up_to_3072_works_offline(local_embedder):
    for dim in (128, 700, 3072):
        v = local_embedder.embed_content("x", dimension=dim)
        assert v.shape == (dim,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_pdf_pages_are_rendered_and_embedded(local_embedder):
    v = local_embedder.embed_content(Document(pdf_bytes(2)), dimension=256)
    assert v.shape == (256,) and np.isfinite(v).all()


def test_video_goes_through_the_video_path(local_embedder):
    v = local_embedder.embed_content(Video(mp4_bytes(seconds=4.0, fps=2)), dimension=256)
    assert v.shape == (256,) and np.isfinite(v).all()


def test_audio_is_refused_with_a_clear_reason_and_the_batch_goes_on(local_embedder, jpegs):
    with pytest.raises(UnsupportedInputError, match="no audio model"):
        local_embedder.embed_content(Audio(wav_bytes(0.5)))
    out = local_embedder.embed_contents(["ok", Audio(wav_bytes(0.5)), Image(jpegs["coffee"])], errors="collect",
                                        dimension=128)
    assert out.ok.tolist() == [True, False, True]
    assert isinstance(out.errors[1], UnsupportedInputError)


def test_gcs_parts_and_bad_images_are_per_item_errors(local_embedder, corrupt_jpeg):
    with pytest.raises(BatchError) as caught:
        local_embedder.embed_contents([Image(gcs_uri="gs://bkt/a.jpg"), Image(corrupt_jpeg), "fine"], dimension=128)
    errors = caught.value.errors
    assert set(errors) == {0, 1}
    assert isinstance(errors[0], InvalidURIError) and isinstance(errors[1], InvalidImageError)
