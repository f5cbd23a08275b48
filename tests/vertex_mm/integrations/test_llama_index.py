"""VertexMMMultiModalEmbedding against the real llama-index-core: the MultiModalEmbedding hooks,
real async (several requests in flight, seen by the emulator), errors, the pydantic model
(fields, payload, pickling), and an offline MultiModalVectorStoreIndex on the local model."""

from __future__ import annotations

import asyncio
import copy
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.indices.multi_modal import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageNode, TextNode

from vertex_mm.emulator import run_emulator
from vertex_mm.errors import InputNotFoundError, InvalidTextError
from vertex_mm.integrations import FailedInputsError
from vertex_mm.integrations.llama_index import VertexMMMultiModalEmbedding

TEXTS = [f"text number {i}" for i in range(12)]


def test_it_is_a_llama_index_multimodal_embedding_with_the_models_name():
    model = VertexMMMultiModalEmbedding("hashed", dimension=256)
    assert isinstance(model, MultiModalEmbedding)
    assert model.model_name == "sha256" and model.backend == "hashed" and model.dimension == 256
    assert model.class_name() == "VertexMMMultiModalEmbedding"
    assert model.embed_batch_size == 64


# -- vertex on the emulator: the sync hooks --------------------------------------------------
def test_text_query_and_image_embeddings_in_order(emulator, remote_options, hashed, photos):
    model = VertexMMMultiModalEmbedding("vertex", dimension=512, embed_batch_size=5, **remote_options("vertex"))
    texts = model.get_text_embedding_batch(TEXTS)  # three calls of at most 5
    assert np.allclose(texts, hashed.embed_texts(TEXTS, dimension=512), atol=1e-6)
    assert model.get_text_embedding(TEXTS[3]) == texts[3] == model.get_query_embedding(TEXTS[3])
    images = model.get_image_embedding_batch([str(p) for p in photos[:3]])
    assert np.allclose(images, hashed.embed_images(photos[:3], dimension=512), atol=1e-6)
    assert model.get_image_embedding(str(photos[1])) == images[1]
    assert emulator.stats()["2xx"] == len(TEXTS) + 2 + 3 + 1


def test_an_image_as_bytesio_is_llama_index_image_type(emulator, remote_options, photos):
    model = VertexMMMultiModalEmbedding("vertex", **remote_options("vertex"))
    assert model.get_image_embedding(io.BytesIO(photos[0].read_bytes())) == model.get_image_embedding(str(photos[0]))


# -- real async ------------------------------------------------------------------------------
def test_async_text_batch_keeps_requests_in_flight_at_once_and_the_loop_free(unthrottled, watching_loop):
    with run_emulator(backend="hashed", latency=0.2) as emu:
        model = VertexMMMultiModalEmbedding("vertex", api_endpoint=emu.url, concurrency=6, **unthrottled)
        vectors, ticks = watching_loop(lambda: model.aget_text_embedding_batch(TEXTS))
        stats = emu.stats()
        sync_vectors = model.get_text_embedding_batch(TEXTS)
    assert vectors == sync_vectors and stats["2xx"] == len(TEXTS)
    assert stats["max_in_flight"] > 1  # an "async" that calls the sync path would show 1
    assert ticks >= 5  # the event loop ran while the requests were out


def test_async_image_batch_and_single_calls_run_on_the_engine(unthrottled, photos):
    with run_emulator(backend="hashed", latency=0.15) as emu:
        model = VertexMMMultiModalEmbedding("vertex", api_endpoint=emu.url, concurrency=4, **unthrottled)

        async def run() -> tuple[list[list[float]], list[float], list[float], list[float]]:
            return (await model.aget_image_embedding_batch([str(p) for p in photos[:6]]),
                    await model.aget_image_embedding(str(photos[0])),
                    await model.aget_query_embedding("a cat"), await model.aget_text_embedding("a cat"))

        images, one, query, text = asyncio.run(run())
        assert emu.stats()["max_in_flight"] > 1
    assert one == images[0] and query == text and len(images) == 6


def test_gemini_queries_and_text_nodes_get_their_task_instructions(emulator, remote_options):
    model = VertexMMMultiModalEmbedding("gemini", dimension=128, **remote_options("gemini"))
    query, text = model.get_query_embedding("a cat"), model.get_text_embedding("a cat")
    assert query != text
    assert asyncio.run(model.aget_query_embedding("a cat")) == query
    same = VertexMMMultiModalEmbedding("gemini", dimension=128, task="similarity", **remote_options("gemini"))
    assert same.get_query_embedding("a cat") == same.get_text_embedding("a cat")


# -- errors ----------------------------------------------------------------------------------
def test_a_failed_input_of_a_batch_is_named_after_the_batch_ran(emulator, remote_options, photos):
    model = VertexMMMultiModalEmbedding("vertex", **remote_options("vertex"))
    with pytest.raises(FailedInputsError, match=r"^1 of 3 inputs failed: #2 'gone\.jpg': InputNotFoundError"):
        model.get_image_embedding_batch([str(photos[0]), str(photos[1]), "gone.jpg"])
    with pytest.raises(FailedInputsError, match="#1 '': InvalidTextError"):
        asyncio.run(model.aget_text_embedding_batch(["fine", ""]))
    assert emulator.stats()["2xx"] == 3


def test_a_single_call_raises_its_inputs_own_error(emulator, remote_options):
    model = VertexMMMultiModalEmbedding("vertex", **remote_options("vertex"))
    with pytest.raises(InputNotFoundError, match="gone.jpg"):
        model.get_image_embedding("gone.jpg")
    with pytest.raises(InvalidTextError):
        asyncio.run(model.aget_query_embedding(""))


# -- the pydantic model ----------------------------------------------------------------------
def test_options_are_kept_out_of_serialization_repr_and_payload():
    model = VertexMMMultiModalEmbedding("gemini", api_key="secret-key", base_url="https://example.invalid",
                                        requests_per_minute=60)
    assert model.embedder_options["api_key"] == "secret-key"
    for shown in (model.to_json(), repr(model), str(model.to_payload())):
        assert "secret-key" not in shown
    assert model.to_payload()["backend"] == "gemini" and model.to_payload()["dimension"] == 3072


def test_it_rebuilds_from_its_dict(emulator):
    model = VertexMMMultiModalEmbedding("vertex", api_endpoint=emulator.url, dimension=256)
    data = model.to_dict()
    assert data["backend"] == "vertex" and "embedder_options" not in data
    again = VertexMMMultiModalEmbedding.from_dict({**data, "api_endpoint": emulator.url})
    assert again.get_text_embedding("a") == model.get_text_embedding("a")


def test_pickling_keeps_the_fields_and_builds_the_embedder_anew(emulator, remote_options):
    model = VertexMMMultiModalEmbedding("vertex", dimension=128, embed_batch_size=7, concurrency=3,
                                        **remote_options("vertex"))
    copy = pickle.loads(pickle.dumps(model))
    assert copy.embedder is not model.embedder and copy.embedder.batch.concurrency == 3
    assert (copy.dimension, copy.embed_batch_size) == (128, 7)
    assert copy.get_text_embedding("a cat") == model.get_text_embedding("a cat")


def test_it_keeps_the_registry_name_it_was_made_from(monkeypatch):
    from vertex_mm import registry
    from vertex_mm.testing import HashedEmbedder

    monkeypatch.setitem(registry._BACKENDS, "my-hashed", lambda **options: HashedEmbedder(**options))
    model = VertexMMMultiModalEmbedding("my-hashed", dimension=128)
    assert model.backend == "my-hashed" and model.embedder.backend == "hashed"
    assert pickle.loads(pickle.dumps(model)).get_text_embedding("a") == model.get_text_embedding("a")


def test_one_made_around_a_ready_embedder_refuses_to_pickle(hashed):
    with pytest.raises(TypeError, match="ready embedder= cannot be pickled"):
        pickle.dumps(VertexMMMultiModalEmbedding(embedder=hashed))


def test_a_deep_copy_has_its_own_embedder_unless_it_was_given_one(hashed):
    model = VertexMMMultiModalEmbedding("hashed", dimension=128, concurrency=2)
    clone = copy.deepcopy(model)
    assert clone.embedder is not model.embedder and clone.embedder.batch.concurrency == 2
    assert clone.get_text_embedding("a") == model.get_text_embedding("a")
    given = VertexMMMultiModalEmbedding(embedder=hashed)
    assert copy.deepcopy(given).embedder is hashed


def test_a_closed_model_says_so(hashed):
    model = VertexMMMultiModalEmbedding("hashed")
    model.close()
    model.close()
    with pytest.raises(RuntimeError, match="closed"):
        model.get_text_embedding("a")


# -- offline, on the local model -------------------------------------------------------------
@pytest.mark.slow
def test_a_multimodal_index_answers_a_text_query_with_the_photo(local_embedder, photos):
    model = VertexMMMultiModalEmbedding(embedder=local_embedder, dimension=512)
    nodes = [ImageNode(image_path=str(p), metadata={"file_name": p.name}) for p in photos]
    nodes.append(TextNode(text="Quarterly sales grew four percent in the northern region."))
    index = MultiModalVectorStoreIndex(nodes, embed_model=model, image_embed_model=model)
    hit = index.as_retriever(image_similarity_top_k=1).text_to_image_retrieve("a cat")[0]
    assert Path(hit.node.image_path or "").name == "cat.jpg"


@pytest.mark.slow
def test_the_local_backend_async_hooks_give_the_sync_vectors(local_embedder, photos):
    model = VertexMMMultiModalEmbedding(embedder=local_embedder, dimension=256)
    paths = [str(p) for p in photos[:4]]

    async def run() -> tuple[list[list[float]], list[list[float]]]:
        return await model.aget_image_embedding_batch(paths), await model.aget_text_embedding_batch(["a cat", "a dog"])

    images, texts = asyncio.run(run())
    assert np.allclose(images, model.get_image_embedding_batch(paths), atol=1e-5)
    assert np.allclose(texts, model.get_text_embedding_batch(["a cat", "a dog"]), atol=1e-5)


def test_the_fields_the_embedder_is_built_from_cannot_be_changed_later():
    # A changed dimension was shown and pickled to IngestionPipeline's workers, but not used.
    from pydantic import ValidationError

    model = VertexMMMultiModalEmbedding("hashed", dimension=256)
    for field, value in (("dimension", 128), ("backend", "local"), ("task", "clustering"),
                         ("query_task", None), ("document_task", None)):
        with pytest.raises(ValidationError, match="frozen"):
            setattr(model, field, value)
    assert model.dimension == 256 and len(pickle.loads(pickle.dumps(model)).get_text_embedding("a")) == 256


def test_model_name_picks_the_model_and_a_pickled_copy_keeps_it():
    model = VertexMMMultiModalEmbedding("hashed", model_name="my-model", dimension=128)
    assert model.model_name == model.embedder.model == "my-model"
    again = pickle.loads(pickle.dumps(model))
    assert again.embedder.model == "my-model" and again.get_text_embedding("a") == model.get_text_embedding("a")
    assert VertexMMMultiModalEmbedding("hashed").model_name == "sha256"


def test_a_model_name_other_than_a_ready_embedders_model_is_refused(hashed):
    with pytest.raises(ValueError, match="model_name='other'"):
        VertexMMMultiModalEmbedding(embedder=hashed, model_name="other")
    assert VertexMMMultiModalEmbedding(embedder=hashed, model_name=hashed.model).model_name == hashed.model


def test_llama_index_embeddings_cache_is_refused_for_mixing_query_and_document_vectors():
    from llama_index.core.storage.kvstore import SimpleKVStore

    with pytest.raises(ValueError, match="cache='PATH.sqlite'"):
        VertexMMMultiModalEmbedding("hashed", dimension=128, embeddings_cache=SimpleKVStore())
