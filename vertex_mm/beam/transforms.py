"""``EmbedImages`` and ``EmbedTexts``: inputs in, embedding rows and dead-letter rows out.

    import apache_beam as beam
    from vertex_mm.beam import EmbedImages, WorkerQuota

    with beam.Pipeline(options=options) as p:
        out = (p | beam.Create(["gs://bucket/a.jpg", "gs://bucket/b.jpg"])
                 | EmbedImages("vertex", embedder_options={"project": "p", "location": "us-central1"},
                               quota=WorkerQuota(quota_rpm=600, max_workers=20)))
        out.embeddings   # {"id", "embedding", "embedding_space", "metadata"}
        out.dead_letter  # {"id", "error_type", "error", "retryable", "status_code", "stage", "source", "metadata"}

Every input ends in exactly one of the two outputs. Inside, three steps can fail, and each
failure becomes a dead-letter row that carries the input's id:

1. ``ToEmbedInput``: the element is not an accepted input shape (``stage="input"``);
2. ``RunInference``: the embedder returned a typed error for the input (``stage="embed"``:
   a corrupt or over-size image, a 400, or a 429/503 still failing after the retries);
3. a whole batch raised something unexpected, which RunInference's
   ``with_exception_handling`` catches; each input of the batch gets a row (``stage="batch"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult, RunInference
from apache_beam.typehints.decorators import no_annotations

from ..errors import VertexMMError
from .handler import EmbedderModelHandler
from .records import EmbedInput, Kind, dead_letter_row, describe, embedding_row, fallback_id, to_embed_input

__all__ = ["DEAD_LETTER", "Embed", "EmbedImages", "EmbedOutputs", "EmbedTexts"]

#: The tag of the dead-letter output of the inner steps.
DEAD_LETTER = "dead_letter"
_NAMESPACE = "vertex_mm"


class EmbedOutputs(NamedTuple):
    """The two outputs of an embedding transform: unpack as ``embeddings, dead_letter = ...``."""

    embeddings: beam.PCollection
    dead_letter: beam.PCollection


class _ToEmbedInput(beam.DoFn):
    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.rejected = Metrics.counter(_NAMESPACE, "inputs_rejected")

    def process(self, element: Any) -> Iterator[Any]:
        try:
            item = to_embed_input(element, self.kind)
        except Exception as exc:  # typed InputErrors, and anything odd: no element may vanish
            self.rejected.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, dead_letter_row(fallback_id(element), exc, stage="input", source=_safe_source(element),
                                             metadata=_safe_metadata(element))
            )
            return
        yield item


def _safe_metadata(element: Any) -> dict[str, Any]:
    """A refused dict's metadata, as far as it is a dict: the row alone then says what it was."""
    if not isinstance(element, dict):
        return {}
    metadata = element.get("metadata")
    return dict(metadata) if isinstance(metadata, dict) else {}


class _SplitResults(beam.DoFn):
    """PredictionResult -> an embedding row, or a dead-letter row with the typed error."""

    def __init__(self) -> None:
        self.embedded = Metrics.counter(_NAMESPACE, "embedded")
        self.failed = Metrics.counter(_NAMESPACE, "dead_letter")

    def process(self, result: PredictionResult) -> Iterator[Any]:
        item: EmbedInput = result.example
        outcome = result.inference
        if isinstance(outcome, BaseException):
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                dead_letter_row(item.id, outcome, stage="embed", source=item.source(), metadata=item.metadata),
            )
            return
        try:
            row = embedding_row(item, outcome, result.model_id)  # the id as is: a model path does not parse back
        except ValueError as exc:  # a response without the vector asked for
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, dead_letter_row(item.id, exc, stage="embed", source=item.source(), metadata=item.metadata)
            )
            return
        self.embedded.inc()
        yield row


def _explode_failed_batch(failure: tuple[Any, Any]) -> Iterator[dict[str, Any]]:
    """RunInference's failed batch ``(batch, (exc_type, repr, traceback))`` -> one row per input."""
    batch, (exc_type, exc_repr, _traceback) = failure
    name = getattr(exc_type, "__name__", str(exc_type))
    # Beam hands over the type and repr only; the type says whether a later run could succeed
    # (a quota or an outage that outlasted the retries), which the row marked False always.
    retryable = isinstance(exc_type, type) and issubclass(exc_type, VertexMMError) and bool(exc_type.retryable)
    Metrics.counter(_NAMESPACE, "dead_letter").inc(len(batch))
    for item in batch:
        if isinstance(item, EmbedInput):
            yield dead_letter_row(item.id, exc_repr, stage="batch", source=item.source(), metadata=item.metadata,
                                  error_type=name, retryable=retryable)
        else:  # pragma: no cover - only EmbedInputs reach RunInference
            yield dead_letter_row(fallback_id(item), exc_repr, stage="batch", error_type=name, retryable=retryable)


def _safe_source(element: Any) -> str:
    try:
        if isinstance(element, dict):
            element = next((element[k] for k in ("image", "uri", "path", "bytes", "text") if element.get(k) is not None), "")
        return describe(element)
    except Exception:  # pragma: no cover
        return f"<{type(element).__name__}>"


class Embed(beam.PTransform):
    """Embed any accepted inputs of one ``kind``; returns :class:`EmbedOutputs`.

    Pass a ready :class:`EmbedderModelHandler` as ``handler``, or the handler's keyword
    arguments (``backend``, ``embedder_options``, ``quota``, ``concurrency``, ``retry``,
    ``dimension``, batch sizes). ``inference_args`` go to RunInference (``{"dimension": N}``).
    """

    kind: Kind = "image"

    def __init__(
        self,
        backend: str = "vertex",
        *,
        handler: EmbedderModelHandler | None = None,
        inference_args: dict[str, Any] | None = None,
        label: str | None = None,
        **handler_kwargs: Any,
    ) -> None:
        super().__init__(label)
        if handler is not None and handler_kwargs:
            raise TypeError(f"pass either handler= or handler keywords, not both (got {sorted(handler_kwargs)})")
        if handler is not None and backend != "vertex":  # the default: the handler names its own backend
            raise TypeError(f"pass either handler= or a backend ({backend!r}), not both: the handler names its own")
        if type(self) is not Embed and handler_kwargs.get("kind", self.kind) != self.kind:
            # EmbedImages(kind="text") quietly built a text transform
            raise ValueError(f"{type(self).__name__} embeds kind {self.kind!r}; use Embed(kind=...) for another")
        handler_kwargs.setdefault("kind", self.kind)
        self.handler = handler or EmbedderModelHandler(backend, **handler_kwargs)
        if self.handler.kind != handler_kwargs["kind"]:
            raise ValueError(f"{type(self).__name__} needs a handler of kind {handler_kwargs['kind']!r}, "
                             f"got {self.handler.kind!r}")
        self.inference_args = inference_args

    # Beam takes a return annotation for an output type hint and warns, once per transform, that
    # it ignores this one (not a PCollection); mypy still checks it.
    @no_annotations  # type: ignore[untyped-decorator]  # beam ships no type information
    def expand(self, pcoll: beam.PCollection) -> EmbedOutputs:
        inputs = pcoll | "ToEmbedInput" >> beam.ParDo(_ToEmbedInput(self.handler.kind)).with_outputs(
            DEAD_LETTER, main="inputs"
        )
        results, failures = inputs.inputs | "RunInference" >> RunInference(
            self.handler, inference_args=self.inference_args
        ).with_exception_handling()
        split = results | "SplitResults" >> beam.ParDo(_SplitResults()).with_outputs(DEAD_LETTER, main="embeddings")
        failed_batches = failures.failed_inferences | "ExplodeFailedBatches" >> beam.FlatMap(_explode_failed_batch)
        dead_letter = (inputs[DEAD_LETTER], split[DEAD_LETTER], failed_batches) | "DeadLetter" >> beam.Flatten()
        return EmbedOutputs(split.embeddings, dead_letter)


class EmbedImages(Embed):
    """Embed images: ``gs://`` URIs, local paths, bytes, :class:`~vertex_mm.Image` objects, or
    dicts ``{"id", "image", "metadata", ...}``. See :class:`Embed` for the arguments."""

    kind: Kind = "image"


class EmbedTexts(Embed):
    """Embed texts: strings, or dicts ``{"id", "text", "metadata", ...}``. See :class:`Embed`."""

    kind: Kind = "text"


class EmbedContents(Embed):
    """Embed contents (gemini-embedding-2's shape: ordered parts, one vector each): a part or a
    list of parts per element, or dicts ``{"id", "content": [...], "metadata", ...}``; pass
    ``task=`` (e.g. ``"retrieval_document"``) among the handler keywords. See :class:`Embed`."""

    kind: Kind = "content"
