"""Test your own code against vertex-mm without a network, credentials or models.

* :class:`HashedEmbedder` — deterministic, meaningless unit vectors from SHA-256 of the
  content: the same input always gives the same vector, any dimension, no torch. It has the
  whole embedder interface (batches, cache, errors), so code under test runs unchanged.
* :class:`InMemoryTransport` — ``VertexEmbedder(transport=InMemoryTransport())`` runs the real
  Vertex client, wire format included, answered in this process; it records calls and can
  inject errors.
* For tests that need real HTTP and the unmodified Google SDKs, run the emulator:
  :func:`vertex_mm.emulator.run_emulator` (extra ``emulator``).

Never judge retrieval quality with hashed vectors: they carry no meaning.
"""

from __future__ import annotations

from .hashed import HashedEmbedder, hashed_vector, probe_video_duration
from .transport import InMemoryTransport

__all__ = ["HashedEmbedder", "InMemoryTransport", "hashed_vector", "probe_video_duration"]
