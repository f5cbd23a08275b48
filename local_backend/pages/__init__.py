"""Offline multi-vector page embedders (see :mod:`.regions`)."""

from __future__ import annotations

from .regions import RegionConSEEmbedder, page_tiles, query_terms

__all__ = ["RegionConSEEmbedder", "page_tiles", "query_terms"]
