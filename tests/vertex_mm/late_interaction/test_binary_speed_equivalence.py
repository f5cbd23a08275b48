"""The fast two-stage path gives exactly what the straightforward one gives.

The fused Hamming kernel (all queries in one pass, per-query sums in the kernel) must return
the same integers as the numpy path, and the batched rerank the same pages and bit-identical
scores as calling ``maxsim(q, pages, page_ids=ids)`` per query.
"""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.late_interaction import BinaryPages, PackedPages, _kernel_choice, hamming_maxsim, maxsim, top_k, two_stage_search
from vertex_mm.late_interaction import binary as binary_mod
from vertex_mm.late_interaction.binary import has_fast_kernel


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(autouse=True, params=["popcount", "nibble"])
def kernel(request, monkeypatch):
    """Every test here runs with each compiled kernel for 128-bit codes (the CPU picks one)."""
    if request.param == "nibble" and not _kernel_choice._nibble_usable():
        pytest.skip("the nibble kernel needs an x86-64 CPU with AVX2")
    monkeypatch.setenv(binary_mod.KERNEL_ENV, request.param)
    return request.param


@pytest.fixture
def colpali_like(rng: np.random.Generator) -> tuple[PackedPages, list[np.ndarray]]:
    """128-d (two-word codes) pages of 1..13 tokens, so the kernel's 4-row blocks and its tail
    loop both run, and queries of different lengths."""
    pages = [_unit(rng, int(n), 128) for n in rng.integers(1, 14, size=57)]
    queries = [_unit(rng, int(n), 128) for n in (1, 5, 20, 9)]
    return PackedPages.from_list(pages), queries


@pytest.mark.skipif(not has_fast_kernel(), reason="numba not installed")
@pytest.mark.parametrize("lanes", [4, 8])
def test_either_simd_padding_width_gives_the_same_integers(colpali_like, monkeypatch, lanes, kernel):
    if kernel == "nibble":
        pytest.skip("the nibble kernel pads query tokens to its own groups (test_binary_nibble.py)")
    # The width follows the CPU (4 lanes with AVX2, 8 with AVX-512): padding tokens never count.
    from vertex_mm.late_interaction import _hamming_kernel
    from vertex_mm.late_interaction.binary import hamming_maxsim_pairs

    packed, queries = colpali_like
    binary = BinaryPages.from_pages(packed)
    want = hamming_maxsim(queries, binary, query_bits=2, use_numba=False)
    monkeypatch.setattr(_hamming_kernel, "SIMD_TOKENS", lanes)
    np.testing.assert_array_equal(hamming_maxsim(queries, binary, query_bits=2), want)
    rows, cols = np.nonzero(np.ones(want.shape, bool))
    np.testing.assert_array_equal(hamming_maxsim_pairs(queries, binary, rows, cols, query_bits=2), want[rows, cols])


@pytest.mark.skipif(not has_fast_kernel(), reason="numba not installed")
@pytest.mark.parametrize("query_bits", [1, 2])
def test_fused_two_word_kernel_matches_numpy_integers(colpali_like, query_bits, kernel):
    packed, queries = colpali_like
    binary = BinaryPages.from_pages(packed)
    fast = hamming_maxsim(queries, binary, query_bits=query_bits, use_numba=True)
    assert binary.has_planes == (kernel == "nibble")  # the kernel this test is for ran
    slow = hamming_maxsim(queries, binary, query_bits=query_bits, use_numba=False)
    assert fast.dtype == np.float32 and fast.shape == (len(queries), len(packed))
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.skipif(not has_fast_kernel(), reason="numba not installed")
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_on_several_threads_give_the_same_integers(colpali_like, monkeypatch, threads):
    """Pages in blocks of 5 (12 blocks, the last one short) handed out to 1-3 threads, and
    query tokens padded to whole registers (1 + 5 + 20 + 9 = 35 -> 40): the numpy integers."""
    from vertex_mm.late_interaction import _hamming_kernel, binary

    packed, queries = colpali_like
    codes = BinaryPages.from_pages(packed)
    monkeypatch.setattr(binary, "PAGE_BLOCK", 5)
    monkeypatch.setattr(_hamming_kernel, "thread_count", lambda: threads)
    for query_bits in (1, 2):
        want = hamming_maxsim(queries, codes, query_bits=query_bits, use_numba=False)
        np.testing.assert_array_equal(hamming_maxsim(queries, codes, query_bits=query_bits), want)
        np.testing.assert_array_equal(hamming_maxsim(queries[2], codes, query_bits=query_bits), want[2:3])


def _per_query_two_stage(queries, binary, pages, k, candidates, query_bits, compute="float32"):
    """The two-stage search written the plain way: one maxsim call per query."""
    n_cand = max(min(candidates, len(pages)), min(k, len(pages)))
    _, cand = top_k(hamming_maxsim(queries, binary, query_bits=query_bits, use_numba=False), n_cand)
    scores, index = [], []
    for q, c in zip(queries, cand):
        ids = np.sort(c)
        s, local = top_k(maxsim([q], pages, page_ids=ids, compute=compute), min(k, len(pages)))
        scores.append(s[0])
        index.append(ids[local[0]])
    return np.array(scores, np.float32), np.array(index, np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("query_bits", [1, 2])
def test_batched_rerank_is_bit_identical_to_per_query_maxsim(colpali_like, dtype, query_bits):
    packed, queries = colpali_like
    pages = packed.astype(dtype)
    binary = BinaryPages.from_pages(pages)
    got = two_stage_search(queries, binary, pages, 5, candidates=11, query_bits=query_bits)
    want = _per_query_two_stage(queries, binary, pages, 5, 11, query_bits)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_batched_rerank_with_equal_length_pages_matches_per_query_maxsim(rng):
    # Equal lengths take the scorer's query-tokens-on-rows path; ragged ones the gather path.
    pages = PackedPages.from_list([_unit(rng, 30, 128) for _ in range(40)]).astype(np.float16)
    queries = [_unit(rng, 20, 128) for _ in range(3)]
    binary = BinaryPages.from_pages(pages)
    got = two_stage_search(queries, binary, pages, 4, candidates=8)
    want = _per_query_two_stage(queries, binary, pages, 4, 8, 2)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.usefixtures("native_bf16")  # else bfloat16 computes float32 (test_emulated_bf16.py)
def test_bfloat16_rerank_matches_per_query_maxsim(colpali_like):
    # bfloat16 arithmetic takes the gather-then-convert path instead of the float32 buffer.
    packed, queries = colpali_like
    pages = packed.astype(np.float16)
    binary = BinaryPages.from_pages(pages)
    got = two_stage_search(queries, binary, pages, 3, candidates=9, compute="bfloat16")
    want = _per_query_two_stage(queries, binary, pages, 3, 9, 2, compute="bfloat16")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_memory_mapped_float16_pages_give_the_same_result(colpali_like, tmp_path):
    packed, queries = colpali_like
    pages = packed.astype(np.float16)
    path = tmp_path / "tokens.f16"
    pages.tokens.tofile(path)
    mapped = PackedPages(np.memmap(path, dtype=np.float16, mode="r", shape=pages.tokens.shape), pages.offsets)
    binary = BinaryPages.from_pages(pages)
    got = two_stage_search(queries, binary, mapped, 5, candidates=11)
    want = two_stage_search(queries, binary, pages, 5, candidates=11)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_rerank_on_several_threads_matches_one_thread_and_leaves_torch_threads_alone(colpali_like):
    torch = pytest.importorskip("torch")
    packed, queries = colpali_like
    pages = packed.astype(np.float16)
    binary = BinaryPages.from_pages(pages)
    before = torch.get_num_threads()
    many = two_stage_search(queries * 3, binary, pages, 5, candidates=11)  # 12 queries handed out to threads
    assert torch.get_num_threads() == before
    torch.set_num_threads(1)
    try:
        one = two_stage_search(queries * 3, binary, pages, 5, candidates=11)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(many[1], one[1])
    np.testing.assert_array_equal(many[0], one[0])
    want = _per_query_two_stage(queries, binary, pages, 5, 11, 2)
    np.testing.assert_array_equal(many[0][:4], want[0])


@pytest.mark.usefixtures("native_bf16")  # the screen's threads too, on any CPU
def test_threads_started_after_a_search_get_the_callers_torch_thread_count(colpali_like):
    # torch keeps the last thread count set, in any thread, as the default of threads created
    # later; the one-thread helpers must not leave theirs behind (a server's new request
    # threads would then run torch on one core).
    import threading

    from vertex_mm.late_interaction import ScreenedPages

    torch = pytest.importorskip("torch")
    packed, queries = colpali_like
    pages = packed.astype(np.float16)
    before = torch.get_num_threads()
    two_stage_search(queries * 3, BinaryPages.from_pages(pages), pages, 5, candidates=11)
    ScreenedPages.from_pages(packed).exact_topk(queries * 3, 5)
    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert seen == [before]
