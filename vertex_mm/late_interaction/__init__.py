"""Late interaction (ColBERT / ColPali MaxSim) scoring kernels over multi-vector pages.

* :func:`maxsim` — fused MaxSim of query token matrices against pages (float32 or bfloat16
  arithmetic; pages stored float32 or float16); :class:`ScreenedPages` — the exact float32
  top-k through a certified screen (16-bit integers on AVX2, bfloat16 with AMX or where native
  and the integer kernel does not run;
  :func:`screen_kind` says which runs here); ``device="cuda"`` and :func:`to_device` score on a GPU.
* :func:`pool_pages` — hierarchical token pooling (fewer vectors per page).
* :class:`BinaryPages`, :func:`hamming_maxsim`, :func:`two_stage_search` — 1-bit codes,
  Hamming-MaxSim candidates, full-precision rerank; :func:`hamming_kernel` says which compiled
  Hamming kernel runs here.
* :class:`PackedPages` — the page layout every kernel reads.

The persistent multi-vector index built on these is :class:`vertex_mm.index.MultiVectorIndex`.
Nothing here imports torch at import time; the float scorer imports it on first use.
"""

from __future__ import annotations

from ._kernel_choice import hamming_kernel
from .binary import BinaryPages, binarize, hamming_maxsim, two_stage_search
from .maxsim import DevicePages, maxsim, maxsim_reference, maxsim_topk, to_device, top_k
from .packed import PackedPages, pack_queries
from .pooling import pool_page, pool_pages
from .screened import ScreenedPages, screen_kind

__all__ = [
    "BinaryPages",
    "DevicePages",
    "PackedPages",
    "ScreenedPages",
    "binarize",
    "hamming_kernel",
    "hamming_maxsim",
    "maxsim",
    "maxsim_reference",
    "maxsim_topk",
    "pack_queries",
    "pool_page",
    "pool_pages",
    "screen_kind",
    "to_device",
    "top_k",
    "two_stage_search",
]
