"""EmbedImages with the Vertex backend (the real gapic REST client) against the emulator on the
DirectRunner: injected 429s, 503s and dropped connections, plus broken inputs. Every input must
end in exactly one of the two outputs, with no loss and no duplicate."""

from __future__ import annotations

import numpy as np
import pytest

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
beam = pytest.importorskip("apache_beam", reason=BEAM_SKIP)

from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to, is_empty  # noqa: E402
from factories import image_bytes  # noqa: E402

from vertex_mm import get_embedder  # noqa: E402
from vertex_mm.batch import RetryPolicy  # noqa: E402
from vertex_mm.beam import EmbedderModelHandler, EmbedImages, WorkerQuota  # noqa: E402
from vertex_mm.emulator import run_emulator  # noqa: E402
from vertex_mm.testing import HashedEmbedder  # noqa: E402

DIM = 128
N_GOOD = 24


@pytest.fixture(scope="module")
def good_images() -> dict[str, bytes]:
    return {f"img-{i:02d}": image_bytes("JPEG", size=(40, 30), color=(i * 9 % 256, i * 31 % 256, 77)) for i in range(N_GOOD)}


@pytest.fixture(scope="module")
def reference(good_images) -> dict[str, np.ndarray]:
    """What a fault-free emulator answers for each good image (hashed vectors: deterministic)."""
    with run_emulator(backend="hashed") as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=None, concurrency=4)
        vecs = emb.embed_images(list(good_images.values()), dimension=DIM)
    return dict(zip(good_images, np.asarray(vecs)))


def _rows_match(expected: dict[str, np.ndarray]):
    def check(rows):
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), "an input was embedded twice"
        assert sorted(ids) == sorted(expected)
        for row in rows:
            np.testing.assert_allclose(row["embedding"], expected[row["id"]], rtol=1e-6, err_msg=row["id"])

    return check


def test_faults_are_retried_broken_inputs_go_to_the_dead_letter_and_nothing_is_lost(
    good_images, reference, corrupt_jpeg, oversize_jpeg, bomb_png, fast_retry
):
    inputs = [{"id": k, "bytes": v, "metadata": {"k": k}} for k, v in good_images.items()] + [
        {"id": "corrupt", "path": str(corrupt_jpeg)},
        {"id": "oversize", "path": str(oversize_jpeg)},
        {"id": "bomb", "bytes": bomb_png},
        {"id": "gif-text", "bytes": b"GIF89a but not really a gif"},
    ]
    with run_emulator(backend="hashed", fault_rate_503=0.15, fault_rate_429=0.15, drop_rate=0.05, retry_after=0.01,
                      seed=11) as emu:
        with BeamTestPipeline() as p:
            out = p | beam.Create(inputs) | EmbedImages(
                "vertex", embedder_options={"api_endpoint": emu.url}, dimension=DIM, retry=fast_retry,
                quota=WorkerQuota(quota_rpm=60_000), concurrency=4)
            assert_that(out.embeddings, _rows_match(reference), label="embedded once each, right vectors")
            assert_that(out.dead_letter | beam.Map(lambda r: (r["id"], r["error_type"], r["stage"], r["retryable"])),
                        equal_to([("corrupt", "InvalidImageError", "embed", False),
                                  ("oversize", "ImageTooLargeError", "embed", False),
                                  ("bomb", "ImageTooLargeError", "embed", False),
                                  ("gif-text", "InvalidImageError", "embed", False)]), label="dead letter")
            counts = ((out.embeddings, out.dead_letter) | beam.Flatten() | beam.combiners.Count.Globally())
            assert_that(counts, equal_to([len(inputs)]), label="the counts add up")
        stats = emu.stats()
    # The faults really happened, and broken inputs never reached the service.
    assert stats["429"] > 0 and stats["503"] > 0 and stats["dropped"] > 0
    assert stats["2xx"] == N_GOOD
    assert stats["requests"] == N_GOOD + stats["429"] + stats["503"] + stats["dropped"]


def test_when_retries_run_out_every_input_is_dead_lettered_as_retryable(good_images):
    three_tries = RetryPolicy(name="three", max_attempts=3, initial_backoff=0.001, max_backoff=0.01, jitter=0.001)
    inputs = [{"id": k, "bytes": v} for k, v in list(good_images.items())[:5]]
    with run_emulator(backend="hashed", fault_rate_503=1.0, retry_after=0.0) as emu:
        with BeamTestPipeline() as p:
            out = p | beam.Create(inputs) | EmbedImages(
                "vertex", embedder_options={"api_endpoint": emu.url}, dimension=DIM, retry=three_tries)
            assert_that(out.embeddings, is_empty(), label="nothing embedded")
            assert_that(out.dead_letter | beam.Map(lambda r: (r["id"], r["error_type"], r["status_code"], r["retryable"])),
                        equal_to([(i["id"], "ServiceUnavailableError", 503, True) for i in inputs]), label="dead")
        stats = emu.stats()
    assert stats["503"] == 3 * len(inputs)


class _ExplodingEmbedder(HashedEmbedder):
    """A backend with a bug: any image of one colour raises a foreign exception mid-batch."""

    poison = image_bytes("JPEG", size=(40, 30), color=(255, 0, 255))

    def _predict(self, request):
        if request.image is not None and request.image.data == self.poison:
            raise RuntimeError("a bug in the backend")
        return super()._predict(request)


def test_an_unexpected_exception_dead_letters_its_whole_batch_and_nothing_else(good_images):
    inputs = [{"id": k, "bytes": v} for k, v in good_images.items()]
    inputs.insert(5, {"id": "poison", "bytes": _ExplodingEmbedder.poison})
    handler = EmbedderModelHandler(embedder_factory=_ExplodingEmbedder, dimension=DIM, min_batch_size=5,
                                   max_batch_size=5)

    def check(rows):
        ids = [r["id"] for r in rows]
        assert "poison" in ids and len(ids) == len(set(ids)) and len(ids) <= 5
        assert {(r["stage"], r["error_type"]) for r in rows} == {("batch", "RuntimeError")}
        assert all("a bug in the backend" in r["error"] for r in rows)

    with BeamTestPipeline() as p:
        out = p | beam.Create(inputs) | EmbedImages(handler=handler)
        assert_that(out.dead_letter, check, label="the poisoned batch")
        everything = (out.embeddings, out.dead_letter) | beam.Flatten() | beam.Map(lambda r: r["id"])
        assert_that(everything, equal_to([i["id"] for i in inputs]), label="every input exactly once")
