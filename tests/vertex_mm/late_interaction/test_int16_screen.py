"""The int16 screen (late_interaction/int16_screen.py, _int16_kernel.py): the kernel's integer
maxima against numpy's, the certified bound against the float32 scan on hard inputs, the
choice of screen, and the fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import PackedPages, maxsim, top_k
from vertex_mm.late_interaction import int16_screen as screen_mod
from vertex_mm.late_interaction import screened as screened_mod
from vertex_mm.late_interaction.int16_screen import Int16Screen, int16_round, int16_screen_available, padded_dim
from vertex_mm.late_interaction.packed import pack_queries
from vertex_mm.late_interaction.screened import SCREEN_ENV, ScreenedPages, screen_kind

pytest.importorskip("torch")
needs_kernel = pytest.mark.skipif(not int16_screen_available(), reason="the kernel needs an x86 CPU with AVX2 and numba")


def _pages(rng: np.random.Generator, lengths, dim: int, dtype=np.float32, scale: float = 1.0) -> PackedPages:
    pages = [(scale * rng.standard_normal((int(n), dim))).astype(np.float32) for n in lengths]
    return PackedPages.from_list(pages, dtype=np.dtype(dtype))


def _numpy_scores(screen: Int16Screen, pages: PackedPages, q_pad: np.ndarray, q_mask: np.ndarray) -> np.ndarray:
    """approx by the definition: sum over a query's tokens of s_q * max_p(q^ . p^) * s_P, int64 products."""
    width = padded_dim(pages.dim)
    out = np.zeros((q_pad.shape[0], len(pages)))
    for g in range(q_pad.shape[0]):
        real = q_pad[g][q_mask[g]]
        norm = np.linalg.norm(real.astype(np.float64), axis=1)
        s_q = screen_mod._scales(norm, np.abs(real.astype(np.float64)).max(1), pages.dim)
        q_int = int16_round(real, s_q, width)[0].view(np.int16).astype(np.int64)
        for p in range(len(pages)):
            x = np.asarray(pages.tokens[pages.offsets[p] : pages.offsets[p + 1]])
            s_p = screen.stats[0, p]
            p_int = int16_round(x, np.full(len(x), s_p), width)[0].view(np.int16).astype(np.int64)
            best = (q_int @ p_int.T).max(1)
            assert (np.abs(best) < 2**31).all()
            out[g, p] = sum(sq * float(m) * s_p for sq, m in zip(s_q, best))
    return out


@needs_kernel
@pytest.mark.parametrize("dim", [3, 8, 31, 128, 130])
def test_kernel_maxima_are_numpys_integers(dim: int) -> None:
    rng = np.random.default_rng(dim)
    # Pages of 1-40 tokens (around the 8-token blocks and the 2-block steps), queries of 1-9 tokens
    # (around the 4-token groups).
    pages = _pages(rng, [1, 7, 8, 9, 15, 16, 17, 24, 33, 40], dim, scale=3.0)
    queries = [rng.standard_normal((n, dim)).astype(np.float32) for n in (1, 3, 4, 5, 9)]
    screen = Int16Screen.from_pages(pages)
    q_pad, q_mask = pack_queries(queries, dim=dim)
    approx, _ = screen.scores(q_pad, q_mask, 1)
    np.testing.assert_allclose(approx, _numpy_scores(screen, pages, q_pad, q_mask), rtol=1e-12, atol=0)


@needs_kernel
def test_several_threads_and_blocks_give_one_threads_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    pages = _pages(rng, rng.integers(1, 60, size=37), 64)
    screen = Int16Screen.from_pages(pages, chunk_tokens=100)  # several build chunks too
    whole = Int16Screen.from_pages(pages)
    np.testing.assert_array_equal(screen.planes, whole.planes)
    np.testing.assert_array_equal(screen.stats, whole.stats)
    q_pad, q_mask = pack_queries([rng.standard_normal((n, 64)).astype(np.float32) for n in (2, 7)], dim=64)
    one = screen.scores(q_pad, q_mask, 1)
    monkeypatch.setattr(screen_mod, "INT16_PAGE_BLOCK", 3)
    many = screen.scores(q_pad, q_mask, 3)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])


@needs_kernel
@pytest.mark.parametrize("torch_here", [True, False])
def test_float16_pages_build_the_screen_of_their_float32_values(monkeypatch: pytest.MonkeyPatch, torch_here: bool) -> None:
    # float16 rows are converted chunk by chunk into one reused buffer (grown for a page longer
    # than a chunk), by torch or, without it, by numpy: the screen is that of the same values in
    # float32, to the bit.
    rng = np.random.default_rng(5)
    lengths = [3, 40, 250, 1, 17, 90]
    half = _pages(rng, lengths, 48, np.float16)
    single = PackedPages(np.asarray(half.tokens, np.float32), half.offsets)
    want = Int16Screen.from_pages(single, chunk_tokens=1 << 13)
    if not torch_here:
        import importlib

        from vertex_mm.errors import MissingDependencyError

        maxsim_mod = importlib.import_module("vertex_mm.late_interaction.maxsim")  # the module, not the function

        def no_torch() -> None:
            raise MissingDependencyError("no torch here")

        monkeypatch.setattr(maxsim_mod, "_torch", no_torch)
    for chunk in (1, 64, 1 << 13):
        got = Int16Screen.from_pages(half, chunk_tokens=chunk)
        np.testing.assert_array_equal(got.planes, want.planes)
        np.testing.assert_array_equal(got.stats, want.stats)


@needs_kernel
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pages_with_nan_or_infinite_values_are_refused(bad: float) -> None:
    rng = np.random.default_rng(6)
    for dtype in (np.float16, np.float32):
        pages = _pages(rng, [5, 9, 4], 16, dtype)
        tokens = np.array(pages.tokens)
        tokens[11, 3] = bad  # in the second page
        with pytest.raises(InputError, match="NaN or infinite"):
            Int16Screen.from_pages(PackedPages(tokens, pages.offsets), chunk_tokens=8)


def _hard_cases(rng: np.random.Generator):
    dim = 32
    yield "unit", _pages(rng, rng.integers(1, 50, 30), dim), rng.standard_normal((6, dim))
    yield "float16", _pages(rng, rng.integers(1, 50, 30), dim, np.float16), rng.standard_normal((6, dim))
    yield "large", _pages(rng, rng.integers(1, 50, 30), dim, scale=1e4), 1e3 * rng.standard_normal((6, dim))
    yield "tiny", _pages(rng, rng.integers(1, 50, 30), dim, scale=1e-6), 1e-5 * rng.standard_normal((6, dim))
    # Norms spread over six orders of magnitude within a page: its one scale rounds the small
    # tokens to nearly nothing, and the bound must say so.
    spread = [rng.standard_normal((20, dim)) * np.logspace(-3, 3, 20)[:, None] for _ in range(10)]
    yield "spread", PackedPages.from_list([s.astype(np.float32) for s in spread]), rng.standard_normal((6, dim))
    # One value carries the whole norm: the 32767 limit, not the norm limit, sets the scale.
    axis = np.zeros((5, 3, dim), np.float32)
    axis[:, 0, 0], axis[:, 1, 1] = 7.0, -7.0
    axis[:, 2] = 0.5
    yield "axis", PackedPages.from_list(list(axis)), np.eye(dim)[:6] * 3.0
    # The query itself as a page: the largest dot products the norm limit allows (no overflow).
    q = rng.standard_normal((6, dim))
    yield "aligned", PackedPages.from_list([q.astype(np.float32), (-q).astype(np.float32)]), q
    # Every dot product negative (the page opposite the query): maxima below zero, padding copies.
    yield "negative", PackedPages.from_list([np.repeat(-q[:1], n, 0).astype(np.float32) for n in (1, 9, 17)]), q[:1]
    yield "zeros", PackedPages.from_list([np.zeros((3, dim), np.float32), np.ones((1, dim), np.float32)]), q


@needs_kernel
def test_the_bound_holds_on_hard_inputs() -> None:
    rng = np.random.default_rng(2)
    for name, pages, q in _hard_cases(rng):
        queries = [q[:n].astype(np.float32) for n in range(1, len(q) + 1)]
        q_pad, q_mask = pack_queries(queries, dim=pages.dim)
        approx, eps = Int16Screen.from_pages(pages).scores(q_pad, q_mask, 2)
        exact = maxsim(q_pad, pages).astype(np.float64)
        err = np.abs(approx - exact)
        assert (err <= eps).all(), (name, float((err / eps).max()))
        assert np.isfinite(eps).all(), name
        if name in ("unit", "float16"):  # far tighter than the bfloat16 screen's bound
            _, eps_bf16 = ScreenedPages.from_pages(pages, kind="bfloat16").screen_scores(q_pad)
            assert np.median(eps) * 5 < np.median(eps_bf16), name


@needs_kernel
def test_exact_topk_through_the_integer_screen_is_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    from vertex_mm.late_interaction import screened as screened_mod

    monkeypatch.setenv(SCREEN_ENV, "int16")
    rng = np.random.default_rng(3)
    # The answers must come from the screen and its rescoring, never from the full scan.
    monkeypatch.setattr(screened_mod, "maxsim", lambda *a, **kw: pytest.fail("the screen fell back to the scan"))
    for _, pages, q in _hard_cases(rng):
        sp = ScreenedPages.from_pages(pages)
        assert sp.kind == "int16" and sp.screen_here() == "int16"
        queries = [q[:3].astype(np.float32), q.astype(np.float32)]
        for k in (1, min(4, len(pages))):
            got = sp.exact_topk(queries, k)
            want = top_k(maxsim(queries, pages), k)
            np.testing.assert_array_equal(got[1], want[1])
            assert got[0].tobytes() == want[0].tobytes()


@needs_kernel
def test_the_screen_rules_nearly_every_page_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # ColPali-like unit tokens: only pages within the bound (about 1e-3 of a score) of the k-th
    # are rescored, here the k best themselves.
    monkeypatch.setenv(SCREEN_ENV, "int16")
    rng = np.random.default_rng(6)
    pages = [rng.standard_normal((300, 128)).astype(np.float32) for _ in range(200)]
    pages = PackedPages.from_list([p / np.linalg.norm(p, axis=1, keepdims=True) for p in pages], dtype=np.dtype("float16"))
    q = rng.standard_normal((4, 20, 128)).astype(np.float32)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    sp = ScreenedPages.from_pages(pages)
    q_pad, q_mask = pack_queries(list(q), dim=128)
    approx, eps = sp.int16.scores(q_pad, q_mask, 2)
    kth = sp.exact_topk(list(q), 5)[0][:, -1:]
    assert ((approx + eps) >= kth).sum(1).max() <= 10  # of 200 pages
    assert np.median(eps) < 1e-2


def test_a_screen_of_other_pages_is_refused() -> None:
    rng = np.random.default_rng(7)
    a, b = _pages(rng, [3, 9, 4], 16), _pages(rng, [3, 4, 9], 16)
    if not int16_screen_available():
        pytest.skip("the kernel needs an x86 CPU with AVX2 and numba")
    screen = Int16Screen.from_pages(a)
    with pytest.raises(InputError, match="built from other pages"):
        ScreenedPages(b, int16=screen)
    with pytest.raises(InputError, match="arrays disagree"):
        Int16Screen(screen.planes[:-1], screen.block_offsets, screen.stats, 16)


@needs_kernel
def test_scores_that_may_overflow_float32_fall_back_to_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCREEN_ENV, "int16")
    rng = np.random.default_rng(4)
    pages = _pages(rng, [3, 5, 2], 8, scale=1e19)
    q = [(1e19 * rng.standard_normal((2, 8))).astype(np.float32)]  # |q| |p| beyond float32
    sp = ScreenedPages.from_pages(pages)
    q_pad, q_mask = pack_queries(q, dim=8)
    assert not np.isfinite(sp.int16.scores(q_pad, q_mask, 1)[1]).all()
    got, want = sp.exact_topk(q, 2), top_k(maxsim(q, pages), 2)
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0].tobytes() == want[0].tobytes()


def test_the_variable_chooses_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "0")
    for value, want in (("none", None), ("bfloat16", "bfloat16"), ("BFloat16 ", "bfloat16")):
        monkeypatch.setenv(SCREEN_ENV, value)
        assert screen_kind() == want
    for value in ("auto", "int16"):
        monkeypatch.setenv(SCREEN_ENV, value)
        assert screen_kind() == ("int16" if int16_screen_available() else None)
    # Native bfloat16 without AMX: the integer screen where it runs (faster, a tighter bound),
    # bfloat16 where it does not; with AMX, bfloat16.
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "1")
    monkeypatch.setenv(SCREEN_ENV, "auto")
    monkeypatch.setattr(screened_mod, "cpu_has_amx_bf16", lambda: False)
    assert screen_kind() == ("int16" if int16_screen_available() else "bfloat16")
    monkeypatch.setattr(screened_mod, "int16_screen_available", lambda: False)
    assert screen_kind() == "bfloat16"
    monkeypatch.undo()
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "1")
    monkeypatch.setattr(screened_mod, "cpu_has_amx_bf16", lambda: True)
    assert screen_kind() == "bfloat16"
    monkeypatch.setenv(SCREEN_ENV, "int16")
    assert screen_kind() == ("int16" if int16_screen_available() else None)
    monkeypatch.setenv(SCREEN_ENV, "fast")
    with pytest.raises(InputError, match="VERTEX_MM_SCREEN must be auto, bfloat16, int16 or none, got 'fast'"):
        screen_kind()
    with pytest.raises(InputError, match="kind must be"):
        ScreenedPages.from_pages([np.ones((2, 4), np.float32)], kind="int8")


def test_no_kernel_no_integer_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    # numba set to run Python (or a target without AVX2): the kernel is not compiled, the scan answers.
    numba = pytest.importorskip("numba")

    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "0")
    monkeypatch.delenv(SCREEN_ENV, raising=False)
    assert not int16_screen_available() and screen_kind() is None
    rng = np.random.default_rng(5)
    pages = _pages(rng, [3, 4, 5], 8)
    sp = ScreenedPages.from_pages(pages)
    assert sp.kind == "bfloat16" and sp.screen_here() is None
    q = [rng.standard_normal((2, 8)).astype(np.float32)]
    np.testing.assert_array_equal(sp.exact_topk(q, 2)[1], top_k(maxsim(q, pages), 2)[1])


@needs_kernel
@pytest.mark.parametrize("flush_at_build", [False, True])
def test_subnormals_flushed_at_build_or_at_search_do_not_change_the_answer(monkeypatch: pytest.MonkeyPatch,
                                                                           flush_at_build: bool) -> None:
    # A process that reads subnormals as zero (DAZ) on one side only: a 1e-40 value times a 1e30
    # query is 1e-10, far above the rounding of these scores.
    import torch

    monkeypatch.setenv(SCREEN_ENV, "int16")
    pages = PackedPages.from_list([np.array([[-1e-40, 0.0]], np.float32), np.array([[0.0, -1e-12]], np.float32),
                                   np.array([[1e-40, 0.0], [2e-40, 0.0]], np.float32)])
    q = [np.array([[1e30, 0.0], [0.0, 1.0]], np.float32)]
    try:
        torch.set_flush_denormal(flush_at_build)
        sp = ScreenedPages.from_pages(pages)
        torch.set_flush_denormal(not flush_at_build)
        for k in (1, 2):
            got, want = sp.exact_topk(q, k), top_k(maxsim(q, pages), k)
            np.testing.assert_array_equal(got[1], want[1])
            assert got[0].tobytes() == want[0].tobytes()
    finally:
        torch.set_flush_denormal(False)


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_the_binary_rerank_through_the_screen_is_the_plain_rerank(monkeypatch: pytest.MonkeyPatch, dtype) -> None:
    from vertex_mm.late_interaction import BinaryPages, two_stage_search
    from vertex_mm.late_interaction import _rerank as rerank_mod

    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 90, size=120)
    pages = _pages(rng, lengths, 64, dtype)
    for i in range(1, 120, 7):  # duplicate pages: exact ties at the k-th score
        pages.tokens[pages.offsets[i] : pages.offsets[i + 1]] = np.resize(
            pages.tokens[pages.offsets[i - 1] : pages.offsets[i]], (int(lengths[i]), 64))
    binary = BinaryPages.from_pages(pages)
    screen = Int16Screen.from_pages(pages)
    queries = [rng.standard_normal((int(n), 64)).astype(np.float32) for n in rng.integers(1, 25, size=7)]
    rescored: list[int] = []
    widen = rerank_mod.widened_token_maxima
    monkeypatch.setattr(rerank_mod, "widened_token_maxima",
                        lambda q_t, p, ids, *a: rescored.append(len(ids)) or widen(q_t, p, ids, *a))
    for k, candidates in ((1, 1), (3, 40), (10, 120), (5, 64)):
        plain = two_stage_search(queries, binary, pages, k, candidates=candidates)
        n_plain = sum(rescored)
        rescored.clear()
        got = two_stage_search(queries, binary, pages, k, candidates=candidates, screen=screen)
        np.testing.assert_array_equal(got[1], plain[1])
        assert got[0].tobytes() == plain[0].tobytes()
        assert sum(rescored) <= n_plain
        if candidates >= 40:  # the bound rules most candidates out
            assert sum(rescored) < n_plain / 2, (k, candidates, sum(rescored), n_plain)
        rescored.clear()
    with pytest.raises(InputError, match="built from other pages"):
        two_stage_search(queries, binary, pages, 3, screen=Int16Screen.from_pages(_pages(rng, lengths[::-1], 64)))


@needs_kernel
@pytest.mark.parametrize("threads", [1, 3, 4])
def test_one_query_on_several_torch_threads_keeps_the_bits(threads: int) -> None:
    # torch's product of a few pages on 3+ threads gave other last bits than the scan's (MKL):
    # the rescoring runs on one torch thread, a single query's too.
    import torch

    from vertex_mm.late_interaction import BinaryPages, two_stage_search

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for seed in range(6):
            rng = np.random.default_rng(seed)
            base = [rng.standard_normal((17, 128)).astype(np.float32) for _ in range(32)]
            # Each page twice, its tokens shuffled: ties in exact arithmetic, decided by the last bit.
            pages = PackedPages.from_list([p for b in base for p in (b, b[rng.permutation(17)])])
            binary, screen = BinaryPages.from_pages(pages), Int16Screen.from_pages(pages)
            q = [rng.standard_normal((16, 128)).astype(np.float32)]
            plain = two_stage_search(q, binary, pages, 1, candidates=64)
            got = two_stage_search(q, binary, pages, 1, candidates=64, screen=screen)
            np.testing.assert_array_equal(got[1], plain[1])
            assert got[0].tobytes() == plain[0].tobytes()
            sp = ScreenedPages(pages, int16=screen)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(SCREEN_ENV, "int16")
                exact = sp.exact_topk(q, 3)
            want = top_k(maxsim(q, pages), 3)
            np.testing.assert_array_equal(exact[1], want[1])
            assert exact[0].tobytes() == want[0].tobytes()
    finally:
        torch.set_num_threads(before)


@needs_kernel
def test_a_screen_of_other_pages_of_the_same_lengths_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from vertex_mm.late_interaction import BinaryPages, two_stage_search

    monkeypatch.setenv(SCREEN_ENV, "int16")
    rng = np.random.default_rng(9)
    lengths = rng.integers(5, 40, size=40)
    pages, other = _pages(rng, lengths, 32), _pages(rng, lengths, 32)
    wrong = Int16Screen.from_pages(other)
    assert wrong.fits(pages)  # the same blocks: only the scores can tell
    q = [rng.standard_normal((6, 32)).astype(np.float32) for _ in range(3)]
    with pytest.raises(InputError, match="does not match these pages"):
        two_stage_search(q, BinaryPages.from_pages(pages), pages, 3, candidates=40, screen=wrong)
    with pytest.raises(InputError, match="does not match these pages"):
        ScreenedPages(pages, int16=wrong).exact_topk(q, 3)
