"""The joint default: ConSE over EfficientNet-Lite0 and MiniLM, on real photos and real text."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from local_backend.models.conse import (  # noqa: E402
    TEMPLATES,
    class_matrix,
    class_names,
    class_prompts,
    load_imagenet_classes,
)


@pytest.fixture(scope="module")
def conse():
    """The ConSE joint space alone (the registry default without its CNN-detail block)."""
    from local_backend.models.registry import get_shared_model

    return get_shared_model("default", detail_weight=0.0)


@pytest.fixture(scope="module")
def default():
    """The registry default: ConSE joined by the CNN-detail block."""
    from local_backend.models.registry import get_shared_model

    return get_shared_model("default")


# -- the packaged class data ------------------------------------------------------------------


def test_class_data_has_1000_classes_in_model_order() -> None:
    names = class_names()
    assert len(names) == 1000
    assert names[281] == "tabby cat"
    assert names[207].lower() == "golden retriever"
    assert names[817] == "sports car"
    assert names[430] == "basketball"
    assert names[0] == "tench" and names[999] == "toilet paper"


def test_every_class_has_wordnet_lemmas() -> None:
    classes = load_imagenet_classes()["classes"]
    assert all(c["wordnet"] and all(isinstance(s, str) and s for s in c["wordnet"]) for c in classes)
    assert "Egyptian cat" in classes[285]["wordnet"]


def test_prompts_use_synonyms_and_the_kind_of_breed() -> None:
    prompts = class_prompts(285)  # "Egyptian Mau", WordNet "Egyptian cat"
    assert "a photo of a Egyptian Mau." in prompts
    assert "a photo of a Egyptian cat." in prompts
    assert "a photo of a Egyptian Mau, a type of cat." in prompts
    assert not any("type of" in p for p in class_prompts(817))  # objects get no kind


# -- text tower ---------------------------------------------------------------------------------


def test_text_tower_equals_sentence_transformers() -> None:
    st = pytest.importorskip("sentence_transformers")
    from local_backend.models.minilm import create_minilm, default_model_dir

    texts = ["a photo of a cat", "A man is eating food.", "Zwei Hunde spielen im Schnee."]
    ours = create_minilm(max_tokens=256).encode_texts(texts)
    ref = st.SentenceTransformer(str(default_model_dir()), device="cpu", local_files_only=True)
    np.testing.assert_allclose(ours, ref.encode(texts, normalize_embeddings=True), atol=1e-5)


def test_text_tower_reads_only_the_first_32_tokens(conse) -> None:
    head = " ".join(["word"] * 40)
    a, b = conse.encode_texts([head + " cats and dogs", head + " rockets and planets"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    short_a, short_b = conse.encode_texts(["cats and dogs", "rockets and planets"])
    assert float(short_a @ short_b) < 0.9


# -- images ---------------------------------------------------------------------------------------


def test_class_matrix_rows_are_unit_vectors(conse) -> None:
    assert conse.classes.shape == (1000, 384) and conse.classes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(conse.classes, axis=1), 1.0, atol=1e-5)


def test_image_vector_is_the_renormalised_top_k_mixture(conse, photos) -> None:
    img = photos["chelsea"]
    logits = conse.image_model.logits_prepared(np.stack([conse.prepare_image(img)]))[0]
    assert (conse.top_k, conse.temperature) == (20, 2.0)  # the default calibrated on the dev photos
    probs = np.exp((logits - logits.max()) / conse.temperature)
    probs /= probs.sum()
    top = np.argsort(-probs)[: conse.top_k]
    weights = probs[top] / probs[top].sum()
    expected = weights @ conse.classes[top]
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(conse.encode_images([img])[0], expected, atol=1e-5)


def test_top_1_gives_exactly_the_best_class_vector(conse, photos) -> None:
    from local_backend.models.conse import ConSEModel

    top1 = ConSEModel(conse.image_model, conse.text_model, top_k=1)
    best = int(np.argmax(conse.image_model.classify([photos["coffee"]])[0]))
    np.testing.assert_allclose(top1.encode_images([photos["coffee"]])[0], conse.classes[best], atol=1e-6)
    assert top1.space_tag != conse.space_tag


def test_temperature_and_symmetric_text_are_part_of_the_space(conse, photos) -> None:
    from local_backend.models.conse import ConSEModel

    plain = ConSEModel(conse.image_model, conse.text_model, top_k=20)
    assert (plain.space_tag, conse.space_tag) == ("k20-" + conse.text_model.space_tag if conse.text_model.space_tag
                                                  else "k20", conse.space_tag)
    assert conse.space_tag.startswith("k20T2")
    # A higher temperature spreads the weight: the image vector moves away from its best class.
    best = int(np.argmax(conse.image_model.classify([photos["coffee"]])[0]))
    sharp, flat = (m.encode_images([photos["coffee"]])[0] @ conse.classes[best] for m in (plain, conse))
    assert flat < sharp
    sym = ConSEModel(conse.image_model, conse.text_model, top_k=20, temperature=2.0, text_mix=0.7)
    assert "sym0p7" in sym.space_tag
    own, mixed = conse.encode_texts(["a cup of coffee"])[0], sym.encode_texts(["a cup of coffee"])[0]
    assert abs(float(np.linalg.norm(mixed)) - 1.0) < 1e-5 and 0.8 < float(own @ mixed) < 1.0
    np.testing.assert_allclose(sym.encode_images([photos["coffee"]]), conse.encode_images([photos["coffee"]]), atol=1e-6)


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"temperature": 1000.0}, {"text_mix": 1.5}, {"top_k": 0}])
def test_bad_parameters_are_refused(conse, bad) -> None:
    from local_backend.models.conse import ConSEModel

    with pytest.raises(ValueError, match=next(iter(bad))):
        ConSEModel(conse.image_model, conse.text_model, **bad)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a photo of a cat", "chelsea"),
        ("a cup of coffee", "coffee"),
        ("a rocket launch", "rocket"),
        ("a cat", "chelsea"),
    ],
)
def test_text_finds_the_matching_photo(conse, photos, query, expected) -> None:
    names = list(photos)
    images = conse.encode_images([photos[n] for n in names])
    scores = images @ conse.encode_texts([query])[0]
    assert names[int(np.argmax(scores))] == expected, dict(zip(names, np.round(scores, 3)))


def test_the_cat_photo_is_closer_to_cat_than_to_car(conse, photos) -> None:
    cat = conse.encode_images([photos["chelsea"]])[0]
    t_cat, t_car = conse.encode_texts(["a photo of a cat", "a photo of a sports car"])
    assert cat @ t_cat > cat @ t_car + 0.2


def test_top_classes_report_names_and_probabilities(conse, photos) -> None:
    (top,) = conse.top_classes([photos["chelsea"]], k=3)
    assert len(top) == 3 and all(0 <= p <= 1 for _, p in top)
    assert any("cat" in name.lower() or "mau" in name.lower() for name, _ in top)


def test_regions_live_in_the_joint_space(conse, photos) -> None:
    regions = conse.encode_image_regions([photos["chelsea"]])[0]
    assert regions.shape == (49, 384)
    t_cat = conse.encode_texts(["a photo of a cat"])[0]
    assert float((regions @ t_cat).max()) > 0.5


@pytest.mark.slow
def test_class_matrix_is_cached_on_disk(conse, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VERTEX_MM_CACHE_DIR", str(tmp_path))
    templates = ("{}",)
    first = class_matrix(conse.text_model, templates)
    files = list(tmp_path.glob("conse-classes-*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0]), first)
    # A second build loads the file: prove it by planting a marker in it.
    marked = first.copy()
    marked[0] = 0
    np.save(files[0], marked)
    np.testing.assert_array_equal(class_matrix(conse.text_model, templates)[0], 0)
    # Other templates are another key, so another file.
    class_matrix(conse.text_model, ("a {}",))
    assert len(list(tmp_path.glob("conse-classes-*.npy"))) == 2
    assert templates != TEMPLATES


def test_variants_share_one_cnn_pass_per_image(photos) -> None:
    from local_backend.models import conse as conse_module
    from local_backend.models.conse import ConSEModel, conse_variants

    plain, default = conse_variants([{"top_k": 10, "temperature": 1.0, "detail_weight": 0.0}, {}])
    assert (plain.top_k, plain.temperature, default.top_k, default.temperature) == (10, 1.0, 20, 2.0)
    assert (plain.detail_weight, default.detail_weight) == (0.0, 0.9)
    memo = default.image_model
    assert plain.image_model is memo
    calls = []
    real = conse_module.pooled_and_logits
    images = [photos["coffee"], photos["chelsea"]]
    try:
        conse_module.pooled_and_logits = lambda model, b: calls.append(len(b)) or real(model, b)
        a = default.encode_images(images)
        b = plain.encode_images(images)
    finally:
        conse_module.pooled_and_logits = real
    assert calls == [2]  # the second variant reused the CNN pass
    ref = ConSEModel(memo._model, default.text_model, top_k=20, temperature=2.0, detail_weight=0.9)
    np.testing.assert_allclose(a, ref.encode_images(images), atol=1e-6)
    assert a.shape == (2, 1664) and b.shape == (2, 384)


# -- the CNN-detail block of the default --------------------------------------------------------


def test_default_image_is_weighted_conse_and_cnn_detail(default, conse, photos) -> None:
    img = [photos["chelsea"], photos["coffee"]]
    v = default.encode_images(img)
    assert (default.native_dim, default.detail_weight) == (1664, 0.9) and v.shape == (2, 1664)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(v[:, :384], np.sqrt(1 - 0.81) * conse.encode_images(img), atol=1e-5)
    pooled = default.image_model.forward_features(default.image_model.to_tensor(
        np.stack([default.prepare_image(im) for im in img]))).mean((2, 3)).numpy()
    detail = np.sqrt(np.maximum(pooled, 0))
    np.testing.assert_allclose(v[:, 384:], 0.9 * detail / np.linalg.norm(detail, axis=1, keepdims=True), atol=1e-5)
    assert default.space_tag.startswith("k20T2nd0p9") and conse.space_tag.startswith("k20T2")
    assert "nd" not in conse.space_tag


def test_default_text_has_a_zero_detail_block(default, conse) -> None:
    t = default.encode_texts(["a cup of coffee", "a cat"])
    assert t.shape == (2, 1664) and not t[:, 384:].any()
    np.testing.assert_allclose(t[:, :384], conse.encode_texts(["a cup of coffee", "a cat"]), atol=1e-6)


@pytest.mark.parametrize("dimension", [1408, 512])
def test_text_to_image_cosine_is_conse_times_a_constant(default, conse, photos, dimension) -> None:
    from local_backend.embedder import LocalEmbedder

    names = list(photos)
    proj = LocalEmbedder(default).projection(dimension)
    images = proj.apply(default.encode_images([photos[n] for n in names]))
    texts = proj.apply(default.encode_texts(["a photo of a cat", "a cup of coffee", "a rocket launch"]))
    got = texts @ images.T
    want = conse.encode_texts(["a photo of a cat", "a cup of coffee", "a rocket launch"]) @ conse.encode_images(
        [photos[n] for n in names]).T
    if dimension == 1408:  # the whole 384-d ConSE block: exactly ConSE's cosines, scaled
        np.testing.assert_allclose(got, np.sqrt(1 - 0.81) * want, atol=1e-5)
    else:  # 320 of its 384 axes: the same best photo per query
        np.testing.assert_array_equal(got.argmax(1), want.argmax(1))


def test_near_duplicate_is_closer_than_a_same_class_photo(default, photos) -> None:
    from PIL import ImageOps

    from local_backend.embedder import LocalEmbedder

    cat = photos["chelsea"]
    w, h = cat.size
    edited = ImageOps.mirror(cat.crop((w // 10, h // 10, w, h))).resize((w // 2, h // 2))
    for model, dim in ((default, 512), (default, 1408)):
        proj = LocalEmbedder(model).projection(dim)
        a, b, c = proj.apply(model.encode_images([cat, edited, photos["coffee"]]))
        assert a @ b > 0.9 and a @ b > a @ c + 0.3


def test_default_regions_carry_the_detail_block(default, photos) -> None:
    regions = default.encode_image_regions([photos["chelsea"]])[0]
    assert regions.shape == (49, 1664)
    np.testing.assert_allclose(np.linalg.norm(regions, axis=1), 1.0, atol=1e-5)


def test_regions_page_embedder_stays_in_the_joint_space() -> None:
    from local_backend.models.registry import create_page_embedder

    pages = create_page_embedder("regions")
    assert pages.model.detail_weight == 0.0 and pages.space.dimension == 384
    assert "nd" not in pages.space.variant


def test_detail_weight_is_checked(conse) -> None:
    from local_backend.models.conse import ConSEModel

    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="detail_weight"):
            ConSEModel(conse.image_model, conse.text_model, detail_weight=bad)


def test_variants_are_placed_on_the_requested_device() -> None:
    import warnings

    from local_backend.device import DeviceFallbackWarning
    from local_backend.models.conse import conse_variants

    (on_cpu,) = conse_variants([{}], device="cpu")
    assert on_cpu.image_model._model.device.type == "cpu"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (asked_cuda,) = conse_variants([{}], device="cuda")  # no GPU here: the CPU, and a warning
    assert any(issubclass(w.category, DeviceFallbackWarning) for w in caught)
    assert asked_cuda.image_model._model.device.type == "cpu"
