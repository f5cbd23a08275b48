"""The certified bfloat16 screen: its bound always holds, and the screened top-k is the float32 top-k."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_modules import import_benchmark

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import PackedPages, maxsim, maxsim_topk, pack_queries, top_k
from vertex_mm.late_interaction.screened import U_BF16, ScreenedPages

# The screen is what these tests check: run it whatever the CPU (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("native_bf16")

pytest.importorskip("torch")


def _rows(rng: np.random.Generator, n: int, d: int, scale: float | np.ndarray = 1.0) -> np.ndarray:
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return (x * scale).astype(np.float32)


def _screen(queries: list[np.ndarray], sp: ScreenedPages) -> tuple[np.ndarray, np.ndarray]:
    """(bfloat16 screened scores, their bound), both (Q, P), with small blocks (ragged paths)."""
    return sp.screen_scores(pack_queries(queries, dim=sp.pages.dim)[0], block_tokens=300)


def _random_case(rng: np.random.Generator, dtype: type) -> tuple[list[np.ndarray], PackedPages]:
    dim = int(rng.choice([8, 32, 128]))
    n_pages = int(rng.integers(5, 30))
    # Varied norms (0.01..10 per token) and ragged pages: the bound must not assume unit vectors.
    pages = [_rows(rng, int(rng.integers(1, 80)), dim, rng.uniform(0.01, 10, size=(1, 1))) for _ in range(n_pages)]
    n_queries = int(rng.integers(1, 5))
    queries = [_rows(rng, int(rng.integers(1, 33)), dim, rng.uniform(0.01, 10, size=(1, 1))) for _ in range(n_queries)]
    return queries, PackedPages.from_list(pages, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_bound_is_never_violated_over_many_random_cases(dtype):
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(60):
        queries, packed = _random_case(rng, dtype)
        sp = ScreenedPages.from_pages(packed)
        approx, eps = _screen(queries, sp)
        exact = maxsim(queries, packed).astype(np.float64)
        ratio = np.abs(approx - exact) / eps
        worst = max(worst, float(ratio.max()))
        assert np.all(np.abs(approx - exact) <= eps)
    assert 0.02 < worst < 1.0  # the errors are real, and stay inside the bound


def test_bound_is_tighter_than_the_worst_case_and_errors_are_real():
    rng = np.random.default_rng(3)
    pages = [_rows(rng, 300, 128) for _ in range(30)]
    queries = [_rows(rng, 20, 128) for _ in range(4)]
    sp = ScreenedPages.from_pages(pages)
    approx, eps = _screen(queries, sp)
    err = np.abs(approx - maxsim(queries, pages))
    # Unit vectors, 20 tokens: the textbook bound (2u inputs + u output per token) is 20 * 3u.
    assert eps.max() < 0.6 * 20 * 3 * U_BF16
    assert err.max() > eps.min() / 30  # within ~an order of magnitude of what actually happens


def _assert_identical(queries, pages, k, **kw):
    want_s, want_i = top_k(maxsim(queries, pages), k)
    got_s, got_i = ScreenedPages.from_pages(pages, **kw).exact_topk(queries, k)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)  # bit for bit, not approximately
    assert got_s.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_topk_is_identical_to_float32_with_near_ties_and_exact_ties(dtype):
    rng = np.random.default_rng(11)
    base = [_rows(rng, 40, 64) for _ in range(30)]
    pages = list(base)
    for src in range(0, 30, 3):
        twin = base[src].copy()
        twin[0] = np.nextafter(twin[0], np.float32(2))  # one ulp away: near-tie with its source
        pages.append(twin)
        pages.append(base[src].copy())  # exact tie: breaks toward the lower page index
    packed = PackedPages.from_list(pages, dtype=dtype)
    queries = [_rows(rng, n, 64) for n in (20, 20, 5, 31)]
    queries[1] = np.vstack([pages[4], pages[4]])[:20] * 0.3  # a strong match for page 4 and its twins
    for k in (1, 5, 17, len(pages) + 3):
        _assert_identical(queries, packed, k)


def test_single_short_query_takes_the_few_tokens_orientation_and_still_matches():
    rng = np.random.default_rng(5)
    pages = [_rows(rng, 50, 32) for _ in range(25)]  # equal lengths + < 64 query tokens: the "few" path
    _assert_identical([_rows(rng, 12, 32)], pages, 4)


def test_ragged_pages_match(ragged_pages, queries):
    _assert_identical(queries, ragged_pages, 6)


def _bench_module():
    return import_benchmark("bench_maxsim")


@pytest.mark.slow
def test_planted_benchmark_data_gives_the_float32_answer_and_screens_most_pages_out():
    bench = _bench_module()
    args = bench.argparse.Namespace(pages=300, tokens=1030, dim=128, queries=16, query_tokens=20, plant_cos=0.5, plant_frac=0.5,
                                    seed=0)
    pages, queries, relevant = bench.make_data(args)
    packed = PackedPages(pages.reshape(-1, args.dim), np.arange(args.pages + 1, dtype=np.int64) * args.tokens)
    sp = ScreenedPages.from_pages(packed)
    want = top_k(maxsim(list(queries), packed), 5)
    got = sp.exact_topk(list(queries), 5)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert (got[1][:, 0] == relevant).mean() > 0.5
    approx, eps = _screen(list(queries), sp)
    lower = -np.sort(-(approx - eps), axis=1)[:, 4:5]
    assert ((approx + eps) >= lower).mean() < 0.25  # the screen rules out most pages


def test_maxsim_topk_takes_the_screened_path_and_falls_back_for_bfloat16(ragged_pages, queries):
    sp = ScreenedPages.from_pages(ragged_pages)
    want = top_k(maxsim(queries, ragged_pages), 3)
    got = maxsim_topk(queries, sp, 3)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    bf = maxsim_topk(queries, sp, 3, compute="bfloat16")
    np.testing.assert_array_equal(bf[1], top_k(maxsim(queries, ragged_pages, compute="bfloat16"), 3)[1])


def test_bad_query_dimension_is_an_input_error(ragged_pages):
    with pytest.raises(InputError, match="dimension"):
        ScreenedPages.from_pages(ragged_pages).exact_topk([np.ones((3, 31), np.float32)], 2)


def test_k_zero_returns_empty(ragged_pages, queries):
    s, i = ScreenedPages.from_pages(ragged_pages).exact_topk(queries, 0)
    assert s.shape == (3, 0) and i.shape == (3, 0)


def test_top_k_breaks_ties_at_the_kth_score_toward_the_lower_index():
    # argpartition alone may keep any of the tied columns; top_k must keep the lowest ones.
    scores = np.array([[5.0] + [1.0] * 40 + [3.0] * 3], np.float32)
    vals, idx = top_k(scores, 3)
    assert idx.tolist() == [[0, 41, 42]] and vals.tolist() == [[5.0, 3.0, 3.0]]
    vals, idx = top_k(scores, 6)
    assert idx.tolist() == [[0, 41, 42, 43, 1, 2]]


@pytest.mark.parametrize("dim", [32, 64, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_topk_is_bit_identical_on_ragged_pages_and_queries_of_several_lengths(dim, seed):
    """Rescoring page by page with a subset of query columns rounded differently from the full
    scan in the last bit here (BLAS blocks by shape); the survivors are rescored by maxsim."""
    rng = np.random.default_rng(seed)
    pages = [_rows(rng, int(n), dim) for n in rng.integers(5, 90, size=150)]
    packed = PackedPages.from_list(pages)
    queries = [_rows(rng, int(n), dim) for n in rng.integers(3, 26, size=7)]
    live = rng.random(len(pages)) > 0.1
    want_s, want_i = top_k(np.where(live, maxsim(queries, packed), -np.inf).astype(np.float32), 5)
    got_s, got_i = ScreenedPages.from_pages(packed).exact_topk(queries, 5, live=live)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


@pytest.mark.parametrize("layouts", ["checked", "scan's only", "none"])
def test_exact_topk_is_bit_identical_whichever_rescoring_layout_the_check_allows(monkeypatch, layouts):
    """The rescoring takes the query-rows layout where the column check passes, else the scan's
    layout, else all the query columns at once (_rescore_all): each gives the scan's top k."""
    from vertex_mm.late_interaction import screened

    real = screened._columns_independent

    def allowed(dim: int, width: int, full_width: int, few: bool, rescore_few: bool | None = None) -> bool:
        if layouts == "none" or (layouts == "scan's only" and rescore_few not in (None, few)):
            return False
        return real(dim, width, full_width, few, rescore_few)

    monkeypatch.setattr(screened, "_columns_independent", allowed)
    rng = np.random.default_rng(11)
    pages = [_rows(rng, int(n), 64) for n in rng.integers(5, 70, size=140)]
    packed = PackedPages.from_list(pages, dtype=np.float16)
    queries = [_rows(rng, int(n), 64) for n in rng.integers(3, 26, size=6)]
    live = rng.random(len(pages)) > 0.1
    want_s, want_i = top_k(np.where(live, maxsim(queries, packed), -np.inf).astype(np.float32), 5)
    got_s, got_i = ScreenedPages.from_pages(packed).exact_topk(queries, 5, live=live)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_per_query_rescoring_is_bit_identical_with_tiny_pages_and_narrow_queries(seed):
    """Each query rescores only its own pages with its own columns: products narrower than
    MIN_PRODUCT_SIDE would round differently, so the scorer pads them; pages of 1-11 rows and
    queries of 1-5 tokens exercise exactly those shapes, with live masks and exact ties."""
    rng = np.random.default_rng(seed)
    dim = int(rng.choice([8, 32, 128]))
    pages = [_rows(rng, int(n), dim) for n in rng.integers(1, 12, size=120)]
    pages += [pages[i].copy() for i in range(0, 120, 7)]  # exact ties
    packed = PackedPages.from_list(pages, dtype=np.float16 if seed % 2 else np.float32)
    queries = [_rows(rng, int(n), dim) for n in rng.integers(1, 6, size=int(rng.integers(1, 9)))]
    live = rng.random(len(pages)) > 0.15
    sp = ScreenedPages.from_pages(packed)
    full = np.where(live, maxsim(queries, packed), -np.inf).astype(np.float32)
    for k in (1, 4, 9):
        want_s, want_i = top_k(full, k)
        got_s, got_i = sp.exact_topk(queries, k, live=live)
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_array_equal(got_s, want_s)


def test_scores_of_a_page_subset_or_one_query_have_the_full_scans_bits():
    rng = np.random.default_rng(9)
    pages = [_rows(rng, int(n), 64) for n in rng.integers(1, 40, size=90)]
    queries = [_rows(rng, int(n), 64) for n in (3, 20, 7, 1)]
    full = maxsim(queries, pages)
    for ids in (np.array([5]), np.array([3, 70, 2]), np.arange(0, 90, 4)):
        np.testing.assert_array_equal(maxsim(queries, pages, page_ids=ids), full[:, ids])
    q_pad = pack_queries(queries, dim=64)[0]
    for i in range(len(queries)):  # one query, padded to the batch's width, as exact_topk rescores it
        np.testing.assert_array_equal(maxsim(q_pad[i : i + 1], pages)[0], full[i])



def test_the_column_check_keeps_a_bounded_number_of_shapes():
    """A server sees query blocks of ever new widths: the once-per-shape check keeps only the
    last COLUMN_CHECKS_KEPT results, and widths below the padded product side are one shape."""
    from vertex_mm.late_interaction import screened

    assert screened._columns_check.cache_info().maxsize == screened.COLUMN_CHECKS_KEPT
    screened._columns_check.cache_clear()
    for width in range(1, 17):  # every width pads to 16 columns: one check
        assert screened._columns_independent(8, width, width, True)
    assert screened._columns_check.cache_info().currsize == 1
    for full_width in range(16, 16 + screened.COLUMN_CHECKS_KEPT + 8):
        screened._columns_independent(8, 16, full_width, False)
    assert screened._columns_check.cache_info().currsize == screened.COLUMN_CHECKS_KEPT


def test_the_column_check_is_made_per_thread_count_and_leaves_the_callers_count():
    import torch

    from vertex_mm.late_interaction import screened

    before = torch.get_num_threads()
    screened._columns_check.cache_clear()
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            assert screened._columns_independent(32, 20, 80, False)
            assert torch.get_num_threads() == threads  # a check at one thread put the caller's count back
        info = screened._columns_check.cache_info()
        assert (info.currsize, info.misses, info.hits) == (2, 2, 1)  # 1 and 2 threads: one check each
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_widened_maxima_in_either_layout_match_the_scan_on_ragged_pages(dtype):
    """The rescoring multiplies one query's tokens by blocks of its pages widened into a buffer,
    in the layout with the query tokens on the rows (split into runs of one page length): the
    same float32 maxima as the scan's layout, page for page, in any order of pages."""
    import torch

    from vertex_mm.late_interaction._rerank import rows_buffer, widened_token_maxima
    from vertex_mm.late_interaction.maxsim import token_maxima

    rng = np.random.default_rng(3)
    lengths = [int(n) for n in rng.choice([5, 16, 40, 1030], size=60)]
    packed = PackedPages.from_list([_rows(rng, n, 64) for n in lengths], dtype=dtype)
    q_t = torch.from_numpy(_rows(rng, 20, 64)).T.contiguous()
    want = token_maxima(q_t, torch.from_numpy(packed.tokens.astype(np.float32)), packed.offsets, packed.lengths, 8192)
    ids = rng.permutation(len(lengths))[:45]
    buf = rows_buffer(packed, ids)
    for few in (True, False):
        got = widened_token_maxima(q_t, packed, ids, buf, few)
        np.testing.assert_allclose(got.numpy(), want.numpy()[ids], rtol=0, atol=1e-6)


def test_a_live_mask_of_the_wrong_shape_or_kind_is_a_typed_error():
    rng = np.random.default_rng(0)
    sp = ScreenedPages.from_pages(PackedPages.from_list([_rows(rng, 5, 8) for _ in range(6)]))
    queries = [_rows(rng, 3, 8)]
    for live in (np.ones(5, bool), np.array([0, 2, 4]), np.ones(6, int)):
        with pytest.raises(InputError, match="live must be a boolean mask of the 6 pages"):
            sp.exact_topk(queries, 2, live=live)
