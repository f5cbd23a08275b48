"""EmbedImages / EmbedTexts on the DirectRunner with the offline local backend: real photos, real
weights, and broken inputs that must land in the dead letter with their ids."""

from __future__ import annotations

import numpy as np
import pytest

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
beam = pytest.importorskip("apache_beam", reason=BEAM_SKIP)

from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to, is_empty  # noqa: E402

from vertex_mm import get_embedder  # noqa: E402
from vertex_mm.beam import EmbedImages, EmbedTexts  # noqa: E402
from vertex_mm.sample_data import sample_photos  # noqa: E402

DIM = 256


@pytest.fixture(scope="module")
def local_embedder():
    try:
        return get_embedder("local")
    except Exception as exc:  # weights are a pip package of the local extra
        pytest.skip(f"the local backend is not available here: {exc}")


def _ids(label):
    return label >> beam.Map(lambda row: row["id"])


def _vectors_match(expected: dict[str, np.ndarray]):
    def check(rows):
        got = {row["id"]: np.asarray(row["embedding"], dtype=np.float32) for row in rows}
        assert sorted(got) == sorted(expected)
        for key, vec in expected.items():
            np.testing.assert_allclose(got[key], vec, rtol=0, atol=1e-6, err_msg=key)

    return check


def test_sample_photos_embed_to_the_same_vectors_as_the_embedder(local_embedder):
    paths = [str(p) for p in sample_photos()]
    direct = local_embedder.embed_images(paths, dimension=DIM)
    expected = {p: direct[i] for i, p in enumerate(paths)}
    with BeamTestPipeline() as p:
        out = p | beam.Create(paths) | EmbedImages("local", dimension=DIM)
        assert_that(out.embeddings, _vectors_match(expected), label="vectors")
        assert_that(out.embeddings | beam.Map(lambda r: r["embedding_space"]),
                    equal_to([direct.space.id] * len(paths)), label="space")
        assert_that(out.dead_letter, is_empty(), label="no dead letter")


def test_broken_inputs_go_to_the_dead_letter_and_the_rest_is_embedded(local_embedder, photo_paths, corrupt_jpeg,
                                                                      oversize_jpeg, bomb_png, tmp_path):
    good = [{"id": f"good-{i}", "path": str(p), "metadata": {"n": i}} for i, p in enumerate(photo_paths)]
    broken = [
        {"id": "corrupt", "path": str(corrupt_jpeg)},
        {"id": "oversize", "path": str(oversize_jpeg)},
        {"id": "bomb", "bytes": bomb_png},
        {"id": "missing", "path": str(tmp_path / "no-such.jpg")},
        {"id": "not-an-image", "bytes": b"plain text, not an image"},
        {"id": "no-content", "label": "x", "metadata": {"album": "trip"}},
    ]
    expected_dead = [
        ("corrupt", "InvalidImageError", "embed"),
        ("oversize", "ImageTooLargeError", "embed"),
        ("bomb", "ImageTooLargeError", "embed"),
        ("missing", "InputNotFoundError", "embed"),
        ("not-an-image", "InvalidImageError", "embed"),
        ("no-content", "InputError", "input"),
    ]
    with BeamTestPipeline() as p:
        out = p | beam.Create(good + broken) | EmbedImages("local", dimension=DIM)
        assert_that(out.embeddings | _ids("ids"), equal_to([g["id"] for g in good]), label="embedded")
        assert_that(out.embeddings | beam.Map(lambda r: (r["id"], r["metadata"]["n"])),
                    equal_to([(g["id"], g["metadata"]["n"]) for g in good]), label="metadata")
        assert_that(out.dead_letter | beam.Map(lambda r: (r["id"], r["error_type"], r["stage"])),
                    equal_to(expected_dead), label="dead")
        # Each typed error names its input: the path for files, the id for bytes.
        assert_that(out.dead_letter | beam.Map(lambda r: r["stage"] == "input" or r["id"] in r["error"]
                                               or r["source"] in r["error"]),
                    equal_to([True] * len(broken)), label="errors name the input")
        # A refused dict keeps its metadata: the row alone says what it was.
        assert_that(out.dead_letter | beam.Filter(lambda r: r["stage"] == "input") | beam.Map(lambda r: r["metadata"]),
                    equal_to([{"album": "trip"}]), label="input-stage metadata")


def test_texts_embed_in_the_image_space(local_embedder):
    texts = ["a cat", {"id": "cup", "text": "a coffee cup", "metadata": {"lang": "en"}}, "   "]
    direct = local_embedder.embed_texts(["a cat", "a coffee cup"], dimension=DIM)
    with BeamTestPipeline() as p:
        out = p | beam.Create(texts) | EmbedTexts("local", dimension=DIM)
        assert_that(out.embeddings, _vectors_match({"a cat": direct[0], "cup": direct[1]}), label="vectors")
        assert_that(out.dead_letter | beam.Map(lambda r: (r["id"], r["error_type"])),
                    equal_to([("   ", "InvalidTextError")]), label="dead")
