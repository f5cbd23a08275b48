"""MUVERA fixed-dimensional encodings: a multi-vector page as ONE vector for any single-vector index.

Dhulipala, Hadian, Jayaram, Lee and Mirrokni, "MUVERA: Multi-Vector Retrieval via Fixed
Dimensional Encodings" (Google Research, NeurIPS 2024, arXiv:2405.19504). A query's and a
page's token sets each become one fixed-length vector, the FDE, whose inner product
approximates MaxSim (Chamfer similarity). Candidates then come from any engine that searches
single vectors by inner product (our :class:`~vertex_mm.index.FlatIndex`, FAISS, Vertex AI
Vector Search, BigQuery), and exact MaxSim reranks them
(:meth:`vertex_mm.index.MultiVectorIndex.search` with ``mode="muvera"``).

How one FDE is built (:class:`MuveraConfig` names each knob):

* **Partitions** (``k_sim``): in each repetition, ``k_sim`` random Gaussian hyperplanes (SimHash)
  cut the token space into ``2**k_sim`` partitions; a token falls into the partition named by
  the signs of its ``k_sim`` projections.
* **Inner projection** (``d_proj``): each token is mapped to ``d_proj`` coordinates by a random
  ``±1`` matrix scaled by ``1/sqrt(d_proj)`` (the paper's AMS sketch ψ); ``d_proj=None`` keeps
  the token as it is (identity, ``d_proj = dimension``).
* **Asymmetric aggregation**: a *query*'s block for a partition is the **sum** of its projected
  tokens there; a *page*'s block is their **average** (the centroid), so the inner product of
  the two is, per query token, its dot product with the centroid of the page tokens that share
  its partition: close to the best match when partitions are fine enough.
* **Empty partitions** (``fill_empty``, pages only, off by default): a page partition with no
  token takes the projected token whose SimHash bits differ from the partition's in the fewest
  places, so a query token landing there still meets its page's nearest token by Hamming
  distance. Off, an empty partition stays zero. On pages whose vectors crowd into a narrow
  cone (the offline ``regions`` model: a mean token of norm 0.88) most partitions of a page
  are empty, every page's filled blocks look alike, and the fill erased all agreement with
  MaxSim (Spearman -0.01 on the page fixture, 0.66 without it); on the synthetic benchmark
  pages it changed nothing.
* **Repetitions** (``repetitions``): independent draws of hyperplanes and projections,
  concatenated; more repetitions, lower variance. Length ``repetitions * 2**k_sim * d_proj``.
* **Final projection** (``d_final``): optionally, a Count Sketch (each coordinate added with a
  random sign into one of ``d_final`` buckets) shortens the FDE to ``d_final``.

All random matrices come from ``seed``: one config encodes queries and pages alike across
processes and machines (numpy's PCG64 streams are stable), the same up to float32 rounding of
the projected values; the partitions are decided in float64, so a token changes partition only
on a float64-sized tie with a hyperplane, not with the BLAS threads or the other queries of a batch. The construction follows the
paper and Google's reference implementation (``google/graph-mining``,
``sketching/point_cloud/fixed_dimensional_encoding.cc``) in every step, with two differences
that change no expectation: partitions are numbered by their plain sign bits (the reference
uses a Gray code: the same partitions in another order), and the inner projection is the
paper's dense ``±1/sqrt(d_proj)`` matrix (the reference draws one signed entry per input row).
Encodings are therefore not bit-identical to the C++ ones; their inner products estimate the
same quantity.

Everything is numpy: pages are encoded a chunk of token rows at a time (one matrix product
for all hyperplanes and projections of all repetitions, then segmented sums by ``bincount``),
so float16 memory maps of a whole index stream through in bounded memory.

>>> enc = MuveraEncoder(MuveraConfig(dimension=128))                       # doctest: +SKIP
>>> docs = enc.encode_documents(pages)        # (pages, enc.fde_dim)        # doctest: +SKIP
>>> qs = enc.encode_queries(query_vectors)    # (queries, enc.fde_dim)      # doctest: +SKIP
>>> candidates = np.argsort(-(qs @ docs.T), axis=1)[:, :200]                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import InputError
from .packed import PackedPages, as_packed, pack_queries

__all__ = ["DEFAULT_CHUNK_TOKENS", "MuveraConfig", "MuveraEncoder", "cosine_documents", "cosine_queries"]

#: Token rows encoded per step: bounds the working memory (the projected rows of one chunk are
#: ``chunk x repetitions x (k_sim + d_proj)`` float32: 100 MiB at the defaults).
DEFAULT_CHUNK_TOKENS = 65536
_MAX_KSIM = 16  # 65,536 partitions per repetition: already far past any useful setting


@dataclass(frozen=True)
class MuveraConfig:
    """The parameters of a fixed-dimensional encoding (see the module docstring).

    ``dimension``: length of the token vectors. ``k_sim``: SimHash hyperplanes per repetition
    (``2**k_sim`` partitions). ``repetitions``: independent repetitions, concatenated.
    ``d_proj``: coordinates per partition block after the random ``±1`` projection (``None``:
    identity, the token's own ``dimension`` coordinates). ``d_final``: length after the final
    Count Sketch (``None``: no final projection). ``fill_empty``: fill a page's empty partitions
    from its Hamming-nearest token (default off: see the module docstring). ``seed``: every
    random draw derives from it.

    The defaults (``k_sim=4, repetitions=20, d_proj=16``: 5,120 dimensions) were chosen with
    ``benchmarks/bench_muvera.py --tune`` on synthetic ColPali-shaped pages (100-1,030 tokens of
    128-d): on the tuning seed they found as much of the exact top-10 as ``k_sim=5`` (10,240
    dimensions, the paper's retrieval setting) at half the length, and more than
    ``repetitions=10`` or a final projection to 2,048. ``fill_empty`` made no difference there;
    it is off because on the real page fixture it removed all signal (module docstring).
    """

    dimension: int
    k_sim: int = 4
    repetitions: int = 20
    d_proj: int | None = 16
    d_final: int | None = None
    fill_empty: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        def positive(name: str, value: Any, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"MUVERA {name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}",
                                 input_name=name)

        positive("dimension", self.dimension)
        positive("repetitions", self.repetitions)
        positive("d_proj", self.d_proj, allow_none=True)
        positive("d_final", self.d_final, allow_none=True)
        if isinstance(self.k_sim, bool) or not isinstance(self.k_sim, (int, np.integer)) or not 0 <= self.k_sim <= _MAX_KSIM:
            raise InputError(f"MUVERA k_sim must be an integer in [0, {_MAX_KSIM}], got {self.k_sim!r}", input_name="k_sim")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InputError(f"MUVERA seed must be a non-negative integer, got {self.seed!r}", input_name="seed")

    @property
    def partitions(self) -> int:
        """Partitions per repetition: ``2**k_sim``."""
        return 1 << self.k_sim

    @property
    def block_dim(self) -> int:
        """Coordinates per partition block: ``d_proj``, or ``dimension`` for the identity."""
        return self.d_proj if self.d_proj is not None else self.dimension

    @property
    def raw_dim(self) -> int:
        """Length before the final projection: ``repetitions * partitions * block_dim``."""
        return self.repetitions * self.partitions * self.block_dim

    @property
    def fde_dim(self) -> int:
        """Length of an encoding."""
        return self.d_final if self.d_final is not None else self.raw_dim

    def tag(self) -> str:
        """A short stable name of the settings, e.g. ``muvera-k4r20p16s0`` (used in space ids)."""
        proj = "id" if self.d_proj is None else str(self.d_proj)
        final = "" if self.d_final is None else f"f{self.d_final}"
        fill = "e" if self.fill_empty else ""
        return f"muvera-k{self.k_sim}r{self.repetitions}p{proj}{final}{fill}s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {k: (int(v) if isinstance(v, np.integer) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MuveraConfig:
        """The inverse of :meth:`to_dict`; unknown keys are refused (a newer writer's setting
        this version would silently ignore)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown MUVERA settings {sorted(unknown)}", input_name="muvera")
        return cls(**dict(data))


class MuveraEncoder:
    """Encodes queries (sums) and pages (averages; empty partitions filled with ``fill_empty``).

    The random matrices are drawn once, at construction, from ``config.seed``.
    """

    def __init__(self, config: MuveraConfig) -> None:
        self.config = config
        c = config
        d, r, k = c.dimension, c.repetitions, c.k_sim
        root = np.random.SeedSequence(c.seed)
        simhash_seq, proj_seq, final_seq = root.spawn(3)
        # One (d, R*k [+ R*d_proj]) matrix: a single product gives every hyperplane side and
        # every projected coordinate of every repetition.
        parts = [np.random.default_rng(simhash_seq).standard_normal((d, r * k), dtype=np.float32)]
        if c.d_proj is not None:
            signs = np.random.default_rng(proj_seq).integers(0, 2, size=(d, r * c.d_proj), dtype=np.int8)
            parts.append((2 * signs.astype(np.float32) - 1) / np.float32(np.sqrt(c.d_proj)))
        self._matrix = np.ascontiguousarray(np.concatenate(parts, axis=1))
        # The hyperplane sides in float64: a float32 product rounds differently with the BLAS
        # threads and with how many tokens share the call, and a token within that rounding of
        # a hyperplane changed partition (a query's FDE depended on the other queries of its
        # batch). In float64 a flip needs a float64-sized tie. The projected values stay float32.
        self._hyperplanes_t = np.ascontiguousarray(self._matrix[:, : r * k].T, dtype=np.float64)
        self._projection_t = np.ascontiguousarray(self._matrix[:, r * k :].T)
        self._sketch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        if c.d_final is not None:
            rng = np.random.default_rng(final_seq)
            target = rng.integers(0, c.d_final, size=c.raw_dim)
            sign = (2 * rng.integers(0, 2, size=c.raw_dim) - 1).astype(np.float32)
            order = np.argsort(target, kind="stable")
            sorted_target = target[order]
            starts = np.flatnonzero(np.r_[True, sorted_target[1:] != sorted_target[:-1]])
            self._sketch = (order, sign[order], starts, sorted_target[starts])
        # Popcount of every partition-bit difference, for the Hamming-nearest fill.
        self._popcount = np.array([bin(i).count("1") for i in range(c.partitions)], dtype=np.int64)

    @property
    def fde_dim(self) -> int:
        return self.config.fde_dim

    def hyperplanes(self, repetition: int) -> np.ndarray:
        """The ``(dimension, k_sim)`` Gaussian SimHash hyperplanes of one repetition; bit ``i``
        of a token's partition number is set when its product with column ``i`` is positive."""
        k = self.config.k_sim
        return self._matrix[:, repetition * k : (repetition + 1) * k].copy()

    def projection(self, repetition: int) -> np.ndarray | None:
        """The ``(dimension, d_proj)`` ``±1/sqrt(d_proj)`` matrix of one repetition (None: identity)."""
        c = self.config
        if c.d_proj is None:
            return None
        base = c.repetitions * c.k_sim + repetition * c.d_proj
        return self._matrix[:, base : base + c.d_proj].copy()

    def count_sketch(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(target, sign)`` of the final projection: coordinate ``i`` is added, times
        ``sign[i]``, to output coordinate ``target[i]`` (None without ``d_final``)."""
        if self._sketch is None:
            return None
        order, sign, starts, targets = self._sketch
        target = np.empty(order.size, dtype=np.int64)
        target[order] = np.repeat(targets, np.diff(np.r_[starts, order.size]))
        out_sign = np.empty(order.size, dtype=np.float32)
        out_sign[order] = sign
        return target, out_sign

    def __repr__(self) -> str:
        return f"MuveraEncoder({self.config!r})"

    # --- public ----------------------------------------------------------------------------
    def encode_queries(self, queries: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """``(queries, fde_dim)`` float32: each query's projected tokens **summed** per partition.

        ``queries``: one ``(tokens, dimension)`` matrix or a list of them.
        """
        padded, mask = pack_queries(queries, dim=self.config.dimension)
        packed = PackedPages(padded[mask], np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64))
        return self._encode(packed, average=False, fill=False)

    def encode_documents(
        self,
        pages: PackedPages | Sequence[np.ndarray] | np.ndarray,
        *,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    ) -> np.ndarray:
        """``(pages, fde_dim)`` float32: each page's projected tokens **averaged** per partition,
        empty partitions filled when ``config.fill_empty``.

        ``pages``: :class:`PackedPages` (float16 memory maps are read a chunk at a time), a list
        of ``(tokens, dimension)`` matrices or a padded ``(pages, tokens, dimension)`` batch.
        """
        packed = as_packed(pages)
        if packed.dim != self.config.dimension:
            raise InputError(f"pages have dimension {packed.dim}, the encoder expects {self.config.dimension}",
                             input_name="pages")
        return self._encode(packed, average=True, fill=self.config.fill_empty, chunk_tokens=chunk_tokens)

    # --- the encoding ----------------------------------------------------------------------
    def _encode(self, packed: PackedPages, *, average: bool, fill: bool,
                chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> np.ndarray:
        n_pages = len(packed)
        out = np.empty((n_pages, self.fde_dim), dtype=np.float32)
        offsets = packed.offsets
        # A chunk's cells (page x partition) are counted with bincount: keep their number modest.
        max_pages = max(1, (1 << 22) // self.config.partitions)
        start = 0
        while start < n_pages:
            end = int(np.searchsorted(offsets, offsets[start] + max(chunk_tokens, 1), side="right")) - 1
            end = min(max(end, start + 1), start + max_pages, n_pages)
            tokens = np.asarray(packed.tokens[int(offsets[start]) : int(offsets[end])], dtype=np.float32)
            if not np.isfinite(tokens).all():
                raise InputError(f"pages {start}..{end - 1} contain NaN or infinite values", input_name="pages")
            lengths = np.diff(offsets[start : end + 1])
            out[start:end] = self._encode_chunk(tokens, lengths, average=average, fill=fill)
            start = end
        return out

    def _encode_chunk(self, tokens: np.ndarray, lengths: np.ndarray, *, average: bool, fill: bool) -> np.ndarray:
        c = self.config
        n_tok, n_pages = tokens.shape[0], lengths.size
        r_count, k, b_count, w = c.repetitions, c.k_sim, c.partitions, c.block_dim
        n_cells = n_pages * b_count
        # Transposed: every hyperplane side and projected coordinate is one contiguous row over
        # the chunk's tokens, which is what the per-row bincounts below read.
        sides = (self._hyperplanes_t @ tokens.T.astype(np.float64)).reshape(r_count, k, n_tok)
        # (R*d_proj, tokens) projected coordinates, or the tokens themselves (no projection)
        projected = self._projection_t @ tokens.T if c.d_proj is not None else np.ascontiguousarray(tokens.T)
        codes = np.zeros((r_count, n_tok), dtype=np.int64)
        for bit in range(k):
            codes |= (sides[:, bit] > 0).astype(np.int64) << bit
        cell_of_page = np.repeat(np.arange(n_pages, dtype=np.int64) * b_count, lengths)
        raw = np.zeros((r_count, w, n_cells), dtype=np.float32)
        for rep in range(r_count):
            values = projected if c.d_proj is None else projected[rep * w : (rep + 1) * w]
            cell = cell_of_page + codes[rep]
            for j in range(w):  # a bincount per coordinate: a segmented sum without sorting or gathering
                raw[rep, j] = np.bincount(cell, weights=values[j], minlength=n_cells)
            if average or fill:
                counts = np.bincount(cell, minlength=n_cells)
                if average:
                    raw[rep] /= np.maximum(counts, 1).astype(np.float32)
                if fill and k > 0 and not counts.all():
                    self._fill_empty(raw[rep], np.flatnonzero(counts == 0), codes[rep], values, lengths)
        flat = raw.reshape(r_count, w, n_pages, b_count).transpose(2, 0, 3, 1).reshape(n_pages, c.raw_dim)
        return flat if self._sketch is None else self._count_sketch(flat)

    def _fill_empty(self, block: np.ndarray, cells: np.ndarray, codes: np.ndarray, values: np.ndarray,
                    lengths: np.ndarray) -> None:
        """Give each empty (page, partition) cell of ``block`` (``(block_dim, cells)``) the values
        of the page's token whose SimHash bits differ from the partition's in the fewest places
        (the first such token on ties)."""
        b_count = self.config.partitions
        # Hamming distance of every token to every partition, folded with the token's position
        # so that one segmented minimum gives both the distance and the first token at it.
        n_tok = codes.size
        dist = self._popcount[codes[:, None] ^ np.arange(b_count)[None, :]]  # (tokens, partitions)
        scored = dist * (n_tok + 1) + np.arange(n_tok)[:, None]
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        best = np.minimum.reduceat(scored, starts, axis=0) % (n_tok + 1)  # (pages, partitions)
        block[:, cells] = values[:, best[cells // b_count, cells % b_count]]

    def _count_sketch(self, flat: np.ndarray) -> np.ndarray:
        assert self._sketch is not None and self.config.d_final is not None
        order, sign, starts, targets = self._sketch
        out = np.zeros((flat.shape[0], self.config.d_final), dtype=np.float32)
        out[:, targets] = np.add.reduceat(flat[:, order] * sign, starts, axis=1)
        return out


def cosine_documents(fdes: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """Page FDEs as unit vectors for an index that only knows cosine similarity.

    Inner-product search reduces to cosine search exactly (Bachrach et al., 2014, "Speeding up
    the Xbox recommender system using a Euclidean transformation for inner-product spaces"):
    each page vector ``x`` becomes ``[x / M, sqrt(1 - |x|^2 / M^2)]`` with ``M >= max |x|``, and
    each query ``q`` becomes ``[q, 0] / |q|`` (:func:`cosine_queries`). Then
    ``cos(q', x') = <q, x> / (M |q|)``: for a query, the same order of pages as the inner
    product. Returns ``(vectors (pages, fde_dim + 1), M)``; pass the same ``scale`` when adding
    pages to an index built earlier (pages longer than ``scale`` are refused).
    """
    fdes = np.asarray(fdes, dtype=np.float32)
    norms = np.linalg.norm(fdes, axis=1)
    top = float(norms.max()) if norms.size else 1.0
    m = top if scale is None else float(scale)
    if m <= 0 or not np.isfinite(m):
        m = 1.0
    if top > m * (1 + 1e-6):
        raise InputError(f"a page encoding has norm {top:.4g}, above the scale {m:.4g} of this index", input_name="scale")
    extra = np.sqrt(np.clip(1.0 - (norms / m) ** 2, 0.0, None)).astype(np.float32)
    return np.concatenate([fdes / np.float32(m), extra[:, None]], axis=1), m


def cosine_queries(fdes: np.ndarray) -> np.ndarray:
    """Query FDEs for the cosine index of :func:`cosine_documents`: ``[q, 0] / |q|``."""
    fdes = np.asarray(fdes, dtype=np.float32)
    norms = np.maximum(np.linalg.norm(fdes, axis=1, keepdims=True), np.float32(1e-30))
    return np.concatenate([fdes / norms, np.zeros((fdes.shape[0], 1), np.float32)], axis=1)
