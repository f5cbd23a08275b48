"""The fused MaxSim scorer against the float64 definition."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import PackedPages, maxsim, maxsim_reference, maxsim_topk, pack_queries, top_k


@pytest.mark.parametrize("block_tokens", [1, 37, 100_000])
def test_float32_scores_equal_the_definition_for_ragged_pages(ragged_pages, queries, block_tokens):
    got = maxsim(queries, ragged_pages, block_tokens=block_tokens)
    np.testing.assert_allclose(got, maxsim_reference(queries, ragged_pages), atol=1e-5)


def test_equal_length_pages_take_the_reshape_path_and_agree(rng, queries):
    pages = [rng.standard_normal((16, 32)).astype(np.float32) for _ in range(9)]
    np.testing.assert_allclose(maxsim(queries, pages, block_tokens=48), maxsim_reference(queries, pages), rtol=1e-5, atol=1e-4)


def test_padded_batch_with_mask_scores_like_the_list(ragged_pages, queries):
    padded, mask = PackedPages.from_list(ragged_pages).to_padded()
    # Padding rows are zero: without the mask a zero row would beat all-negative dot products.
    np.testing.assert_allclose(maxsim(queries, padded, page_mask=mask), maxsim(queries, ragged_pages), atol=1e-6)


def test_mask_matters_when_every_real_dot_product_is_negative():
    q = [np.ones((1, 4), np.float32)]
    page = -np.ones((1, 3, 4), np.float32)
    page[0, 2] = 0.0  # a padding row
    mask = np.array([[True, True, False]])
    assert maxsim(q, page, page_mask=mask)[0, 0] == pytest.approx(-4.0)


def test_float16_pages_are_scored_as_stored(ragged_pages, queries):
    packed16 = PackedPages.from_list(ragged_pages, dtype=np.float16)
    expected = maxsim_reference(queries, [packed16.page(i).astype(np.float64) for i in range(len(packed16))])
    np.testing.assert_allclose(maxsim(queries, packed16), expected, atol=1e-5)


@pytest.mark.usefixtures("native_bf16")  # else bfloat16 computes float32 (test_emulated_bf16.py)
def test_bfloat16_arithmetic_stays_within_its_rounding(ragged_pages, queries):
    exact = maxsim_reference(queries, ragged_pages)
    got = maxsim(queries, ragged_pages, compute="bfloat16")
    # Unit vectors: each product term is rounded to 8 significant bits on input and output.
    n_tokens = np.array([q.shape[0] for q in queries])[:, None]
    assert np.all(np.abs(got - exact) <= n_tokens * 3 * 2.0**-8)


def test_queries_of_different_lengths_are_zero_padded_without_changing_scores(ragged_pages, queries):
    one_by_one = np.vstack([maxsim([q], ragged_pages) for q in queries])
    np.testing.assert_allclose(maxsim(queries, ragged_pages), one_by_one, atol=1e-6)
    padded, mask = pack_queries(queries)
    assert padded.shape == (3, 12, 32) and mask.sum() == 22


def test_top_k_orders_best_first_and_breaks_ties_by_page_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 0.5]], np.float32)
    vals, idx = top_k(scores, 3)
    assert idx.tolist() == [[1, 2, 3]] and vals.tolist() == [[3.0, 3.0, 2.0]]
    assert top_k(scores, 10)[1].shape == (1, 5)


def test_maxsim_topk_finds_the_page_holding_the_query_tokens(ragged_pages, queries):
    pages = list(ragged_pages)
    pages[17] = np.vstack([pages[17], queries[1]])  # the page literally contains query 1's tokens
    _, idx = maxsim_topk(queries, pages, 1)
    assert idx[1, 0] == 17


@pytest.mark.parametrize(
    "bad, message",
    [
        ([np.zeros((0, 32), np.float32)], "no vectors"),
        ([np.zeros((3, 31), np.float32)], "dimension 31"),
        ([np.full((2, 32), np.nan, np.float32)], "NaN"),
        ([np.full((2, 32), np.nan, np.float16)], "page #1 contains NaN"),
        ([np.full((2, 32), -np.inf, np.float16)], "page #1 contains NaN or infinite"),
    ],
)
def test_bad_pages_raise_input_error_naming_the_page(queries, bad, message):
    with pytest.raises(InputError, match=message):
        maxsim(queries, [np.ones((4, 32), np.float32)] + bad)


def test_every_finite_float16_page_value_is_accepted():
    # float16 pages are checked by their bits: every finite pattern passes, every other fails.
    from vertex_mm.late_interaction import PackedPages

    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite = every[np.isfinite(every)]
    assert len(PackedPages.from_list([finite.reshape(-1, 8)], dtype=np.float16).tokens) == len(finite) // 8
    for bad in every[~np.isfinite(every)][::97]:
        page = finite[:8].copy()
        page[3] = bad
        with pytest.raises(InputError, match="NaN or infinite"):
            PackedPages.from_list([page.reshape(1, 8)], dtype=np.float16)


def test_unknown_compute_is_rejected(ragged_pages, queries):
    with pytest.raises(InputError, match="compute"):
        maxsim(queries, ragged_pages, compute="int4")  # type: ignore[arg-type]


def test_page_ids_score_a_subset_in_the_given_order(ragged_pages, queries):
    ids = [33, 2, 17, 2, 39]
    full = maxsim(queries, ragged_pages)
    np.testing.assert_allclose(maxsim(queries, ragged_pages, page_ids=ids, block_tokens=50), full[:, ids], atol=1e-6)
    with pytest.raises(InputError, match="page_ids"):
        maxsim(queries, ragged_pages, page_ids=[40])


@pytest.mark.parametrize("lengths", [(3, 1, 7, 2, 5), (4, 4, 4, 4)])
@pytest.mark.parametrize("indices", [[2, 0, 3], [1, 1, 0], [3], []])
def test_every_store_gathers_the_same_rows_as_page_by_page_slices(lengths, indices):
    """PackedPages, BinaryPages and DevicePages select pages through gather_rows: the rows of
    each chosen page in the given order (repeats and no pages included), offsets end to end."""
    from vertex_mm.late_interaction import BinaryPages, DevicePages
    from vertex_mm.late_interaction.packed import gather_rows

    rng = np.random.default_rng(4)
    packed = PackedPages.from_list([rng.standard_normal((n, 70)) for n in lengths], dtype=np.float16)
    want_rows = np.concatenate([np.arange(packed.offsets[i], packed.offsets[i + 1]) for i in indices] or [[]])
    want_offsets = np.concatenate([[0], np.cumsum([lengths[i] for i in indices])])
    rows, offsets = gather_rows(packed.offsets, indices)
    assert rows.dtype == offsets.dtype == np.int64
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(offsets, want_offsets)
    got = packed.select(indices)
    assert got.tokens.dtype == np.float16 and got.tokens.shape == (want_rows.size, 70)
    np.testing.assert_array_equal(got.tokens, packed.tokens[want_rows.astype(np.int64)])
    np.testing.assert_array_equal(got.offsets, want_offsets)
    codes = BinaryPages.from_pages(packed)
    np.testing.assert_array_equal(codes.select(indices).codes, codes.codes[want_rows.astype(np.int64)])
    np.testing.assert_array_equal(codes.select(indices).offsets, want_offsets)
    torch = pytest.importorskip("torch")
    held = DevicePages.from_pages(packed, torch.device("cpu")).select(indices)
    np.testing.assert_array_equal(held.tokens.numpy(), got.tokens)
    np.testing.assert_array_equal(held.offsets, want_offsets)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_the_integer_max_equals_the_float_max_whatever_the_signs(rng, dtype):
    """_amax compares bfloat16/float32 bits as integers: right where every maximum is >= +0,
    and it must fall back to the float max where some maximum is negative (or -0)."""
    import torch

    from vertex_mm.late_interaction.maxsim import _amax

    x = torch.from_numpy(rng.standard_normal((5, 40, 24)).astype(np.float32)).to(getattr(torch, dtype))
    cases = {"mixed": x, "positive": x.abs() + 0.5, "one all-negative column": x.clone(),
             "all negative": -(x.abs() + 0.5), "zeros of both signs": torch.zeros_like(x)}
    cases["one all-negative column"][2, :, 7] = -(x[2, :, 7].abs() + 1)
    cases["zeros of both signs"][:, ::2] = -0.0
    for name, t in cases.items():
        for dim in (1, -1):
            want = t.amax(dim)
            got = _amax(t, dim)
            assert got.dtype == t.dtype
            assert torch.equal(got, want), name  # -0 == +0 here, as for the float max


def test_a_querys_scores_do_not_depend_on_the_other_queries_of_its_batch():
    # Each query was summed over the batch's longest length (zeros after its own tokens), and
    # torch adds a row in an order that depends on its length: other last bits in a batch.
    from vertex_mm.late_interaction import PackedPages

    rng = np.random.default_rng(11)
    pages = PackedPages.from_list([rng.standard_normal((int(n), 24)).astype(np.float32) for n in rng.integers(1, 60, 200)])
    for n_a, n_b in [(5, 20), (1, 33), (7, 8), (19, 64)]:
        a = rng.standard_normal((n_a, 24)).astype(np.float32)
        b = rng.standard_normal((n_b, 24)).astype(np.float32)
        alone = maxsim([a], pages)[0]
        np.testing.assert_array_equal(maxsim([a, b], pages)[0], alone)
        np.testing.assert_array_equal(maxsim([b, a], pages)[1], alone)
        padded = np.zeros((2, max(n_a, n_b), 24), np.float32)  # a zero-padded batch is taken apart again
        padded[0, :n_a], padded[1, :n_b] = a, b
        np.testing.assert_array_equal(maxsim(padded, pages)[0], alone)


def test_one_search_ranks_alike_in_every_mode_whatever_the_batch():
    # The reviewer's case: two pages tied for a 5-token query alone; batched with a 20-token
    # query, the scan's sum broke the tie the other way, and binary mode (which sums each query
    # alone) disagreed with exact and screened in the same search.
    from vertex_mm.index import MultiVectorIndex
    from vertex_mm.results import EmbeddingSpace

    d, e = 8, 2.0**-24
    y = np.zeros((1, d), np.float32)
    y[0, 0] = 1.0
    x = np.zeros((1, d), np.float32)
    x[0, :5] = [e, e, e, e, 1.0]
    a, b = np.eye(d, dtype=np.float32)[:5], np.ones((20, d), np.float32)
    idx = MultiVectorIndex(EmbeddingSpace("test", "mv", d), dtype="float32")
    idx.add("Y", [y])
    idx.add("X", [x])
    answers = {(mode, len(batch)): [(h.doc_id, h.score) for h in idx.search(batch, k=1, mode=mode)[0]]
               for mode in ("exact", "screened", "binary") for batch in ([a], [a, b])}
    assert len(set(map(tuple, answers.values()))) == 1, answers


def test_vectors_of_no_dimension_are_refused():
    # Zero-dimensional vectors passed every check and failed deep in a reshape, untyped.
    from vertex_mm.results import EmbeddingSpace

    with pytest.raises(InputError, match="page #0 has vectors of dimension 0"):
        maxsim([np.zeros((2, 0), np.float32)], [np.zeros((3, 0), np.float32)])
    with pytest.raises(ValueError, match="positive integer dimension, got 0"):
        EmbeddingSpace("t", "m", 0)
    # A numpy integer (a shape taken from an array) is a dimension, kept as a plain int.
    space = EmbeddingSpace("t", "m", np.int64(8))
    assert type(space.dimension) is int and space == EmbeddingSpace("t", "m", 8) and space.id == "t/m/8"


@pytest.mark.parametrize("k", [2.5, None, "2", -1, True])
def test_k_must_be_a_whole_number_on_every_path(ragged_pages, queries, k):
    from vertex_mm.late_interaction import ScreenedPages, maxsim_topk

    packed = PackedPages.from_list(ragged_pages)
    for pages in (packed, ScreenedPages.from_pages(packed)):
        with pytest.raises(InputError, match="k must be an integer >= 0"):
            maxsim_topk(queries, pages, k)
    with pytest.raises(InputError, match="k must be an integer >= 0"):
        ScreenedPages.from_pages(packed).exact_topk(queries, k)


def test_queries_beyond_float32_are_refused_by_name():
    with pytest.raises(InputError, match="query #1 has values up to 1e\\+39, beyond float32's range"):
        maxsim([np.ones((2, 4)), np.full((2, 4), 1e39)], [np.ones((3, 4), np.float32)])
