"""``InMemoryTransport``: the Vertex ``:predict`` call answered in this process.

The request goes through the same wire format as on the network: the client builds the JSON
instance, this transport parses it with the server side of :mod:`vertex_mm.wire` (so an
instance the service would refuse is refused here too, as a 400), embeds it with any embedder
(:class:`HashedEmbedder` by default) and returns the prediction JSON the client parses back.

>>> from vertex_mm import VertexEmbedder
>>> from vertex_mm.testing import InMemoryTransport
>>> transport = InMemoryTransport()
>>> emb = VertexEmbedder(transport=transport)
>>> emb.embed_texts(["a cat", "a dog"]).shape
(2, 1408)
>>> len(transport.calls)
2

``fail_with(error, times=n)`` makes the next ``n`` calls raise ``error`` (e.g. a
:class:`~vertex_mm.errors.QuotaExceededError`), to test retry and error handling.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from typing import Any

from ..embedder import BaseEmbedder
from ..errors import InputError, InvalidArgumentError, VertexMMError
from ..limits import MULTIMODAL_EMBEDDING_001, ModelLimits
from ..vertex.transport import PredictTransport
from ..wire import build_prediction, parse_instance

__all__ = ["InMemoryTransport"]


class InMemoryTransport(PredictTransport):
    """A :class:`~vertex_mm.vertex.PredictTransport` with no network. Thread-safe.

    ``calls`` keeps every ``(instance, parameters)`` received, in order.
    """

    transport_name = "in-memory"

    def __init__(self, embedder: BaseEmbedder | None = None, *, limits: ModelLimits = MULTIMODAL_EMBEDDING_001) -> None:
        if embedder is None:
            from .hashed import HashedEmbedder

            embedder = HashedEmbedder(limits=limits)
        self.embedder = embedder
        self.limits = limits
        self.api_endpoint = f"in-memory:{embedder.backend}/{embedder.model}"
        self.calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self._failures: collections.deque[VertexMMError] = collections.deque()
        self._lock = threading.Lock()

    def fail_with(self, error: VertexMMError, *, times: int = 1) -> None:
        """Make the next ``times`` calls raise ``error`` instead of answering."""
        with self._lock:
            self._failures.extend([error] * times)

    def predict(self, instance: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((dict(instance), dict(parameters)))
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            raise failure
        try:
            request = parse_instance(instance, parameters, self.limits)
        except InputError as exc:  # the service's 400 for what it refuses
            raise InvalidArgumentError(str(exc), status="INVALID_ARGUMENT") from exc
        return build_prediction(self.embedder._predict(request))
