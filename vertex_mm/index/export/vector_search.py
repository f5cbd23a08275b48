"""Scale out to Vertex AI Vector Search: batch files for a GCS batch root, and streaming updates.

Batch (build or rebuild a Vector Search index from files)::

    export_batch(index, "batch_root/")                 # batch_root/vectors-00000-of-00001.json …
    # gcloud storage cp -r batch_root gs://BUCKET/photos/v1
    # then create or update the index with contentsDeltaUri=gs://BUCKET/photos/v1

Each ``.json`` file holds JSON Lines records in Vector Search's input format::

    {"id": "cat.jpg", "embedding": [...], "restricts": [{"namespace": "tag", "allow": ["pet"]}],
     "numeric_restricts": [{"namespace": "year", "value_int": 2020}], "crowding_tag": "album-1",
     "embedding_metadata": {...}}

Files sit directly under the batch root (at most 5,000 of them, as Vector Search requires);
ids to remove go to ``batch_root/delete/``, one per line.

Streaming (an index created with ``index_update_method="STREAM_UPDATE"``)::

    from google.cloud import aiplatform
    me_index = aiplatform.MatchingEngineIndex("projects/…/indexes/123")
    stream_upsert(me_index, index)                    # upsert_datapoints in batches
    stream_remove(me_index, ["old.jpg"])              # remove_datapoints

Metadata becomes restricts by :class:`RestrictsMapping`: by default string and list-of-string
values become token restricts (``allow``), numbers become numeric restricts, and the whole
metadata travels as ``embedding_metadata``. Local :class:`~vertex_mm.index.Filter` queries
mean the same thing against these restricts.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ..base import BaseIndex
from ._output import check_row_text, new_folder, utf8_text

__all__ = [
    "MAX_BATCH_FILES",
    "RestrictsMapping",
    "export_batch",
    "iter_batch_records",
    "stream_remove",
    "stream_upsert",
    "to_datapoint",
    "to_record",
]

MAX_BATCH_FILES = 5000  # Vector Search reads at most this many files from a batch root
DEFAULT_SHARD_ROWS = 100_000
DEFAULT_STREAM_BATCH = 100


@dataclass(frozen=True)
class RestrictsMapping:
    """How row metadata becomes Vector Search restricts.

    ``token_keys`` / ``numeric_keys``: the metadata keys to turn into token / numeric restricts
    (``None``: every key whose value is a string or a list of strings / a number).
    ``deny_keys`` maps a namespace to the metadata key holding that row's deny tokens.
    ``crowding_key`` names the key whose value is the crowding tag. ``embedding_metadata``
    sends the whole metadata along (returned with each neighbour by Vector Search).
    """

    token_keys: Sequence[str] | None = None
    numeric_keys: Sequence[str] | None = None
    deny_keys: Mapping[str, str] | None = None
    crowding_key: str | None = None
    embedding_metadata: bool = True

    def restricts(self, metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
        deny_sources = set((self.deny_keys or {}).values())
        keys = self.token_keys if self.token_keys is not None else [
            k for k, v in metadata.items()
            if k not in deny_sources and k != self.crowding_key and _is_tokens(v)
        ]
        out = []
        for ns in keys:
            if ns not in metadata:
                continue
            entry: dict[str, Any] = {"namespace": ns, "allow": _tokens(metadata[ns])}
            deny_key = (self.deny_keys or {}).get(ns)
            if deny_key and deny_key in metadata:
                entry["deny"] = _tokens(metadata[deny_key])
            out.append(entry)
        return out

    def numeric_restricts(self, metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
        keys = self.numeric_keys if self.numeric_keys is not None else [
            k for k, v in metadata.items() if _is_number(v)]
        out = []
        for ns in keys:
            v = metadata.get(ns)
            if not isinstance(v, (int, float)) or not _is_number(v):
                continue
            # Floats as 64-bit doubles: the Filter's query side sends value_double too.
            out.append({"namespace": ns, "value_int": int(v)} if isinstance(v, int)
                       else {"namespace": ns, "value_double": float(v)})
        return out

    def crowding_tag(self, metadata: Mapping[str, Any]) -> str | None:
        if self.crowding_key is None or metadata.get(self.crowding_key) is None:
            return None
        return str(metadata[self.crowding_key])


def to_record(id_: str, vector: np.ndarray, metadata: Mapping[str, Any],
              mapping: RestrictsMapping = RestrictsMapping()) -> dict[str, Any]:
    """One Vector Search JSON input record (the ``embedding`` as Python floats)."""
    check_row_text(id_, metadata, "Vector Search")
    record: dict[str, Any] = {"id": id_, "embedding": [float(x) for x in np.asarray(vector, dtype=np.float32)]}
    restricts = mapping.restricts(metadata)
    if restricts:
        record["restricts"] = restricts
    numeric = mapping.numeric_restricts(metadata)
    if numeric:
        record["numeric_restricts"] = numeric
    crowding = mapping.crowding_tag(metadata)
    if crowding is not None:
        record["crowding_tag"] = crowding
    if mapping.embedding_metadata and metadata:
        record["embedding_metadata"] = dict(metadata)
    return record


def to_datapoint(id_: str, vector: np.ndarray, metadata: Mapping[str, Any],
                 mapping: RestrictsMapping = RestrictsMapping()) -> Any:
    """The same record as the ``IndexDatapoint`` message ``upsert_datapoints`` takes."""
    from google.cloud.aiplatform.compat.types import index as gca_index  # type: ignore[attr-defined]  # set at import by compat

    dp = gca_index.IndexDatapoint
    rec = to_record(id_, vector, metadata, mapping)
    return dp(
        datapoint_id=rec["id"],
        feature_vector=rec["embedding"],
        restricts=[dp.Restriction(namespace=r["namespace"], allow_list=r["allow"], deny_list=r.get("deny", []))
                   for r in rec.get("restricts", [])],
        numeric_restricts=[dp.NumericRestriction(**r) for r in rec.get("numeric_restricts", [])],
        crowding_tag=dp.CrowdingTag(crowding_attribute=rec["crowding_tag"]) if "crowding_tag" in rec else None,
        embedding_metadata=rec.get("embedding_metadata"),
    )


def export_batch(
    index: BaseIndex,
    batch_root: str | os.PathLike[str],
    *,
    mapping: RestrictsMapping = RestrictsMapping(),
    shard_rows: int = DEFAULT_SHARD_ROWS,
    delete_ids: Iterable[str] = (),
) -> list[Path]:
    """Write every row of ``index`` as Vector Search batch input under ``batch_root``.

    Rows are split into files of at most ``shard_rows`` records (more rows per file if 5,000
    files would not hold them). ``delete_ids`` go to ``batch_root/delete/ids.txt``. Returns the
    files written. The folder must be new or empty, since Vector Search reads every file in it.
    """
    root = Path(batch_root)
    deletes = [str(i) for i in delete_ids]
    for i in deletes:  # checked before anything is written: the delete file holds one id per line
        if not i or "\n" in i or "\r" in i:
            raise InputError(f"delete id {i!r} is empty or holds a line break; ids.txt holds one id per line",
                             input_name="delete_ids")
        utf8_text(i, f"delete id {i!r}", "Vector Search")
    overlap = {i for i in deletes if i in index}
    if overlap:
        raise InputError(f"ids cannot be both written and deleted in one batch: {sorted(overlap)[:3]}",
                         input_name="delete_ids")
    n = len(index)
    per_file = max(1, shard_rows, math.ceil(n / MAX_BATCH_FILES))
    n_files = max(1, math.ceil(n / per_file))
    names = [f"vectors-{f:05d}-of-{n_files:05d}.json" for f in range(n_files)]
    with new_folder(root, "Vector Search would read every file in it") as tmp:
        written = 0
        out = open(tmp / names[0], "w", encoding="utf-8")
        try:
            for ids, vecs, metas in index.iter_rows(min(per_file, 4096)):
                for id_, vec, meta in zip(ids, vecs, metas):
                    if written and written % per_file == 0:
                        out.close()
                        out = open(tmp / names[written // per_file], "w", encoding="utf-8")
                    out.write(json.dumps(to_record(id_, vec, meta, mapping), ensure_ascii=False, separators=(",", ":")) + "\n")
                    written += 1
        finally:
            out.close()
        if deletes:
            (tmp / "delete").mkdir()
            (tmp / "delete" / "ids.txt").write_text("".join(f"{i}\n" for i in deletes), encoding="utf-8")
            names.append("delete/ids.txt")
    return [root / name for name in names]


def iter_batch_records(batch_root: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Read back the records of a batch root's ``.json`` files (not ``delete/``)."""
    for path in sorted(Path(batch_root).glob("*.json")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def stream_upsert(
    me_index: Any,
    index: BaseIndex,
    ids: Sequence[str] | None = None,
    *,
    mapping: RestrictsMapping = RestrictsMapping(),
    batch_size: int = DEFAULT_STREAM_BATCH,
) -> int:
    """Upsert rows (``ids``, default all) into a stream-updated Vector Search index through
    ``me_index.upsert_datapoints`` (an ``aiplatform.MatchingEngineIndex``), ``batch_size``
    datapoints per request. Returns how many were sent."""
    _check_space(me_index, index)
    sent = 0
    if ids is None:
        batches: Iterable[tuple[list[str], np.ndarray, list[dict[str, Any]]]] = index.iter_rows(batch_size)
    else:
        chosen = list(ids)
        batches = (
            (chunk, np.concatenate([np.asarray(index.vector(i)) for i in chunk]), [index.metadata(i) for i in chunk])
            for chunk in (chosen[s : s + batch_size] for s in range(0, len(chosen), batch_size))
        )
    for chunk_ids, vecs, metas in batches:
        datapoints = [to_datapoint(i, v, m, mapping) for i, v, m in zip(chunk_ids, vecs, metas)]
        me_index.upsert_datapoints(datapoints=datapoints)
        sent += len(datapoints)
    return sent


def stream_remove(me_index: Any, ids: Sequence[str], *, batch_size: int = 1000) -> int:
    """Remove datapoints by id through ``me_index.remove_datapoints``. Returns how many."""
    ids = [str(i) for i in ids]
    for start in range(0, len(ids), batch_size):
        me_index.remove_datapoints(datapoint_ids=ids[start : start + batch_size])
    return len(ids)


def _check_space(me_index: Any, index: BaseIndex) -> None:
    """Refuse to send vectors of the wrong length: the service would reject every one."""
    meta = getattr(getattr(me_index, "_gca_resource", None), "metadata", None)
    try:
        dims = int(meta["config"]["dimensions"]) if meta is not None else None
    except (KeyError, TypeError, ValueError):
        dims = None
    if dims is not None and dims != index.dimension:
        from ...errors import EmbeddingSpaceMismatchError

        raise EmbeddingSpaceMismatchError(
            f"the Vector Search index holds {dims}-d vectors but this index is {index.space.id} "
            f"({index.dimension}-d)")


def _is_tokens(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, str) for x in v))


def _is_number(v: Any) -> bool:
    """A value a numeric restrict can hold: a finite float, or an int within ``value_int``'s
    64 bits (a larger one travels in ``embedding_metadata`` only; protobuf refused it)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return -(2**63) <= v < 2**63 if isinstance(v, int) else math.isfinite(v)


def _tokens(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else [str(x) for x in v]
