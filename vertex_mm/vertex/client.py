"""``VertexEmbedder``: multimodalembedding@001 through the generated PredictionServiceClient."""

from __future__ import annotations

from typing import Any

from ..batch.options import REMOTE_DEFAULTS
from ..content import as_parts
from ..embedder import BaseEmbedder
from ..errors import InputError, UnsupportedInputError
from ..google_api import EMULATOR_PROJECT, default_project, default_region, is_plain_http
from ..limits import canonical_model, limits_for
from ..media import Image
from ..results import MultiModalEmbeddingResponse
from ..wire import EmbedRequest, build_instance, build_parameters, parse_prediction
from .transport import GapicTransport, PredictTransport, TransportName, VertexTarget

__all__ = ["VertexEmbedder"]


class VertexEmbedder(BaseEmbedder):
    """Vertex AI ``multimodalembedding@001`` (1408-d; images and text also 128/256/512).

    ``project`` defaults to ``GOOGLE_CLOUD_PROJECT`` (then the ADC project); ``location`` to
    ``GOOGLE_CLOUD_REGION`` or ``CLOUD_ML_REGION`` (as vision_models reads them), then
    ``us-central1``; credentials default to Application Default Credentials. ``api_endpoint="http://127.0.0.1:PORT"``
    points the same client at ``vertex-mm emulator`` with anonymous credentials.
    ``transport`` is ``"grpc"`` (default), ``"rest"``, or a ready
    :class:`~vertex_mm.vertex.PredictTransport` such as
    :class:`vertex_mm.testing.InMemoryTransport` (no network at all).

    Other keywords set how batch calls run (see :meth:`configure_batch`):
    ``requests_per_minute`` (default 120, the floor of the documented base quota: set it to
    your project's), ``concurrency`` (10), ``retry`` (exponential backoff with jitter on
    429/500/503/504 and dropped connections, honouring Retry-After), ``cache``.
    """

    backend = "vertex"
    batch_defaults = REMOTE_DEFAULTS
    combined_request = True  # one :predict instance carries the image, video and text
    # Safe to call from several threads at once (the batch engine does, ``concurrency`` at a
    # time): the gapic PredictionServiceClient may be shared across threads, and the rate
    # limiter and the engine lock their own state. A custom PredictTransport must be too.
    thread_safe = True

    def __init__(
        self,
        project: str | None = None,
        location: str | None = None,
        *,
        model: str = "multimodalembedding@001",
        transport: TransportName | PredictTransport | None = None,
        api_endpoint: str | None = None,
        credentials: Any = None,
        timeout: float = 60.0,
        **batch_options: Any,
    ) -> None:
        ready = transport if isinstance(transport, PredictTransport) else None
        project = project or default_project()
        if project is None and (ready is not None or is_plain_http(api_endpoint)):
            project = EMULATOR_PROJECT
        if project is None:
            try:
                import google.auth

                credentials_, project = google.auth.default()
                credentials = credentials or credentials_
            except Exception:
                project = None
        if not project:
            raise InputError("no Google Cloud project: pass project=... or set GOOGLE_CLOUD_PROJECT", input_name="project")
        # One id per model, as gemini's resolve_model: a publishers/google/models/ path and the
        # alias "multimodalembedding" are multimodalembedding@001, so one space and one cache.
        self.model = model = canonical_model(model)
        self.limits = limits_for(model)
        self.target = VertexTarget(project, location or default_region() or "us-central1", model)
        self._transport: PredictTransport
        if isinstance(transport, PredictTransport):
            self._transport = transport
        else:
            self._transport = GapicTransport(self.target, transport=transport, api_endpoint=api_endpoint,
                                             credentials=credentials, timeout=timeout)
        self.configure_batch(**batch_options)

    @property
    def project(self) -> str:
        return self.target.project

    @property
    def location(self) -> str:
        return self.target.location

    def build_content_request(self, content: Any, *, dimension: int | None = None, task: Any = None,
                              task_instruction: str | None = None, title: str | None = None,
                              key: str | None = None, audio_track_extraction: bool = False) -> EmbedRequest:
        """multimodalembedding@001 embeds one text or one image per vector: a content of that
        one part is answered with that vector (so code written for contents runs here too);
        anything more is an :class:`~vertex_mm.errors.UnsupportedInputError`."""
        parts = as_parts(content)
        if task is not None or task_instruction is not None or title is not None or audio_track_extraction:
            raise UnsupportedInputError(f"{self.model} takes no task instructions or content options; they are "
                                        "gemini-embedding-2's (get_embedder('gemini'))", input_name="task")
        if len(parts) == 1 and isinstance(parts[0], str):
            return self.build_request(contextual_text=parts[0], dimension=dimension, key=key)
        if len(parts) == 1 and isinstance(parts[0], Image):
            return self.build_request(image=parts[0], dimension=dimension, key=key)
        kinds = ", ".join(type(p).__name__ if not isinstance(p, str) else "text" for p in parts)
        raise UnsupportedInputError(
            f"{self.model} embeds one text or one image per vector, not a content of [{kinds}]; "
            "gemini-embedding-2 embeds interleaved contents (get_embedder('gemini'))", input_name="content")

    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        prediction = self._transport.predict(build_instance(request), build_parameters(request, self.limits))
        response = parse_prediction(prediction, self.space(request.dimension))
        response._prediction_response = prediction
        return response

    def _cache_scope(self) -> str:
        return self._transport.api_endpoint

    def close(self) -> None:
        self._transport.close()
        super().close()

    def __repr__(self) -> str:
        return (
            f"VertexEmbedder(project={self.project!r}, location={self.location!r}, model={self.model!r}, "
            f"transport={self._transport.transport_name!r}, endpoint={self._transport.api_endpoint!r})"
        )
