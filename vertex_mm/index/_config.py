"""The settings of a vector index (:class:`IndexConfig`), saved in its manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..results import EmbeddingSpace

__all__ = ["IndexConfig"]

#: FAISS settings above this are typos (HNSW M, ef, IVF lists and probes).
_MAX_FAISS_SETTING = 1 << 20


@dataclass(frozen=True)
class IndexConfig:
    """Settings of an index; saved in its manifest. Only ``space`` matters for exact search.

    FAISS settings: ``faiss_kind`` is ``"hnsw"`` (graph; no training, good recall) or
    ``"ivf"`` (inverted lists; trained on the data, lower memory traffic per query).
    """

    space: EmbeddingSpace
    faiss_kind: str = "hnsw"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    ivf_nlist: int | None = None  # None: about 4 * sqrt(rows)
    ivf_nprobe: int = 16

    def __post_init__(self) -> None:
        if self.faiss_kind not in ("hnsw", "ivf"):
            raise ValueError(f"faiss_kind must be 'hnsw' or 'ivf', got {self.faiss_kind!r}")
        # FAISS asserts (aborting the process) or hangs on these out of range; an edited
        # manifest reads back through here too (IndexCorruptedError then).
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe", "ivf_nlist"):
            value = getattr(self, name)
            if value is None and name == "ivf_nlist":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_FAISS_SETTING:
                raise ValueError(f"{name} must be an integer from 1 to {_MAX_FAISS_SETTING:,}, got {value!r}")

    def options(self) -> dict[str, Any]:
        """Everything but the space (which the manifest stores on its own)."""
        d = asdict(self)
        d.pop("space")
        return d

    @classmethod
    def from_options(cls, space: EmbeddingSpace, options: Mapping[str, Any]) -> "IndexConfig":
        known = {f.name for f in fields(cls)} - {"space"}
        return cls(space=space, **{k: v for k, v in options.items() if k in known})
