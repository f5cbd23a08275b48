"""Resumable embedding jobs: sources (folder, list file, ``gs://``) and an append-only journal
with Parquet export. The ``vertex-mm embed`` command runs them. (The on-disk embedding cache
is a batch option and lives in :mod:`vertex_mm.batch.cache`; it is re-exported here.)"""

from ..batch.cache import EmbeddingCache
from .job import JobReport, job_paths, run_job
from .sources import IMAGE_EXTENSIONS, SourceItem, iter_source, load_item
from .writer import ErrorLog, Journal, export_parquet, read_journal

__all__ = [
    "EmbeddingCache",
    "ErrorLog",
    "IMAGE_EXTENSIONS",
    "JobReport",
    "Journal",
    "SourceItem",
    "export_parquet",
    "iter_source",
    "job_paths",
    "load_item",
    "read_journal",
    "run_job",
]
