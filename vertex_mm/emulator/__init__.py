"""A local Vertex AI emulator for embeddings: the real Google SDKs talk to it unchanged.

It serves, over plain HTTP on 127.0.0.1, the REST calls that ``vertexai.vision_models``, the
gapic ``PredictionServiceClient`` (``transport="rest"``) and ``google-genai`` make:

- the ``multimodalembedding@001`` model lookup and ``:predict`` (one instance per request);
- ``gemini-embedding-2`` ``:embedContent``.

Requests are validated with the shared :mod:`vertex_mm.limits` table through
:mod:`vertex_mm.wire`, so bad input gets the service's 400 ``INVALID_ARGUMENT``. Vectors come
from the local backend when it is installed, else from :class:`~vertex_mm.testing.hashed.HashedEmbedder`
(deterministic and meaningless). Faults are injected on demand: latency, a per-minute quota
answering 429 with ``Retry-After``, random 503s / 429s, and dropped connections, seeded.

In a test::

    from vertex_mm.emulator import run_emulator

    with run_emulator(backend="hashed", fault_rate_503=0.05, seed=1) as emu:
        emb = vertex_mm.get_embedder("vertex", api_endpoint=emu.url)
        ...
        emu.stats()   # {"requests": ..., "2xx": ..., "503": ..., ...}

From a shell: ``vertex-mm emulator --port 8080 --latency-ms 150 --quota-rpm 600``.
Needs the ``emulator`` extra (starlette, uvicorn).
"""

from __future__ import annotations

from .app import create_app
from .errors import GoogleAPIException
from .faults import FaultInjector, Stats
from .server import EmulatorServer, run_emulator, serve_forever
from .settings import ENV_PREFIX, EmulatorSettings, FaultSettings, SettingsError
from .vectors import VectorService

__all__ = [
    "ENV_PREFIX",
    "EmulatorServer",
    "EmulatorSettings",
    "FaultInjector",
    "FaultSettings",
    "GoogleAPIException",
    "SettingsError",
    "Stats",
    "VectorService",
    "create_app",
    "run_emulator",
    "serve_forever",
]
