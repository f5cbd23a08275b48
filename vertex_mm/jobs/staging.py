"""The input of a batch prediction job: JSONL lines written to local files, then staged to
``gs://``.

Limits ("Get batch embeddings inferences"): "Each batch job supports up to 1,000,000 rows and an
input file size of up to 1 GB". Lines go to ``input-00000.jsonl``, ``input-00001.jsonl``, … each
kept under :data:`MAX_INPUT_FILE_BYTES`; one job takes at most :data:`MAX_ROWS_PER_JOB` rows (the
caller runs the rest as the next job). The page can also be read as 1 GB for the whole job;
:data:`MAX_INPUT_FILE_BYTES` is then the knob to lower.

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
from typing import IO, Any

from .._jsonl import json_line
from ..gcs import join_gs, split_gs_uri

__all__ = ["MAX_INPUT_FILE_BYTES", "MAX_ROWS_PER_JOB", "StagedInput", "display_name_for"]

MAX_INPUT_FILE_BYTES = 1_000_000_000
MAX_ROWS_PER_JOB = 1_000_000
_DIGEST_CHARS = 20


def display_name_for(digest: str, nonce: str) -> str:
    """The job's display name: the staged input's digest and a nonce of this preparation. The
    state file holds it before the job is created, so a client killed in between lists its job
    by it; the nonce keeps a later run of the same input (after a cancelled job, or an output a
    lifecycle rule deleted) from adopting the old, ended job instead of submitting a new one."""
    return f"vertex-mm-{digest[:_DIGEST_CHARS]}-{nonce}"


class StagedInput:
    """Input lines of one job, written to files in ``folder`` as they come."""

    def __init__(self, folder: pathlib.Path, *, model: str, task: str | None,
                 max_file_bytes: int = MAX_INPUT_FILE_BYTES) -> None:
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.files: list[pathlib.Path] = []
        self._md5: list[Any] = []
        self._file: IO[bytes] | None = None
        self._file_bytes = 0
        self._hash = hashlib.sha256(f"{model}\0{task or ''}\0".encode())
        self.rows = 0
        self.bytes = 0

    def add(self, line: dict[str, Any]) -> None:
        data = json_line(line, separators=(",", ":")).encode() + b"\n"
        if self._file is None or (self._file_bytes and self._file_bytes + len(data) > self.max_file_bytes):
            self._next_file()
        assert self._file is not None
        self._file.write(data)
        self._md5[-1].update(data)
        self._hash.update(data)
        self._file_bytes += len(data)
        self.rows += 1
        self.bytes += len(data)

    def _next_file(self) -> None:
        self.close()
        path = self.folder / f"input-{len(self.files):05d}.jsonl"
        self.files.append(path)
        self._md5.append(hashlib.md5(usedforsecurity=False))
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._file_bytes = 0

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

    def upload(self, client: Any, staging: str) -> list[str]:
        """Stage every file under :meth:`prefix`; returns their ``gs://`` URIs in order."""
        self.close()
        uris = []
        for path, md5 in zip(self.files, self._md5):
            uri = join_gs(self.prefix(staging), path.name)
            bucket, name = split_gs_uri(uri)
            blob = client.bucket(bucket).get_blob(name)
            # A resumed run may find the object a killed run uploaded: keep it if it is whole.
            if blob is None or blob.md5_hash != base64.b64encode(md5.digest()).decode():
                with open(path, "rb") as f:
                    client.bucket(bucket).blob(name).upload_from_file(f, content_type="application/jsonl")
            uris.append(uri)
        return uris
