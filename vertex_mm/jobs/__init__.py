"""Resumable embedding jobs: sources (folder, list file, ``gs://``), an append-only journal with
Parquet export, and an on-disk embedding cache. The ``vertex-mm embed`` command runs them."""

from .cache import EmbeddingCache
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
