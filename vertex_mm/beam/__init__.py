"""Apache Beam transforms for vertex-mm embedders: DirectRunner locally, Dataflow at scale.

Install with ``pip install "vertex-mm[beam]"`` (Apache Beam; add ``apache-beam[gcp]`` for
Dataflow, BigQuery and ``gs://`` I/O)::

    import apache_beam as beam
    from vertex_mm.beam import EmbedImages, WorkerQuota, WriteJsonl

    quota = WorkerQuota(quota_rpm=600, max_workers=20, processes_per_worker=4)
    with beam.Pipeline(options=options) as p:
        out = (p | beam.io.ReadFromText("gs://bucket/uris.txt")
                 | EmbedImages("vertex", embedder_options={"project": "p"}, quota=quota))
        out.embeddings | WriteJsonl("gs://bucket/run/embeddings")
        out.dead_letter | WriteJsonl("gs://bucket/run/dead_letter")

Every input ends in exactly one of ``out.embeddings`` and ``out.dead_letter``; see
:mod:`vertex_mm.beam.records` for both row shapes and :mod:`vertex_mm.beam.quota` for how
the project quota is shared among workers.

:mod:`.records`, :mod:`.quota`, :mod:`.schema` and :mod:`.vector_search` import without Beam;
the transforms, the model handler and the sinks need it, and importing them without it raises
:class:`~vertex_mm.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from .quota import WorkerQuota
from .records import DEAD_LETTER_FIELDS, EMBEDDING_FIELDS, EmbedInput, to_embed_input
from .schema import DEAD_LETTER_BIGQUERY_SCHEMA, EMBEDDINGS_BIGQUERY_SCHEMA, to_table_row
from .vector_search import RestrictsMapping, vector_search_record

__all__ = [
    "DEAD_LETTER_BIGQUERY_SCHEMA",
    "DEAD_LETTER_FIELDS",
    "EMBEDDINGS_BIGQUERY_SCHEMA",
    "EMBEDDING_FIELDS",
    "Embed",
    "EmbedContents",
    "EmbedImages",
    "EmbedInput",
    "EmbedOutputs",
    "EmbedTexts",
    "EmbedderModelHandler",
    "RestrictsMapping",
    "WorkerQuota",
    "WriteJsonl",
    "WriteParquet",
    "WriteToBigQueryTable",
    "WriteVectorSearch",
    "beam_available",
    "to_embed_input",
    "to_table_row",
    "vector_search_record",
]

# Names that need apache_beam: resolved on first access (PEP 562).
_LAZY = {
    "Embed": ".transforms",
    "EmbedContents": ".transforms",
    "EmbedImages": ".transforms",
    "EmbedOutputs": ".transforms",
    "EmbedTexts": ".transforms",
    "EmbedderModelHandler": ".handler",
    "WriteJsonl": ".sinks",
    "WriteParquet": ".sinks",
    "WriteToBigQueryTable": ".sinks",
    "WriteVectorSearch": ".sinks",
}

INSTALL_HINT = 'vertex_mm.beam needs Apache Beam: pip install "vertex-mm[beam]" (or apache-beam[gcp] for Dataflow)'


def beam_available() -> bool:
    """Whether ``apache_beam`` can be imported here."""
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        return False
    return True


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'vertex_mm.beam' has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name], __name__)
    except ImportError as exc:
        if not beam_available():
            from ..errors import MissingDependencyError

            raise MissingDependencyError(f"{INSTALL_HINT} ({exc})") from exc
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value
