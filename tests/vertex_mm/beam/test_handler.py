"""EmbedderModelHandler on its own: what RunInference gets from it, and how it sizes each
process's embedder."""

from __future__ import annotations

import pytest
from factories import image_bytes, truncated

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
beam = pytest.importorskip("apache_beam", reason=BEAM_SKIP)

from apache_beam.ml.inference.base import RunInference  # noqa: E402
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from vertex_mm.batch import DEFAULT_RETRY  # noqa: E402
from vertex_mm.beam import EmbedderModelHandler, EmbedImages, WorkerQuota  # noqa: E402
from vertex_mm.beam.records import EmbedInput  # noqa: E402
from vertex_mm.emulator import run_emulator  # noqa: E402
from vertex_mm.errors import InvalidImageError  # noqa: E402
from vertex_mm.results import MultiModalEmbeddingResponse  # noqa: E402
from vertex_mm.testing import HashedEmbedder  # noqa: E402


def test_runinference_yields_a_response_or_the_typed_error_per_input():
    broken = truncated(image_bytes("JPEG", (128, 128)), 0.3)
    items = [EmbedInput("ok", "image", image_bytes()), EmbedInput("broken", "image", broken)]
    handler = EmbedderModelHandler(embedder_factory=HashedEmbedder, dimension=128)

    def describe(result):
        outcome = result.inference
        if isinstance(outcome, MultiModalEmbeddingResponse):
            return result.example.id, "response", len(outcome.image_embedding), result.model_id
        return result.example.id, type(outcome).__name__, isinstance(outcome, InvalidImageError), result.model_id

    space = HashedEmbedder().space(128).id
    with BeamTestPipeline() as p:
        results = p | beam.Create(items) | RunInference(handler)
        assert_that(results | beam.Map(describe),
                    equal_to([("ok", "response", 128, space), ("broken", "InvalidImageError", True, space)]))


def test_load_model_sizes_the_embedder_to_the_process_share():
    with run_emulator(backend="hashed") as emu:
        handler = EmbedderModelHandler("vertex", embedder_options={"api_endpoint": emu.url},
                                       quota=WorkerQuota(quota_rpm=1200, max_workers=5, processes_per_worker=2),
                                       concurrency=6, retry="default")
        embedder = handler.load_model()
        try:
            assert embedder.batch.requests_per_minute == 120
            assert embedder.batch.concurrency == 6
            assert embedder.batch.retry == DEFAULT_RETRY
        finally:
            embedder.close()


def test_without_settings_the_backend_defaults_stay():
    assert EmbedderModelHandler().batch_options() == {}
    assert EmbedderModelHandler(quota=WorkerQuota(quota_rpm=60)).batch_options() == {"requests_per_minute": 60}


def test_batching_settings_reach_batch_elements():
    handler = EmbedderModelHandler(min_batch_size=4, max_batch_size=32, max_batch_duration_secs=5)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 32, "max_batch_duration_secs": 5}


def test_only_dimension_is_an_inference_arg():
    handler = EmbedderModelHandler()
    handler.validate_inference_args({"dimension": 256})
    with pytest.raises(ValueError, match="takes only"):
        handler.validate_inference_args({"temperature": 0.1})


def test_inference_args_set_the_dimension():
    with BeamTestPipeline() as p:
        out = p | beam.Create([image_bytes()]) | EmbedImages(
            handler=EmbedderModelHandler(embedder_factory=HashedEmbedder), inference_args={"dimension": 256})
        assert_that(out.embeddings | beam.Map(lambda r: (len(r["embedding"]), r["embedding_space"])),
                    equal_to([(256, HashedEmbedder().space(256).id)]))


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "video"}, "kind must be 'image', 'text' or 'content'"),
    ({"concurrency": 0}, "concurrency must be an int >= 1"),
    ({"min_batch_size": 10, "max_batch_size": 2}, "exceeds max_batch_size"),
    # These crashed the worker's setup, or sent every input to the dead letter after reading all:
    ({"retry": "defualt"}, "unknown retry policy 'defualt'"),
    ({"dimension": 100}, "dimension=100 is not supported"),
    ({"backend": "gemini", "kind": "content", "task": "retreival_document"}, "unknown task 'retreival_document'"),
    ({"embedder_options": {"concurrency": 0}}, "concurrency must be an integer >= 1"),
    ({"embedder_options": {"burst": 0.5}}, "burst must be >= 1"),
])
def test_bad_handler_settings_fail_when_the_pipeline_is_built(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EmbedderModelHandler(**kwargs)


def test_batch_options_in_embedder_options_configure_the_batch_not_the_backend(tmp_path):
    # local and hashed constructors take no cache=: the whole pipeline failed on the worker.
    handler = EmbedderModelHandler("hashed", dimension=128,
                                   embedder_options={"cache": str(tmp_path / "e.sqlite"), "concurrency": 3})
    model = handler.load_model()
    assert model.batch.concurrency == 3 and model.batch.cache is not None
    model.close()


def test_runinference_on_raw_paths_and_dicts_normalises_them(tmp_path):
    (tmp_path / "a.jpg").write_bytes(image_bytes())
    handler = EmbedderModelHandler(embedder_factory=HashedEmbedder, dimension=128)

    def describe(result):  # an element that cannot be an input stays as it came, with its error
        example = result.example
        return getattr(example, "id", example), type(result.inference).__name__

    with BeamTestPipeline() as p:
        results = p | beam.Create([str(tmp_path / "a.jpg"), {"id": "d", "image": image_bytes()}, 42]) | RunInference(handler)
        assert_that(results | beam.Map(describe), equal_to([
            (str(tmp_path / "a.jpg"), "MultiModalEmbeddingResponse"), ("d", "MultiModalEmbeddingResponse"),
            (42, "InputError")]))


def test_a_path_with_a_nul_byte_fails_alone_not_its_batch():
    # Beam asks get_num_bytes after the batch is embedded: its ValueError dead-lettered the
    # batch-mates that were embedded and billed.
    handler = EmbedderModelHandler(embedder_factory=HashedEmbedder, dimension=128)
    items = [EmbedInput("good", "image", image_bytes()), EmbedInput("nul", "image", "scans/a\x00b.jpg")]
    assert handler.get_num_bytes(items) == len(image_bytes())
    results = handler.run_inference(items, HashedEmbedder())
    assert [type(r.inference).__name__ for r in results] == ["MultiModalEmbeddingResponse", "UnreadableInputError"]


def test_a_transform_refuses_a_handler_of_the_other_kind():
    from vertex_mm.beam import EmbedTexts

    with pytest.raises(ValueError, match="needs a handler of kind 'text'"):
        EmbedTexts(handler=EmbedderModelHandler(kind="image"))


def test_a_transform_refuses_settings_it_would_ignore():
    # EmbedImages(kind="text") built a text transform, and a backend beside handler= was dropped.
    from vertex_mm.beam import Embed, EmbedTexts

    with pytest.raises(ValueError, match="EmbedImages embeds kind 'image'; use Embed"):
        EmbedImages(kind="text")
    with pytest.raises(TypeError, match="pass either handler= or a backend"):
        EmbedImages("local", handler=EmbedderModelHandler(kind="image"))
    assert Embed("hashed", kind="text").handler.kind == "text" and EmbedTexts("hashed").handler.kind == "text"
