"""``OUT.job.json``: what a client needs to re-attach to its batch prediction job.

Written atomically (a temporary file, fsync, rename) in two steps:

1. after the input is staged and **before** the job is created, with ``job_name`` null;
2. right after the create call answered, with the job's ``name``.

A client killed between the two finds ``job_name`` null on its next run and looks the job up
by its ``display_name`` (``vertex-mm-`` + the digest of the staged input + a nonce of that
preparation) before creating one, so one input is never submitted twice by one preparation, and
a later preparation of the same input (after a cancelled job) submits a job of its own. The
file is removed once every output line is in the journal. Format (version 1)::

    {"version": 1, "source": str, "output": str, "model": str, "space": str, "dimension": int,
     "task": str | null, "digest": str, "display_name": str, "staged_inputs": [gs://…],
     "output_prefix": gs://…, "job_name": str | null, "rows": int, "more": bool,
     "items": {key: content_hash},            # what the job embeds, by its key (the input id)
     "local_errors": [{"id", "error", "message", "retryable"}],   # refused before staging
     "key_ids": {key: id}}                    # ids that are not UTF-8, sent escaped (optional)
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import asdict, dataclass, field
from typing import Any

from .._jsonl import json_line
from ..limits.models import canonical_model
from .batch_errors import BatchJobStateError
from .journal_space import canonical_space_id

__all__ = ["STATE_VERSION", "JobState", "state_path"]

STATE_VERSION = 1


def state_path(out: pathlib.Path) -> pathlib.Path:
    return out.with_name(out.name + ".job.json")


@dataclass
class JobState:
    source: str
    output: str
    model: str
    space: str
    dimension: int
    task: str | None
    digest: str
    display_name: str
    staged_inputs: list[str]
    output_prefix: str
    rows: int
    more: bool = False
    job_name: str | None = None
    items: dict[str, str] = field(default_factory=dict)
    local_errors: list[dict[str, Any]] = field(default_factory=list)
    version: int = STATE_VERSION
    #: key -> input id, for the ids UTF-8 cannot hold (a Latin-1 file name): the service is sent
    #: an escaped key, and its output rows are written under the input's own id.
    key_ids: dict[str, str] = field(default_factory=dict)

    def item_id(self, key: str) -> str:
        """The input id of a key of :attr:`items` (the key itself, unless it was escaped)."""
        return self.key_ids.get(key, key)

    def save(self, path: pathlib.Path) -> None:
        """Replace ``path`` atomically: a reader sees the old file or the new one, never a part."""
        tmp = path.with_name(path.name + ".tmp")
        data = json_line(asdict(self), separators=(",", ":")).encode()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    @classmethod
    def load(cls, path: pathlib.Path) -> "JobState | None":
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_bytes())
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"version {raw.get('version')!r}, expected {STATE_VERSION}")
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise BatchJobStateError(f"{path}: not a readable batch job state file ({exc}); if no job of it is "
                                     "running any more, delete it and run again") from exc

    def check_matches(self, *, path: pathlib.Path, model: str, space: str) -> None:
        """Refuse to re-attach a job made for another model or space (dimension, task). Names
        are compared by their canonical ids: a state written under another name of the same
        model (the alias ``multimodalembedding``, a resource path) belongs to this run."""
        if ((canonical_model(self.model), canonical_space_id(self.space))
                != (canonical_model(model), canonical_space_id(space))):
            raise BatchJobStateError(
                f"{path} belongs to a job for {self.model} in space {self.space!r}, but this run asks for {model} in "
                f"{space!r}: run it with the same flags (or let that job finish), or delete the file to start over")


def _fsync_dir(folder: pathlib.Path) -> None:
    # The rename itself must reach the disk, or a power cut could bring the old file back.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
