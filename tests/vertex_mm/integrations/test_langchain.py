"""VertexMMEmbeddings against the real langchain-core: the Embeddings contract, images, errors,
real async, on the vertex and gemini backends through the emulator and offline on the local
model (InMemoryVectorStore: a text query finds the photo)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from vertex_mm import get_embedder
from vertex_mm.emulator import run_emulator
from vertex_mm.errors import InputError, InputNotFoundError, InvalidDimensionError, ServiceUnavailableError
from vertex_mm.integrations import FailedInputsError
from vertex_mm.integrations.langchain import VertexMMEmbeddings, aadd_images, add_images

TEXTS = ["a cat on a sofa", "a rocket launch", "espresso", "a red motorcycle"]


def test_it_is_a_langchain_embeddings():
    embeddings = VertexMMEmbeddings("hashed")
    assert isinstance(embeddings, Embeddings)
    assert "backend='hashed'" in repr(embeddings)


# -- vertex (multimodalembedding@001) on the emulator ----------------------------------------
def test_vertex_documents_queries_and_images_in_order_at_the_dimension_asked(emulator, remote_options, hashed, photos):
    embeddings = VertexMMEmbeddings("vertex", dimension=512, **remote_options("vertex"))
    docs = embeddings.embed_documents(TEXTS)
    assert np.allclose(docs, hashed.embed_texts(TEXTS, dimension=512), atol=1e-6)
    assert np.allclose(embeddings.embed_query(TEXTS[1]), docs[1], atol=1e-6)  # no tasks on this model
    images = embeddings.embed_image([str(p) for p in photos[:3]])
    assert np.allclose(images, hashed.embed_images(photos[:3], dimension=512), atol=1e-6)
    assert embeddings.dimension == 512 and {len(v) for v in docs + images} == {512}
    assert emulator.stats()["2xx"] == len(TEXTS) + 1 + 3


def test_vertex_async_twins_give_the_sync_vectors(emulator, remote_options, photos):
    embeddings = VertexMMEmbeddings("vertex", dimension=128, **remote_options("vertex"))

    async def both() -> tuple[list[list[float]], list[float], list[list[float]]]:
        return (await embeddings.aembed_documents(TEXTS), await embeddings.aembed_query("a cat"),
                await embeddings.aembed_image(photos[:2]))

    docs, query, images = asyncio.run(both())
    assert docs == embeddings.embed_documents(TEXTS)
    assert query == embeddings.embed_query("a cat")
    assert images == embeddings.embed_image(photos[:2])


def test_async_documents_keep_several_requests_in_flight_without_blocking_the_loop(unthrottled, watching_loop):
    with run_emulator(backend="hashed", latency=0.2) as emu:
        embeddings = VertexMMEmbeddings("vertex", api_endpoint=emu.url, concurrency=8, **unthrottled)
        vectors, ticks = watching_loop(lambda: embeddings.aembed_documents([f"text {i}" for i in range(8)]))
        stats = emu.stats()
    assert len(vectors) == 8 and stats["2xx"] == 8
    assert stats["max_in_flight"] > 1  # not one after another
    assert ticks >= 5  # the loop kept running while the requests were out


def test_sync_calls_run_on_the_engines_workers_too(unthrottled, photos):
    with run_emulator(backend="hashed", latency=0.15) as emu:
        embeddings = VertexMMEmbeddings("vertex", api_endpoint=emu.url, concurrency=4, **unthrottled)
        assert len(embeddings.embed_image(photos[:8])) == 8
        assert emu.stats()["max_in_flight"] > 1


def test_server_errors_surface_once_every_input_was_tried(unthrottled):
    with run_emulator(backend="hashed", fault_rate_503=1.0, seed=0) as emu:
        embeddings = VertexMMEmbeddings("vertex", api_endpoint=emu.url, **unthrottled)
        with pytest.raises(FailedInputsError) as caught:
            embeddings.embed_documents(TEXTS[:3])
        assert emu.stats()["503"] == 3
    err = caught.value
    assert str(err).startswith("3 of 3 inputs failed: #0 'a cat on a sofa': ServiceUnavailableError")
    assert all(isinstance(e, ServiceUnavailableError) for e in err.errors.values())


def test_a_missing_image_is_named_and_the_others_still_embedded(emulator, remote_options, photos):
    embeddings = VertexMMEmbeddings("vertex", **remote_options("vertex"))
    with pytest.raises(FailedInputsError, match=r"^1 of 3 inputs failed: #1 'missing\.jpg': InputNotFoundError") as caught:
        embeddings.embed_image([photos[0], "missing.jpg", photos[1]])
    assert caught.value.result.ok.tolist() == [True, False, True]
    assert emulator.stats()["2xx"] == 2  # the missing file never reached the network
    with pytest.raises(FailedInputsError) as caught:  # a list call, even of one
        asyncio.run(embeddings.aembed_image(["missing.jpg"]))
    assert isinstance(caught.value.errors[0], InputNotFoundError)
    assert caught.value.__cause__ is caught.value.errors[0]


def test_a_bad_dimension_fails_at_construction(emulator, remote_options):
    with pytest.raises(InvalidDimensionError):
        VertexMMEmbeddings("vertex", dimension=100, **remote_options("vertex"))


# -- gemini-embedding-2 on the emulator: task instructions ------------------------------------
def test_gemini_queries_and_documents_get_their_task_instructions(emulator, remote_options, unthrottled):
    embeddings = VertexMMEmbeddings("gemini", dimension=768, **remote_options("gemini"))
    plain = get_embedder("gemini", base_url=emulator.url, **unthrottled)
    query = embeddings.embed_query("a cat")
    assert np.allclose(query, plain.embed_content("a cat", dimension=768, task="retrieval_query"), atol=1e-6)
    doc = embeddings.embed_documents(["a cat"])[0]
    assert np.allclose(doc, plain.embed_content("a cat", dimension=768, task="retrieval_document"), atol=1e-6)
    assert asyncio.run(embeddings.aembed_query("a cat")) == query


# -- construction -----------------------------------------------------------------------------
def test_options_reach_the_backend_and_the_batch_engine(emulator):
    embeddings = VertexMMEmbeddings("vertex", api_endpoint=emulator.url, location="europe-west4",
                                    requests_per_minute=900, concurrency=4)
    assert embeddings.embedder.location == "europe-west4"  # type: ignore[attr-defined]
    assert embeddings.embedder.batch.concurrency == 4 and embeddings.embedder.batch.requests_per_minute == 900


def test_a_ready_embedder_is_used_as_it_is_and_not_closed(hashed, mocker):
    close = mocker.spy(hashed, "close")
    embeddings = VertexMMEmbeddings(embedder=hashed, dimension=128)
    assert embeddings.embedder is hashed and len(embeddings.embed_query("x")) == 128
    embeddings.close()
    assert close.call_count == 0
    with pytest.raises(TypeError, match="configured by its owner"):
        VertexMMEmbeddings(embedder=hashed, concurrency=4)
    with pytest.raises(ValueError, match="backend='vertex'"):
        VertexMMEmbeddings("vertex", embedder=hashed)


# -- InMemoryVectorStore ----------------------------------------------------------------------
def test_images_and_texts_share_one_in_memory_store_that_dumps_and_loads(tmp_path, photos):
    embeddings = VertexMMEmbeddings("hashed", dimension=128)
    store = InMemoryVectorStore(embeddings)
    ids = add_images(store, photos[:2], metadatas=[{"album": "a"}, {"album": "b"}], ids=["p0", "p1"])
    store.add_documents([Document(page_content="a note", id="t0")])
    assert ids == ["p0", "p1"]
    assert store.get_by_ids(["p1"])[0].metadata == {"source": str(photos[1]), "modality": "image", "album": "b"}
    # A query equal to a stored vector finds it: the store holds the image vector of embed_image.
    image_vector = embeddings.embed_image([photos[0]])[0]
    assert store.similarity_search_by_vector(image_vector, k=1)[0].id == "p0"
    store.dump(str(tmp_path / "store.json"))
    loaded = InMemoryVectorStore.load(str(tmp_path / "store.json"), embeddings)
    assert loaded.similarity_search_by_vector(image_vector, k=1)[0].page_content == str(photos[0])


def test_add_images_adds_nothing_when_an_image_fails(photos):
    store = InMemoryVectorStore(VertexMMEmbeddings("hashed"))
    with pytest.raises(FailedInputsError, match="#1 'gone.jpg'"):
        add_images(store, [photos[0], "gone.jpg"])
    assert store.store == {}


def test_async_images_are_read_a_few_batches_at_a_time_and_come_back_in_order(tmp_path):
    # All of them were read (and held) before the first was sent; now 32+ at a time.
    from factories import image_bytes

    paths = []
    for i in range(75):
        paths.append(tmp_path / f"{i:02d}.png")
        paths[-1].write_bytes(image_bytes("PNG", color=(i, 255 - i, 3 * i % 256)))
    paths.insert(40, tmp_path / "gone.png")
    embeddings = VertexMMEmbeddings("hashed")
    with pytest.raises(FailedInputsError, match="#40 "):  # numbered across the chunks
        asyncio.run(embeddings.aembed_image(paths))
    del paths[40]
    assert asyncio.run(embeddings.aembed_image(paths)) == embeddings.embed_image(paths)


def test_add_images_refuses_image_bytes_before_anything_is_stored(photos):
    # Bytes became the record's page_content, and every later search raised ValidationError.
    store = InMemoryVectorStore(VertexMMEmbeddings("hashed"))
    with pytest.raises(InputError, match="image #1 is a bytes: add_images stores each image under its location"):
        add_images(store, [photos[0], photos[1].read_bytes()])
    assert store.store == {}
    add_images(store, photos[:1])
    store.add_texts(["a cat"])
    assert len(store.similarity_search("cat", k=2)) == 2


def test_add_images_refuses_embeddings_without_images_and_mismatched_lengths(photos):
    class TextOnly(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[1.0] for _ in texts]

        def embed_query(self, text: str) -> list[float]:
            return [1.0]

    with pytest.raises(TypeError, match="cannot embed images"):
        add_images(InMemoryVectorStore(TextOnly()), photos[:1])
    with pytest.raises(ValueError, match="ids must be as long as uris"):
        add_images(InMemoryVectorStore(VertexMMEmbeddings("hashed")), photos[:2], ids=["only-one"])


@pytest.mark.slow
def test_a_text_query_finds_the_photo_in_an_in_memory_store_offline(local_embedder, photos):
    embeddings = VertexMMEmbeddings(embedder=local_embedder)
    store = InMemoryVectorStore(embeddings)
    add_images(store, photos)
    store.add_documents([Document(page_content="Quarterly sales grew four percent in the northern region."),
                         Document(page_content="Remember to water the tomatoes on Tuesday.")])
    hits = store.similarity_search("a cat", k=3)
    assert Path(hits[0].page_content).name == "cat.jpg" and hits[0].metadata["modality"] == "image"
    assert len(hits[0].metadata) == 2 and embeddings.dimension == 3072  # the content space of the local backend


@pytest.mark.slow
def test_the_async_store_calls_find_the_same_photo(local_embedder, photos):
    embeddings = VertexMMEmbeddings(embedder=local_embedder, dimension=512)
    store = InMemoryVectorStore(embeddings)

    async def run() -> list[Document]:
        await aadd_images(store, photos)
        return await store.asimilarity_search("a rocket launch", k=1)

    assert Path(asyncio.run(run())[0].page_content).name == "rocket.jpg"


@pytest.mark.parametrize("call", [
    lambda e: e.embed_documents("abc"),
    lambda e: e.embed_image("cat.jpg"),
    lambda e: e.embed_image(Path("cat.jpg")),
    lambda e: asyncio.run(e.aembed_documents("abc")),
    lambda e: asyncio.run(e.aembed_image("cat.jpg")),
])
def test_one_string_where_a_list_belongs_is_a_type_error_naming_it(call):
    # It was one vector per character ("abc": three), or a failure per character of a path.
    with pytest.raises(TypeError, match="wrap it in a list"):
        call(VertexMMEmbeddings(backend="hashed"))
