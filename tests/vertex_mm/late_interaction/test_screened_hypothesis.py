"""exact_topk against top_k(np.where(live, maxsim(q, pages), -inf), k), random cases, through
each kind of screen (bfloat16; 16-bit integers where the AVX2 kernel runs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vertex_mm.late_interaction import PackedPages, maxsim, top_k
from vertex_mm.late_interaction.int16_screen import int16_screen_available
from vertex_mm.late_interaction.screened import ScreenedPages

# The screen is what these tests check: run it whatever the CPU (tests/conftest.py); with native
# bfloat16 set, a ScreenedPages built with the integer screen runs that one (screen_here).
pytestmark = pytest.mark.usefixtures("native_bf16")

pytest.importorskip("torch")


def _case(seed: int, dim: int, n_pages: int, max_len: int, n_q: int, max_q: int, dtype, ties: bool, zeros: bool):
    rng = np.random.default_rng(seed)
    equal = bool(rng.integers(2))  # pages of one length: the scan's few-token layout
    lens = [max_len if equal else int(rng.integers(1, max_len + 1)) for _ in range(n_pages)]
    pages = [rng.standard_normal((n, dim)).astype(np.float32) for n in lens]
    if ties:  # duplicate pages: exact ties
        for i in range(1, n_pages, 3):
            pages[i] = pages[i - 1].copy()
    if zeros:  # integer-valued rows: many exact ties and exact zeros, negative maxima
        pages = [np.round(p).astype(np.float32) for p in pages]
    queries = [rng.standard_normal((int(rng.integers(1, max_q + 1)), dim)).astype(np.float32) for _ in range(n_q)]
    if zeros:
        queries = [np.round(q).astype(np.float32) for q in queries]
    live = rng.random(n_pages) < 0.7
    live[int(rng.integers(n_pages))] = True
    return queries, PackedPages.from_list(pages, dtype=dtype), live


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31), dim=st.sampled_from([4, 16, 33, 128]), n_pages=st.integers(1, 40),
       max_len=st.sampled_from([1, 3, 15, 16, 40, 300]), n_q=st.integers(1, 5), max_q=st.sampled_from([1, 5, 15, 40]),
       dtype=st.sampled_from([np.float32, np.float16]), k=st.integers(1, 45), ties=st.booleans(),
       zeros=st.booleans(), use_live=st.booleans(), kind=st.sampled_from(["bfloat16", "int16"]))
def test_exact_topk_matches_masked_reference(seed, dim, n_pages, max_len, n_q, max_q, dtype, k, ties, zeros, use_live,
                                             kind):
    assume(kind == "bfloat16" or int16_screen_available())
    queries, packed, live = _case(seed, dim, n_pages, max_len, n_q, max_q, dtype, ties, zeros)
    if not use_live:
        live = np.ones(n_pages, bool)
    sp = ScreenedPages.from_pages(packed, kind=kind)
    assert sp.screen_here() == kind
    got_s, got_i = sp.exact_topk(queries, k, live=live if use_live else None)
    ref = np.where(live[None, :], maxsim(queries, packed), -np.inf).astype(np.float32)
    want_s, want_i = top_k(ref, min(k, int(live.sum())))
    np.testing.assert_array_equal(got_i, want_i)
    assert got_s.dtype == np.float32
    assert got_s.tobytes() == want_s.tobytes()


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31), n_pages=st.integers(20, 60), max_len=st.sampled_from([700, 1030, 1500]),
       n_q=st.integers(1, 16), max_q=st.sampled_from([8, 20, 32]), dtype=st.sampled_from([np.float32, np.float16]),
       k=st.integers(1, 70), ties=st.booleans(), zeros=st.booleans(), kind=st.sampled_from(["bfloat16", "int16"]))
def test_exact_topk_matches_on_multi_block_collections(seed, n_pages, max_len, n_q, max_q, dtype, k, ties, zeros, kind):
    assume(kind == "bfloat16" or int16_screen_available())
    queries, packed, live = _case(seed, 128, n_pages, max_len, n_q, max_q, dtype, ties, zeros)
    sp = ScreenedPages.from_pages(packed, kind=kind)
    got_s, got_i = sp.exact_topk(queries, k, live=live)
    ref = np.where(live[None, :], maxsim(queries, packed), -np.inf).astype(np.float32)
    want_s, want_i = top_k(ref, min(k, int(live.sum())))
    np.testing.assert_array_equal(got_i, want_i)
    assert got_s.tobytes() == want_s.tobytes()
