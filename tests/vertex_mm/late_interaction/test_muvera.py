"""MUVERA fixed-dimensional encodings: the vectorised encoder against the algorithm written
out token by token, determinism, the documented parameters, and that FDE inner products find
the MaxSim top pages."""

from __future__ import annotations

import numpy as np
import pytest
from page_fixtures import unit_rows

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import maxsim_reference
from vertex_mm.late_interaction.muvera import MuveraConfig, MuveraEncoder, cosine_documents, cosine_queries
from vertex_mm.late_interaction.packed import PackedPages


def reference_fde(enc: MuveraEncoder, points: np.ndarray, *, document: bool) -> np.ndarray:
    """The construction of the paper / google/graph-mining, one token and one partition at a
    time in float64, with the encoder's own random draws."""
    c = enc.config
    x = np.asarray(points, dtype=np.float64)
    blocks = []
    for rep in range(c.repetitions):
        sides = x @ enc.hyperplanes(rep).astype(np.float64)
        codes = [sum(1 << i for i in range(c.k_sim) if s[i] > 0) for s in sides]
        proj = enc.projection(rep)
        y = x if proj is None else x @ proj.astype(np.float64)
        out = np.zeros((c.partitions, c.block_dim))
        count = np.zeros(c.partitions)
        for t, code in enumerate(codes):
            out[code] += y[t]
            count[code] += 1
        for b in range(c.partitions):
            if not document:
                continue
            if count[b] > 0:
                out[b] /= count[b]
            elif c.fill_empty and c.k_sim > 0:
                dist = [bin(code ^ b).count("1") for code in codes]
                out[b] = y[int(np.argmin(dist))]  # argmin: the first token at the least distance
        blocks.append(out.ravel())
    fde = np.concatenate(blocks)
    sketch = enc.count_sketch()
    if sketch is None:
        return fde
    target, sign = sketch
    final = np.zeros(c.fde_dim)
    np.add.at(final, target, sign * fde)
    return final


@pytest.mark.parametrize("config", [
    dict(k_sim=3, repetitions=4, d_proj=8, fill_empty=True),
    dict(k_sim=3, repetitions=3, d_proj=None, fill_empty=True),
    dict(k_sim=2, repetitions=3, d_proj=4, d_final=40, fill_empty=True),
    dict(k_sim=4, repetitions=2, d_proj=8, fill_empty=False),
    dict(k_sim=0, repetitions=2, d_proj=8, fill_empty=True),
    dict(k_sim=3, repetitions=4, d_proj=8),  # the default: no fill
])
def test_documents_and_queries_match_the_algorithm_written_out(config: dict, ragged_pages: list[np.ndarray],
                                                                queries: list[np.ndarray]) -> None:
    enc = MuveraEncoder(MuveraConfig(dimension=32, seed=7, **config))
    docs = enc.encode_documents(ragged_pages, chunk_tokens=300)  # several chunks
    qs = enc.encode_queries(queries)
    assert docs.shape == (len(ragged_pages), enc.fde_dim) and docs.dtype == np.float32
    for i in (0, 5, 39):
        np.testing.assert_allclose(docs[i], reference_fde(enc, ragged_pages[i], document=True), atol=2e-5)
    for i, q in enumerate(queries):
        np.testing.assert_allclose(qs[i], reference_fde(enc, q, document=False), atol=2e-5)


def test_empty_partitions_are_filled_from_the_hamming_nearest_token(rng: np.random.Generator) -> None:
    # Three tokens cannot fill 64 partitions: most cells of a page come from the fill.
    enc = MuveraEncoder(MuveraConfig(dimension=16, k_sim=6, repetitions=2, d_proj=4, seed=1, fill_empty=True))
    page = unit_rows(rng, 3, 16)
    got = enc.encode_documents([page])[0]
    np.testing.assert_allclose(got, reference_fde(enc, page, document=True), atol=1e-5)
    assert np.count_nonzero(np.abs(got.reshape(-1, 4)).sum(1)) == 2 * 64  # no block left empty
    unfilled = MuveraEncoder(MuveraConfig(dimension=16, k_sim=6, repetitions=2, d_proj=4, seed=1, fill_empty=False))
    assert np.count_nonzero(np.abs(unfilled.encode_documents([page])[0].reshape(-1, 4)).sum(1)) <= 2 * 3


def test_the_same_seed_gives_the_same_encodings_and_another_seed_others(ragged_pages: list[np.ndarray]) -> None:
    a = MuveraEncoder(MuveraConfig(dimension=32, seed=3)).encode_documents(ragged_pages)
    b = MuveraEncoder(MuveraConfig(dimension=32, seed=3)).encode_documents(ragged_pages)
    c = MuveraEncoder(MuveraConfig(dimension=32, seed=4)).encode_documents(ragged_pages)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_chunking_and_float16_storage_do_not_change_the_encoding(ragged_pages: list[np.ndarray]) -> None:
    enc = MuveraEncoder(MuveraConfig(dimension=32, k_sim=3, repetitions=5, d_proj=8))
    packed16 = PackedPages.from_list(ragged_pages, dtype=np.float16)
    whole = enc.encode_documents(packed16, chunk_tokens=1 << 20)
    pieces = enc.encode_documents(packed16, chunk_tokens=1)  # one page per chunk
    # equal up to float32 rounding: BLAS may sum a product in another order for another row count
    np.testing.assert_allclose(whole, pieces, atol=1e-5)


def test_fde_length_follows_the_documented_parameters() -> None:
    assert MuveraConfig(dimension=128).fde_dim == 20 * 16 * 16
    assert MuveraConfig(dimension=128, k_sim=5, repetitions=20, d_proj=16).fde_dim == 10240  # the paper's setting
    assert MuveraConfig(dimension=128, k_sim=2, repetitions=3, d_proj=None).fde_dim == 3 * 4 * 128
    assert MuveraConfig(dimension=128, d_final=1024).fde_dim == 1024
    assert MuveraConfig(dimension=128, k_sim=3, repetitions=10, d_proj=8).tag() == "muvera-k3r10p8s0"
    assert MuveraConfig(dimension=128, k_sim=3, repetitions=10, d_proj=8, fill_empty=True).tag() == "muvera-k3r10p8es0"


def test_config_round_trips_and_refuses_bad_or_unknown_settings() -> None:
    cfg = MuveraConfig(dimension=64, k_sim=3, repetitions=7, d_proj=None, d_final=512, fill_empty=False, seed=9)
    assert MuveraConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (dict(k_sim=-1), dict(k_sim=17), dict(repetitions=0), dict(d_proj=0), dict(d_final=-3), dict(seed=-1),
                dict(dimension=0), dict(k_sim=True)):
        with pytest.raises(InputError):
            MuveraConfig(**{"dimension": 64, **bad})
    with pytest.raises(InputError, match="unknown"):
        MuveraConfig.from_dict({**cfg.to_dict(), "partitions_v2": 3})


def test_inputs_are_checked(ragged_pages: list[np.ndarray]) -> None:
    enc = MuveraEncoder(MuveraConfig(dimension=32))
    with pytest.raises(InputError):
        enc.encode_documents([np.ones((3, 16), np.float32)])
    bad = ragged_pages[0].copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError):
        enc.encode_documents([bad])
    with pytest.raises(InputError):
        enc.encode_queries([np.ones((2, 31), np.float32)])


def test_fde_inner_products_find_the_maxsim_top_pages(rng: np.random.Generator) -> None:
    # 300 random pages; each query copies (noisily) tokens of one page, which MaxSim then ranks
    # first. The FDE inner product must put that page among its first few candidates.
    d = 32
    pages = [unit_rows(rng, int(n), d) for n in rng.integers(20, 60, size=300)]
    targets = rng.choice(300, size=20, replace=False)
    queries = []
    for t in targets:
        rows = pages[t][rng.choice(len(pages[t]), size=8, replace=False)]
        noisy = rows + 0.3 * unit_rows(rng, 8, d)
        queries.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    exact = maxsim_reference(queries, pages)
    assert (exact.argmax(1) == targets).all()
    enc = MuveraEncoder(MuveraConfig(dimension=d, k_sim=3, repetitions=10, d_proj=8))
    scores = enc.encode_queries(queries) @ enc.encode_documents(pages).T
    ranks = [(scores[i] > scores[i, t]).sum() for i, t in enumerate(targets)]
    assert max(ranks) < 10, ranks
    assert np.mean(np.array(ranks) == 0) >= 0.8  # mostly first already


def test_cosine_form_keeps_the_inner_product_order(rng: np.random.Generator) -> None:
    docs = rng.standard_normal((50, 12)).astype(np.float32) * rng.uniform(0.1, 3, size=(50, 1)).astype(np.float32)
    qs = rng.standard_normal((4, 12)).astype(np.float32)
    unit_docs, scale = cosine_documents(docs)
    unit_qs = cosine_queries(qs)
    np.testing.assert_allclose(np.linalg.norm(unit_docs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit_qs @ unit_docs.T, (qs @ docs.T) / (np.linalg.norm(qs, axis=1, keepdims=True) * scale),
                               atol=1e-5)
    with pytest.raises(InputError):
        cosine_documents(docs * 2, scale=scale)


def test_a_token_next_to_a_hyperplane_keeps_its_partition_whatever_shares_the_batch():
    # The float32 product rounded differently with the batch's shape, and a token within that
    # rounding of a hyperplane changed partition: a query's FDE depended on the other queries.
    d, config = 128, MuveraConfig(dimension=128)
    enc = MuveraEncoder(config)
    planes = enc._matrix[:, : config.repetitions * config.k_sim].astype(np.float64)  # the SimHash hyperplanes
    rng = np.random.default_rng(0)
    for trial in range(200):
        q = rng.standard_normal((1, d))
        h = planes[:, trial % planes.shape[1]]
        q[0] -= (q[0] @ h) / (h @ h) * h  # onto the hyperplane, then a float32 hair off it
        q[0] += h / (h @ h) * rng.uniform(-2e-5, 2e-5)
        q = q.astype(np.float32)
        alone = enc.encode_queries([q])[0]
        batched = enc.encode_queries([q, rng.standard_normal((37, d)).astype(np.float32)])[0]
        np.testing.assert_allclose(alone, batched, atol=1e-4, err_msg=f"trial {trial}")
