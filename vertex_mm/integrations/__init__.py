"""Adapters that put vertex-mm under the frameworks people already call: LangChain and LlamaIndex.

Each adapter lives in its own module and is the only place that imports its framework, so
``import vertex_mm`` (and this package) never loads either::

    from vertex_mm.integrations.langchain import VertexMMEmbeddings              # pip install 'vertex-mm[langchain]'
    from vertex_mm.integrations.llama_index import VertexMMMultiModalEmbedding   # pip install 'vertex-mm[llamaindex]'

Both sit on :class:`EmbedderAdapter` (framework-free): the embedder, the task instructions of
queries and documents, the batch engine underneath (rate limit, retries, cache, concurrency,
real asyncio), and one way for failed inputs to surface: :class:`FailedInputsError`, raised
once every input was tried, naming each failed input and why.
"""

from ._adapter import DEFAULT_DOCUMENT_TASK, DEFAULT_QUERY_TASK, EmbedderAdapter, make_embedder
from ._errors import FailedInputsError

__all__ = ["DEFAULT_DOCUMENT_TASK", "DEFAULT_QUERY_TASK", "EmbedderAdapter", "FailedInputsError", "make_embedder"]
