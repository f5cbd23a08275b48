"""The input of a batch prediction job: JSONL lines written to a local file, then staged to
``gs://``.

Limits: "Each batch job supports up to 1,000,000 rows and an input file size of up to 1 GB"
("Get batch embeddings inferences"), and batch inference for Gemini models "accepts one JSON
Lines (JSONL) file stored in Cloud Storage as input data" ("Batch inference from Cloud
Storage"). So a job has one ``input.jsonl`` of at most :data:`MAX_INPUT_FILE_BYTES` and
:data:`MAX_ROWS_PER_JOB` rows; the caller runs the rest as the next job (inline media are
hundreds of KB a row, so the bytes are usually the bound, not the rows).

The files are named after the SHA-256 of their content (with the model and task), so the same
input staged twice lands on the same objects, and objects already there with the same MD5 are
not uploaded again. The job's display name adds a nonce of each preparation (saved in the state
file before the job is created): a killed client finds its own job by it, and a later run of
the same input submits a new one.
"""

from __future__ import annotations

import base64
import hashlib
import pathlib
import time
from collections.abc import Callable
from typing import IO, Any

from .._jsonl import json_line
from ..errors import VertexMMError
from ..gcs import ObjectNotFoundError, join_gs, split_gs_uri, storage_error

__all__ = ["MAX_INPUT_FILE_BYTES", "MAX_ROWS_PER_JOB", "StagedInput", "display_name_for"]

MAX_INPUT_FILE_BYTES = 1_000_000_000
MAX_ROWS_PER_JOB = 1_000_000
_DIGEST_CHARS = 20
#: Tries of one staging upload on a retryable Cloud Storage error.
UPLOAD_ATTEMPTS = 4


def display_name_for(digest: str, nonce: str) -> str:
    """The job's display name: the staged input's digest and a nonce of this preparation. The
    state file holds it before the job is created, so a client killed in between lists its job
    by it; the nonce keeps a later run of the same input (after a cancelled job, or an output a
    lifecycle rule deleted) from adopting the old, ended job instead of submitting a new one."""
    return f"vertex-mm-{digest[:_DIGEST_CHARS]}-{nonce}"


class StagedInput:
    """Input lines of one job, written to one local file as they come (``input.jsonl``, staged as
    one object: the service takes one JSONL file of at most 1 GB per job)."""

    def __init__(self, folder: pathlib.Path, *, model: str, task: str | None,
                 max_file_bytes: int = MAX_INPUT_FILE_BYTES) -> None:
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.path = folder / "input.jsonl"
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._file: IO[bytes] | None = None
        self._hash = hashlib.sha256(f"{model}\0{task or ''}\0".encode())
        self.rows = 0
        self.bytes = 0

    @property
    def files(self) -> list[pathlib.Path]:
        """The job's input file (none before the first line)."""
        return [self.path] if self.rows else []

    def add(self, line: dict[str, Any]) -> bool:
        """Append ``line``; False (nothing written) when it would take the file over
        ``max_file_bytes``: the line belongs to the next job. A first line is always taken."""
        data = json_line(line, separators=(",", ":")).encode() + b"\n"
        if self.rows and self.bytes + len(data) > self.max_file_bytes:
            return False
        if self._file is None:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(data)
        self._md5.update(data)
        self._hash.update(data)
        self.rows += 1
        self.bytes += len(data)
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()

    def prefix(self, staging: str) -> str:
        """Where this input goes: ``{staging}/{digest[:20]}``."""
        return join_gs(staging, self.digest[:_DIGEST_CHARS])

    def upload(self, client: Any, staging: str, *, retries: int = UPLOAD_ATTEMPTS,
               sleep: Callable[[float], None] = time.sleep) -> list[str]:
        """Stage every file under :meth:`prefix`; returns their ``gs://`` URIs in order. Cloud
        Storage errors are :mod:`vertex_mm.errors` errors naming the URI; a retryable one (429,
        5xx, no answer) is tried again, since an object named by its content can be written twice
        (google-cloud-storage does not retry an upload without a generation precondition)."""
        self.close()
        uris = []
        for path in self.files:
            uri = join_gs(self.prefix(staging), path.name)
            for attempt in range(retries):
                try:
                    self._upload_one(client, uri, path, base64.b64encode(self._md5.digest()).decode())
                    break
                except Exception as exc:
                    error = _upload_error(exc, uri)
                    if not error.retryable or attempt == retries - 1:
                        raise error from exc
                    sleep(min(30.0, 2.0 ** attempt))
            uris.append(uri)
        return uris

    @staticmethod
    def _upload_one(client: Any, uri: str, path: pathlib.Path, md5: str) -> None:
        bucket, name = split_gs_uri(uri)
        blob = client.bucket(bucket).get_blob(name)
        # A resumed run may find the object a killed run uploaded: keep it if it is whole.
        if blob is None or blob.md5_hash != md5:
            with open(path, "rb") as f:
                client.bucket(bucket).blob(name).upload_from_file(f, content_type="application/jsonl")


def _upload_error(exc: Exception, uri: str) -> VertexMMError:
    """``exc`` of a staging upload as a typed error (re-raised as itself when it is none)."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.NotFound):  # writing an object: only the bucket can be missing
        bucket = split_gs_uri(uri)[0]
        return ObjectNotFoundError(f"gs://{bucket}: the staging bucket does not exist (staging {uri}: {exc})",
                                   input_name=uri)
    mapped = storage_error(exc, uri, what="writing")
    if mapped is None:
        raise exc
    return mapped
