"""A RunInference ``ModelHandler`` for any vertex-mm embedder (vertex, gemini, local, ...).

    from apache_beam.ml.inference.base import RunInference
    handler = EmbedderModelHandler("vertex", embedder_options={"project": "p"},
                                   quota=WorkerQuota(quota_rpm=600, max_workers=20))
    results = inputs | RunInference(handler)     # PredictionResult(example, inference)

``inference`` is the input's :class:`~vertex_mm.MultiModalEmbeddingResponse`, or its typed
:class:`~vertex_mm.errors.VertexMMError`: one bad input never fails its batch, and each
input is retried on its own. (Beam's ``RemoteModelHandler`` retries whole batches, which
re-sends the inputs that succeeded and spends their quota again; this handler does not.)
:class:`~vertex_mm.beam.EmbedImages` and friends split the results into embeddings and a
dead-letter output.

The "model" RunInference loads is the embedder itself, built on the worker from a picklable
spec (backend name and options). RunInference shares it among the threads of an SDK process,
so its batch engine (token bucket, retry policy, thread pool) is per process, which is what
:class:`~vertex_mm.beam.WorkerQuota` sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from ..embedder import BaseEmbedder
from ..errors import InvalidDimensionError, VertexMMError
from .quota import WorkerQuota
from .records import EmbedInput, Kind, to_embed_input

__all__ = ["EmbedderModelHandler"]

#: Inputs per batch. A batch runs ``concurrency`` requests at a time and ends when its slowest
#: request does, so batches much larger than the concurrency keep the pipe full.
DEFAULT_MIN_BATCH_SIZE = 16
DEFAULT_MAX_BATCH_SIZE = 256

_INFERENCE_ARGS = frozenset({"dimension"})


class EmbedderModelHandler(ModelHandler[EmbedInput, PredictionResult, BaseEmbedder]):
    """Embeds :class:`~vertex_mm.beam.records.EmbedInput` batches with a vertex-mm embedder.

    ``backend`` and ``embedder_options`` go to :func:`vertex_mm.get_embedder` on the worker
    (``embedder_factory``, a picklable zero-argument callable, replaces both). ``kind`` is
    ``"image"``, ``"text"`` or ``"content"`` (gemini-embedding-2's ordered parts, one vector;
    ``task`` then conditions it, e.g. ``"retrieval_document"``); ``dimension`` defaults to the
    model's.

    ``quota`` sets the token bucket of each SDK process to ``quota.per_process_rpm``; without
    it the backend's default limit applies (Vertex: 120 requests/minute per process).
    ``concurrency`` (requests in flight per process) defaults to the backend's (Vertex: 10,
    the size of its HTTP connection pool), which carries 600 requests/minute at up to 1 s of
    latency; above that, raise it to ``quota.concurrency(latency)``. ``retry`` is a policy name (``"default"``,
    ``"none"``), a number of attempts or a :class:`~vertex_mm.batch.RetryPolicy`; None keeps
    the backend's default (remote: exponential backoff on 429/5xx/timeouts; local: none).

    ``min_batch_size``, ``max_batch_size`` and ``max_batch_duration_secs`` (streaming) go to
    ``beam.BatchElements``; other keywords go to Beam's ``ModelHandler``.
    """

    def __init__(
        self,
        backend: str = "vertex",
        *,
        kind: Kind = "image",
        dimension: int | None = None,
        task: str | None = None,
        quota: WorkerQuota | None = None,
        concurrency: int | None = None,
        retry: Any = None,
        embedder_options: Mapping[str, Any] | None = None,
        embedder_factory: Callable[[], BaseEmbedder] | None = None,
        min_batch_size: int | None = DEFAULT_MIN_BATCH_SIZE,
        max_batch_size: int | None = DEFAULT_MAX_BATCH_SIZE,
        max_batch_duration_secs: int | None = None,
        **model_handler_kwargs: Any,
    ) -> None:
        if kind not in ("image", "text", "content"):
            raise ValueError(f"kind must be 'image', 'text' or 'content', got {kind!r}")
        if task is not None and kind != "content":
            raise ValueError("task= goes with kind='content'")
        if concurrency is not None and (int(concurrency) != concurrency or concurrency < 1):
            raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if min_batch_size and max_batch_size and min_batch_size > max_batch_size:
            raise ValueError(f"min_batch_size={min_batch_size} exceeds max_batch_size={max_batch_size}")
        # Checked here, when the pipeline is built: on the worker a bad setting crashed setup
        # (retried by Dataflow) or sent every input to the dead letter after reading them all.
        _check_settings(backend, kind, dimension, task, retry, dict(embedder_options or {}), embedder_factory)
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            max_batch_duration_secs=max_batch_duration_secs,
            **model_handler_kwargs,
        )
        self.backend = backend
        self.kind: Kind = kind
        self.dimension = dimension
        self.task = task
        self.quota = quota
        self.concurrency = concurrency
        self.retry = retry
        self.embedder_options = dict(embedder_options or {})
        self.embedder_factory = embedder_factory

    # -- what the worker does ------------------------------------------------------------------
    def batch_options(self) -> dict[str, Any]:
        """The ``configure_batch`` options each process's embedder gets."""
        options: dict[str, Any] = {}
        if self.quota is not None:
            options["requests_per_minute"] = self.quota.per_process_rpm
        if self.concurrency is not None:
            options["concurrency"] = self.concurrency
        if self.retry is not None:
            options["retry"] = self.retry
        return options

    def load_model(self) -> BaseEmbedder:
        """Build this process's embedder and size its batch engine to its share of the quota."""
        if self.embedder_factory is not None:
            embedder = self.embedder_factory()
        else:  # batch options (cache, concurrency...) go to configure_batch, the rest to the backend
            from ..registry import make_embedder

            embedder = make_embedder(self.backend, self.embedder_options)
        options = self.batch_options()
        if options:
            embedder.configure_batch(**options)
        return embedder

    def run_inference(
        self,
        batch: Sequence[EmbedInput],
        model: BaseEmbedder,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        """One result per input, in order: the response, or the input's typed error.

        Inputs are read and validated here, on the worker, so a corrupt or over-size file
        becomes that input's error. Anything else raised is a bug or a misconfiguration and
        fails the batch (``with_exception_handling`` routes it to the dead letter).
        """
        dimension = (inference_args or {}).get("dimension", self.dimension)
        if self.kind == "content":
            space_id = model.content_space(dimension, task=self.task).id
        else:
            space_id = model.space(dimension).id
        built: list[Any] = []
        examples: list[Any] = []
        for raw in batch:
            item: Any = raw
            try:
                if not isinstance(raw, EmbedInput):  # RunInference(handler) on paths, URIs, dicts
                    item = to_embed_input(raw, self.kind)
                request: Any = item.build(model, dimension, self.task)
            except VertexMMError as exc:  # the input's own error: its row, not the batch's
                request = exc
            examples.append(item)
            built.append(request)
        results = model.embed_many(built)
        if len(results) != len(batch):  # pragma: no cover - the embedder contract
            raise RuntimeError(f"embedder returned {len(results)} results for {len(batch)} inputs")
        return [PredictionResult(item, result, space_id) for item, result in zip(examples, results)]

    # -- what RunInference asks ------------------------------------------------------------------
    def validate_inference_args(self, inference_args: dict[str, Any] | None) -> None:
        unknown = sorted(set(inference_args or {}) - _INFERENCE_ARGS)
        if unknown:
            raise ValueError(f"EmbedderModelHandler takes only {sorted(_INFERENCE_ARGS)} as inference_args, got {unknown}")
        if "dimension" in (inference_args or {}):
            _check_dimension(self.backend, inference_args["dimension"], self.embedder_options,  # type: ignore[index]
                             self.embedder_factory)

    def get_num_bytes(self, batch: Sequence[EmbedInput]) -> int:
        # A metric, asked after the batch was embedded: it never fails the (billed) batch.
        total = 0
        for item in batch:
            try:
                total += item.num_bytes() if isinstance(item, EmbedInput) else len(str(item).encode("utf-8", "replace"))
            except Exception:  # noqa: BLE001 - a size we cannot tell counts as nothing
                continue
        return total

    def get_metrics_namespace(self) -> str:
        return "vertex_mm"

    def __repr__(self) -> str:
        quota = f", quota={self.quota!r}" if self.quota else ""
        return f"EmbedderModelHandler(backend={self.backend!r}, kind={self.kind!r}, dimension={self.dimension!r}{quota})"


#: The model each registry backend embeds with by default, for checking a dimension up front.
_DEFAULT_MODELS = {"vertex": "multimodalembedding@001", "gemini": "gemini-embedding-2"}


def _check_settings(backend: str, kind: str, dimension: Any, task: str | None, retry: Any,
                    options: dict[str, Any], factory: Any) -> None:
    from ..batch.options import BATCH_OPTION_NAMES, BatchOptions
    from ..batch.retry import resolve_retry
    from ..content import resolve_task

    if retry is not None:
        resolve_retry(retry)
    batch = {k: v for k, v in options.items() if k in BATCH_OPTION_NAMES and k != "cache"}  # a cache opens on the worker
    if batch:
        BatchOptions.build(**batch)
    if task is not None:
        resolve_task(task)
    _check_dimension(backend, dimension, options, factory)


def _check_dimension(backend: str, dimension: Any, options: dict[str, Any], factory: Any) -> None:
    if dimension is None:
        return
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise InvalidDimensionError(f"dimension must be a positive int, got {dimension!r}", input_name="dimension")
    if factory is None and backend in _DEFAULT_MODELS:  # other backends know their dimensions once built
        from ..limits import check_dimension, limits_for

        check_dimension(dimension, limits_for(str(options.get("model", _DEFAULT_MODELS[backend]))))
