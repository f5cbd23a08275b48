"""vertex-mm under LangChain: :class:`VertexMMEmbeddings`, a ``langchain_core`` ``Embeddings``
that also embeds images, and :func:`add_images` to put images into an ``InMemoryVectorStore``.

Needs ``pip install 'vertex-mm[langchain]'`` (``langchain-core``)::

    from langchain_core.vectorstores import InMemoryVectorStore
    from vertex_mm.integrations.langchain import VertexMMEmbeddings, add_images

    embeddings = VertexMMEmbeddings(backend="local")          # or "vertex", "gemini"
    store = InMemoryVectorStore(embeddings)
    add_images(store, ["cat.jpg", "rocket.jpg"])
    store.similarity_search("a cat", k=1)[0].metadata["source"]   # 'cat.jpg'
"""

from ._embeddings import VertexMMEmbeddings
from ._stores import aadd_images, add_images

__all__ = ["VertexMMEmbeddings", "aadd_images", "add_images"]
