"""1-bit codes, Hamming-MaxSim and the two-stage search."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.late_interaction import (
    BinaryPages,
    PackedPages,
    binarize,
    hamming_maxsim,
    maxsim,
    maxsim_reference,
    top_k,
    two_stage_search,
)
from vertex_mm.late_interaction.binary import has_fast_kernel


def _signs(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, 1.0, -1.0)


def test_binarize_packs_sign_bits_little_endian_into_uint64_words():
    v = -np.ones((1, 130), np.float32)
    v[0, [0, 3, 64, 129]] = 1.0
    codes = binarize(v)
    assert codes.shape == (1, 3) and codes.dtype == np.uint64
    assert codes[0].tolist() == [0b1001, 1, 0b10]


@pytest.mark.parametrize("dim", [128, 130])
def test_float16_codes_are_the_sign_bits_of_their_values(dim: int):
    # float16 rows are read by their bits: every float16 value, NaNs, infinities, signed zeros and
    # subnormals among them, gives the bit "> 0" gives in float32.
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    v = np.resize(every, (-(-every.size // dim), dim))
    want = binarize(v.astype(np.float32))
    np.testing.assert_array_equal(binarize(v), want)
    np.testing.assert_array_equal(binarize(v[:, ::-1]), binarize(v[:, ::-1].astype(np.float32)))  # a strided view


def _weighted(q: np.ndarray) -> np.ndarray:
    mag = np.abs(q)
    return _signs(q) * np.where(mag > np.median(mag, axis=1, keepdims=True), 2.0, 1.0)


def test_one_bit_queries_give_maxsim_over_sign_vectors(ragged_pages, queries):
    binary = BinaryPages.from_pages(ragged_pages)
    expected = maxsim_reference([_signs(q) for q in queries], [_signs(p) for p in ragged_pages])
    np.testing.assert_array_equal(hamming_maxsim(queries, binary, query_bits=1, use_numba=False), expected)


def test_two_bit_queries_weigh_strong_dimensions_twice(ragged_pages, queries):
    binary = BinaryPages.from_pages(ragged_pages)
    expected = maxsim_reference([_weighted(q) for q in queries], [_signs(p) for p in ragged_pages])
    np.testing.assert_array_equal(hamming_maxsim(queries, binary, query_bits=2, use_numba=False), expected)


@pytest.mark.skipif(not has_fast_kernel(), reason="numba is not installed; the numpy path is tested above")
@pytest.mark.parametrize("dim", [32, 128, 200])
@pytest.mark.parametrize("query_bits", [1, 2])
def test_numba_kernels_give_the_same_integers_as_numpy(rng, dim, query_bits):
    # Odd page lengths exercise the kernels' remainder loops; 128-d takes the two-word kernels.
    pages = [rng.standard_normal((int(n), dim)).astype(np.float32) for n in rng.integers(1, 12, size=25)]
    queries = [rng.standard_normal((int(n), dim)).astype(np.float32) for n in (1, 5, 9)]
    binary = BinaryPages.from_pages(pages)
    fast = hamming_maxsim(queries, binary, query_bits=query_bits, use_numba=True)
    np.testing.assert_array_equal(fast, hamming_maxsim(queries, binary, query_bits=query_bits, use_numba=False))
    expected = maxsim_reference([(_weighted(q) if query_bits == 2 else _signs(q)) for q in queries], [_signs(p) for p in pages])
    np.testing.assert_array_equal(fast, expected)


def test_dimensions_beyond_the_last_full_word_never_count(rng):
    pages = [rng.standard_normal((4, 72)).astype(np.float32) for _ in range(5)]
    q = [rng.standard_normal((3, 72)).astype(np.float32)]
    expected = maxsim_reference([_signs(q[0])], [_signs(p) for p in pages])
    np.testing.assert_array_equal(hamming_maxsim(q, BinaryPages.from_pages(pages), query_bits=1), expected)


def test_binary_codes_take_one_bit_per_dimension(ragged_pages):
    binary = BinaryPages.from_pages(ragged_pages)
    tokens = sum(p.shape[0] for p in ragged_pages)
    assert binary.codes.nbytes == tokens * 8  # 32 dims round up to one 64-bit word
    assert binary.bytes_per_page == pytest.approx(tokens * 8 / len(ragged_pages))


def test_two_stage_returns_float_scores_of_the_reranked_pages(ragged_pages, queries):
    packed = PackedPages.from_list(ragged_pages)
    binary = BinaryPages.from_pages(packed)
    scores, idx = two_stage_search(queries, binary, packed, k=4, candidates=len(packed))
    exact_scores, exact_idx = top_k(maxsim(queries, packed), 4)
    # With every page a candidate the two-stage result is the exact float ranking.
    np.testing.assert_array_equal(idx, exact_idx)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)


def test_two_stage_recovers_planted_pages_from_few_candidates(rng):
    d = 128
    pages = [rng.standard_normal((64, d)).astype(np.float32) for _ in range(300)]
    queries = [rng.standard_normal((8, d)).astype(np.float32) for _ in range(5)]
    planted = [11, 42, 150, 151, 299]
    for q, p in zip(queries, planted):
        pages[p][:8] = q + 0.3 * rng.standard_normal((8, d)).astype(np.float32)  # near copies
    packed = PackedPages.from_list(pages, dtype=np.float16)
    _, idx = two_stage_search(queries, BinaryPages.from_pages(packed), packed, k=1, candidates=10)
    assert idx[:, 0].tolist() == planted


def test_a_page_without_tokens_is_refused_as_packed_pages_refuse_it():
    # It once scored 3840 with the compiled kernel (a wrapped-around int32), first of all pages.
    codes = binarize(np.random.default_rng(0).standard_normal((5, 128)).astype(np.float32))
    with pytest.raises(ValueError, match="offsets must increase: page 0 runs from 0 to 0"):
        BinaryPages(codes, np.array([0, 0, 5]), 128)
    assert len(BinaryPages(codes, np.array([0, 2, 5]), 128)) == 2


def test_the_nibble_kernel_is_available_on_a_cpu_with_avx2():
    # test_binary_nibble.py skips itself where the kernel is unavailable: on an AVX2 machine an
    # import error there must not hide behind that skip.
    import platform
    from pathlib import Path

    from vertex_mm.late_interaction import _kernel_choice

    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() != "x86_64" or not cpuinfo.exists() or not has_fast_kernel():
        pytest.skip("needs x86-64 Linux and numba")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), [])
    if "avx2" not in flags:
        pytest.skip("this CPU has no AVX2")
    from vertex_mm.late_interaction import _nibble_kernel  # noqa: F401  (an import error fails here)

    assert _kernel_choice._nibble_usable()
