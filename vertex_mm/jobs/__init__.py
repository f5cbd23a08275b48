"""Resumable embedding jobs: sources (folder, list file, ``gs://``) and an append-only journal
with Parquet export, run online (:func:`run_job`) or as Vertex AI batch prediction jobs of
gemini-embedding-2 (:func:`run_batch_job`). The ``vertex-mm embed`` command runs them. (The
on-disk embedding cache is a batch option and lives in :mod:`vertex_mm.batch.cache`; it is
re-exported here.)"""

from ..batch.cache import EmbeddingCache
from .batch_errors import BatchJobError, BatchJobFailedError, BatchJobPausedError, BatchJobRefusedError, BatchJobStateError
from .batch_prediction import BatchJobReport, run_batch_job
from .contents import CONTENT_EXTENSIONS, content_extensions_for, load_content
from .errors_file import ErrorLog
from .estimate import estimate_source
from .job import JobReport, job_paths, run_job
from .journal_lock import JournalError, JournalLockedError
from .journal_space import JournalSpaceError
from .mode import choose_mode
from .resume import ResumeSet
from .sources import IMAGE_EXTENSIONS, SourceItem, image_extensions_for, iter_source, load_item
from .writer import Journal, JournalLineError, export_parquet, parse_record, read_journal

__all__ = [
    "CONTENT_EXTENSIONS",
    "BatchJobError",
    "BatchJobFailedError",
    "BatchJobPausedError",
    "BatchJobRefusedError",
    "BatchJobReport",
    "BatchJobStateError",
    "EmbeddingCache",
    "ErrorLog",
    "IMAGE_EXTENSIONS",
    "JobReport",
    "Journal",
    "JournalError",
    "JournalLineError",
    "JournalLockedError",
    "JournalSpaceError",
    "ResumeSet",
    "SourceItem",
    "choose_mode",
    "content_extensions_for",
    "estimate_source",
    "export_parquet",
    "image_extensions_for",
    "iter_source",
    "job_paths",
    "load_content",
    "load_item",
    "parse_record",
    "read_journal",
    "run_batch_job",
    "run_job",
]
