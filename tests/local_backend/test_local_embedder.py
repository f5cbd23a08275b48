"""The Embedder interface on the local backend: what code written for Vertex relies on."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from local_backend import LocalEmbedder, create_local_embedder  # noqa: E402
from vertex_mm import Embedder, Image, get_embedder  # noqa: E402
from vertex_mm.errors import BatchError, InputError, InvalidImageError, InvalidURIError  # noqa: E402

DIMENSIONS = (128, 256, 512, 1408)


def encode(img, fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def test_get_embedder_local_is_a_local_embedder(local_embedder) -> None:
    assert isinstance(local_embedder, LocalEmbedder) and isinstance(local_embedder, Embedder)
    assert local_embedder.backend == "local" and local_embedder.model == "conse-effnet-minilm"


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_image_and_text_share_length_and_space(local_embedder, jpegs, dimension) -> None:
    r = local_embedder.get_embeddings(image=Image(jpegs["chelsea"]), contextual_text="a photo of a cat", dimension=dimension)
    assert len(r.image_embedding) == len(r.text_embedding) == dimension
    assert r.space == local_embedder.space(dimension)
    for which in ("image", "text"):
        assert np.linalg.norm(r.as_array(which)) == pytest.approx(1.0, abs=1e-5)


def test_default_dimension_is_1408(local_embedder) -> None:
    assert len(local_embedder.get_embeddings(contextual_text="a dog").text_embedding) == 1408


def test_space_records_model_options_and_projection(local_embedder) -> None:
    ids = {d: local_embedder.space(d).id for d in DIMENSIONS}
    assert ids[1408] == "local/conse-effnet-minilm/1408/k20T2nd0p9_native384+wpca1280to1024f128w0p9"
    assert ids[512].endswith("k20T2nd0p9_svd384to320+wpca1280to192f128w0p9")
    assert ids[128].endswith("k20T2nd0p9_svd384to64+wpca1280to64f128w0p9")
    assert len(set(ids.values())) == 4


def test_text_image_cosine_is_the_conse_cosine_times_a_constant(local_embedder, jpegs) -> None:
    from local_backend.models.registry import get_shared_model

    joint = get_shared_model("default", detail_weight=0.0)  # ConSE alone, 384-d
    plain = LocalEmbedder(joint)
    text, image = plain.embed_texts(["a cup of coffee"])[0], plain.embed_images([jpegs["coffee"]])[0]
    want = float(text @ image)
    cos = {}
    for dim in (512, 1408):
        r = local_embedder.get_embeddings(image=Image(jpegs["coffee"]), contextual_text="a cup of coffee", dimension=dim)
        cos[dim] = float(r.as_array("image") @ r.as_array("text"))
    assert cos[1408] == pytest.approx(np.sqrt(1 - 0.9**2) * want, abs=1e-5)  # the whole ConSE block
    assert cos[512] == pytest.approx(cos[1408], abs=0.01)  # 320 of ConSE's 384 axes


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_retrieval_survives_every_dimension(local_embedder, jpegs, dimension) -> None:
    names = list(jpegs)
    images = local_embedder.embed_images([jpegs[n] for n in names], dimension=dimension)
    query = local_embedder.embed_texts(["a photo of a cat"], dimension=dimension)[0]
    assert names[int(np.argmax(images @ query))] == "chelsea"


def test_embed_images_keeps_order_and_reports_the_corrupt_file(local_embedder, jpegs, corrupt_jpeg, tmp_path) -> None:
    paths = []
    for name, data in [("a.jpg", jpegs["chelsea"]), ("broken.jpg", corrupt_jpeg), ("c.jpg", jpegs["rocket"])]:
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    out = local_embedder.embed_images(paths, dimension=256, errors="collect")
    assert out.shape == (3, 256) and out.space == local_embedder.space(256)
    assert out.ok.tolist() == [True, False, True]
    assert isinstance(out.errors[1], InvalidImageError) and "broken.jpg" in str(out.errors[1])
    assert np.isnan(out[1]).all()
    singles = [local_embedder.get_embeddings(image=p, dimension=256).image_embedding for p in (paths[0], paths[2])]
    np.testing.assert_allclose(np.asarray(out)[[0, 2]], np.asarray(singles), atol=1e-5)


def test_embed_images_raises_a_batch_error_that_keeps_the_good_rows(local_embedder, jpegs, corrupt_jpeg) -> None:
    with pytest.raises(BatchError) as info:
        local_embedder.embed_images([jpegs["coffee"], corrupt_jpeg])
    assert info.value.result.ok.tolist() == [True, False]
    assert set(info.value.errors) == {1}


def test_batches_larger_than_batch_size_match_single_calls(jpegs) -> None:
    emb = create_local_embedder(batch_size=3)
    images = [jpegs[n] for n in ("chelsea", "astronaut", "coffee", "rocket", "coffee")]
    batched = emb.embed_images(images, dimension=512)
    single = [emb.get_embeddings(image=i, dimension=512).image_embedding for i in images]
    np.testing.assert_allclose(np.asarray(batched), np.asarray(single), atol=1e-5)


def test_embed_texts_matches_get_embeddings(local_embedder) -> None:
    texts = ["a photo of a cat", "a red sports car", "espresso"]
    batched = local_embedder.embed_texts(texts, dimension=128)
    single = [local_embedder.get_embeddings(contextual_text=t, dimension=128).text_embedding for t in texts]
    np.testing.assert_allclose(np.asarray(batched), np.asarray(single), atol=1e-5)


def test_png_with_alpha_and_grayscale_images_are_accepted(local_embedder, photos) -> None:
    rgba = photos["rocket"].convert("RGBA")
    gray = photos["astronaut"].convert("L")
    out = local_embedder.embed_images([encode(rgba, "PNG"), encode(gray, "PNG"), encode(gray, "JPEG")])
    assert out.ok.all()


def test_gcs_uris_are_refused_with_a_clear_error(local_embedder) -> None:
    with pytest.raises(InvalidURIError, match="local backend"):
        local_embedder.get_embeddings(image=Image(gcs_uri="gs://bucket/cat.jpg"))


def test_an_image_only_model_refuses_text_per_item(jpegs) -> None:
    emb = get_embedder("local", model="efficientnet-lite0")
    results = emb.embed_many([{"contextual_text": "a cat"}, {"image": jpegs["chelsea"], "dimension": 512}])
    assert isinstance(results[0], InputError) and "no text tower" in str(results[0])
    assert len(results[1].image_embedding) == 512
    assert emb.space(512).id == "local/efficientnet-lite0/512/pca1280to512"


def test_image_regions_are_in_the_embedding_space(local_embedder, jpegs) -> None:
    regions = local_embedder.embed_image_regions(jpegs["chelsea"], dimension=512)
    assert regions.shape == (49, 512)
    text = local_embedder.embed_texts(["a photo of a cat"], dimension=512)[0]
    # Cosines with texts carry the joint weight sqrt(1 - 0.9^2) = 0.44 of the default space.
    assert float((regions @ text).max()) > 0.5 * np.sqrt(1 - 0.81)


def test_options_reach_the_model_and_the_embedder() -> None:
    emb = create_local_embedder(top_k=3, batch_size=7)
    assert emb.batch_size == 7 and emb.local_model.top_k == 3
    assert emb.space(1408).variant.startswith("k3T2nd0p9_")


def test_an_index_of_the_old_conse_space_is_refused_with_how_to_rebuild(local_embedder) -> None:
    from vertex_mm.errors import EmbeddingSpaceMismatchError
    from vertex_mm.index import FlatIndex
    from vertex_mm.index.build import embedder_for_index
    from vertex_mm.results import EmbeddingSpace

    old = FlatIndex(EmbeddingSpace.from_id("local/conse-effnet-minilm/1408/k20T2_orth384to1408s1408"))
    with pytest.raises(EmbeddingSpaceMismatchError, match="rebuild the index"):
        embedder_for_index(old)
    assert local_embedder.space(1408) != old.space
