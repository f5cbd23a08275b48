"""The nibble-table Hamming kernel (AVX2 ``vpshufb``): its layout, its tables and its integers.

It must give the popcount kernel's and numpy's integers for every page length around its
32-token blocks, every query length around its 4-token groups, 1- and 2-bit queries, and
blocks of pages on several threads; where it runs, the two-stage search has no 1-bit prefilter.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import BinaryPages, PackedPages, _kernel_choice, hamming_maxsim, maxsim, top_k, two_stage_search
from vertex_mm.late_interaction import binary as binary_mod
from vertex_mm.late_interaction.binary import binarize, hamming_kernel, prefilter_size

pytestmark = pytest.mark.skipif(not _kernel_choice._nibble_usable(), reason="the nibble kernel needs numba and AVX2")


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def nibble(monkeypatch):
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "nibble")


def test_planes_hold_each_code_byte_of_32_tokens_in_a_row():
    from vertex_mm.late_interaction._nibble_kernel import build_planes

    rng = np.random.default_rng(0)
    lengths = [1, 32, 33, 70]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    codes = rng.integers(0, 2**63, size=(offsets[-1], 2), dtype=np.uint64) | np.uint64(1)  # no all-zero token
    planes, block_offsets = build_planes(codes, offsets)
    assert block_offsets.tolist() == [0, 1, 2, 4, 7]
    assert planes.shape == (7, 16, 32) and planes.dtype == np.uint8
    as_bytes = codes.view(np.uint8).reshape(-1, 16)
    for p, n in enumerate(lengths):
        for t in range(n):
            blk, lane = block_offsets[p] + t // 32, t % 32
            np.testing.assert_array_equal(planes[blk, :, lane], as_bytes[offsets[p] + t])
        tail = block_offsets[p + 1] * 32 - block_offsets[p] * 32 - n  # padding lanes of the last block
        last = planes[block_offsets[p + 1] - 1]
        assert not last[:, 32 - tail :].any()


def test_query_tables_hold_the_weighted_distance_of_each_nibble():
    from vertex_mm.late_interaction._nibble_kernel import GROUP_TOKENS, query_tables

    rng = np.random.default_rng(1)
    q = rng.integers(0, 2**63, size=(5, 2), dtype=np.uint64)
    m = rng.integers(0, 2**63, size=(5, 2), dtype=np.uint64)
    tables = query_tables(q, m)
    assert tables.shape == (8, 32, 32) and 8 % GROUP_TOKENS == 0
    np.testing.assert_array_equal(tables[5:], np.broadcast_to(tables[0], (3, 32, 32)))  # padding: token 0
    np.testing.assert_array_equal(tables[:, :, :16], tables[:, :, 16:])  # both 128-bit halves
    bits = lambda w: np.unpackbits(w.view(np.uint8), bitorder="little")  # noqa: E731
    for i in range(5):
        qb, mb = bits(q[i]), bits(m[i])
        for n in range(32):
            for v in range(16):
                vb = np.array([(v >> j) & 1 for j in range(4)], np.uint8)
                x = qb[4 * n : 4 * n + 4] ^ vb
                assert tables[i, n, v] == x.sum() + (x & mb[4 * n : 4 * n + 4]).sum()


@pytest.mark.parametrize("query_bits", [1, 2])
def test_integers_equal_numpys_and_the_popcount_kernels(monkeypatch, query_bits):
    rng = np.random.default_rng(2)
    lengths = [1, 2, 31, 32, 33, 63, 64, 65, 95, 96, 97, 130, 5]
    pages = PackedPages.from_list([_unit(rng, n, 128) for n in lengths])
    codes = BinaryPages.from_pages(pages)
    queries = [_unit(rng, n, 128) for n in (1, 2, 3, 4, 5, 8, 9, 20)]  # 52 tokens: 13 groups of 4
    want = hamming_maxsim(queries, codes, query_bits=query_bits, use_numba=False)
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "popcount")
    np.testing.assert_array_equal(hamming_maxsim(queries, codes, query_bits=query_bits), want)
    assert not codes.has_planes  # the popcount kernel ran
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "nibble")
    got = hamming_maxsim(queries, codes, query_bits=query_bits)
    assert codes.has_planes  # the nibble kernel ran
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(hamming_maxsim(queries[3], codes, query_bits=query_bits), want[3:4])


@pytest.mark.usefixtures("nibble")
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_of_pages_on_several_threads(monkeypatch, threads):
    from vertex_mm.late_interaction import _hamming_kernel

    rng = np.random.default_rng(3)
    pages = PackedPages.from_list([_unit(rng, int(n), 128) for n in rng.integers(1, 80, size=23)])
    codes = BinaryPages.from_pages(pages)
    queries = [_unit(rng, n, 128) for n in (3, 7)]
    monkeypatch.setattr(binary_mod, "PAGE_BLOCK", 4)
    monkeypatch.setattr(_hamming_kernel, "thread_count", lambda: threads)
    for query_bits in (1, 2):
        np.testing.assert_array_equal(hamming_maxsim(queries, codes, query_bits=query_bits),
                                      hamming_maxsim(queries, codes, query_bits=query_bits, use_numba=False))


@pytest.mark.usefixtures("nibble")
def test_extreme_codes_reach_the_largest_distance_without_wrapping():
    # All-ones page tokens against an all-zero query token with a full half mask: 128 + 64 = 192
    # per token, the most a 2-bit query can weigh; and the all-zero token at distance 0.
    d = 128
    page = np.ones((40, d), np.float32)
    page[39] = -1.0  # one token at the other corner, in the second block
    codes = BinaryPages.from_pages([page, page[:33]])
    query = -np.ones((1, d), np.float32)
    query[0, : d // 2] = -2.0  # stronger half: the 2-bit mask marks it
    got = hamming_maxsim([query], codes, query_bits=2)
    want = hamming_maxsim([query], codes, query_bits=2, use_numba=False)
    np.testing.assert_array_equal(got, want)
    assert got[0, 1] == -192 and got[0, 0] == 192  # page 1 lacks the matching token (its 33 are all +1)


def test_kernel_choice_follows_the_cpu_and_the_override(monkeypatch):
    monkeypatch.delenv(binary_mod.KERNEL_ENV, raising=False)
    monkeypatch.setattr(_kernel_choice, "_has_vector_popcount", lambda: False)
    assert hamming_kernel() == "nibble"
    monkeypatch.setattr(_kernel_choice, "_has_vector_popcount", lambda: True)  # VPOPCNTQ: the popcount kernel
    assert hamming_kernel() == "popcount"
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "nibble")
    assert hamming_kernel() == "nibble"
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "POPCOUNT ")
    assert hamming_kernel() == "popcount"
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "simd")
    with pytest.raises(InputError, match="VERTEX_MM_HAMMING_KERNEL must be auto, nibble or popcount, got 'simd'"):
        hamming_kernel()


@pytest.mark.usefixtures("nibble")
def test_two_stage_search_scores_every_page_with_two_bits():
    rng = np.random.default_rng(4)
    pages = PackedPages.from_list([_unit(rng, int(n), 128) for n in rng.integers(1, 40, size=300)]).astype(np.float16)
    queries = [_unit(rng, n, 128) for n in (4, 11)]
    binary = BinaryPages.from_pages(pages)
    assert prefilter_size(10_000, 32) == 0 and prefilter_size(10_000, 32, prefilter=1000) == 0
    # Codes of other widths take the popcount kernel, and keep its opt-in prefilter.
    assert prefilter_size(10_000, 32, 1, dim=64) == prefilter_size(10_000, 32, 1, dim=256) == 8 * 32
    _, cand = top_k(hamming_maxsim(queries, binary, query_bits=2, use_numba=False), 5)
    scores, index = two_stage_search(queries, binary, pages, 3, candidates=5)
    for q, c, s, i in zip(queries, cand, scores, index):
        want_s, want_i = top_k(maxsim([q], pages, page_ids=np.sort(c)), 3)
        np.testing.assert_array_equal(s, want_s[0])
        np.testing.assert_array_equal(i, np.sort(c)[want_i[0]])


def test_binarize_order_matches_the_tables_nibble_order():
    # Nibble 2k is the low half of code byte k: dimension 4n + j is bit j of nibble n.
    v = -np.ones((1, 128), np.float32)
    v[0, 4 * 5 + 2] = 1.0  # nibble 5, bit 2
    byte = binarize(v).view(np.uint8)[0]
    assert byte[2] == 1 << 6 and byte.sum() == 1 << 6


def test_not_compiled_for_a_target_without_avx2(monkeypatch):
    # LLVM aborts the process on vpshufb for a target without AVX2: numba's target settings count.
    from vertex_mm.late_interaction import _nibble_kernel

    assert _nibble_kernel.available()
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert not _nibble_kernel.available()
    monkeypatch.setenv("NUMBA_CPU_NAME", "host")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+sse4.2,-avx2")
    assert not _nibble_kernel.available()
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+sse4.2,+avx2")
    assert _nibble_kernel.available()


def test_not_compiled_when_numba_runs_python(monkeypatch):
    import numba

    from vertex_mm.late_interaction import _nibble_kernel

    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert not _nibble_kernel.available()


@pytest.mark.usefixtures("nibble")
def test_unsigned_offsets_and_pickled_pages():
    import pickle

    rng = np.random.default_rng(5)
    pages = PackedPages.from_list([_unit(rng, n, 128) for n in (3, 40, 33)])
    signed = BinaryPages.from_pages(pages)
    q = [_unit(rng, 6, 128)]
    want = hamming_maxsim(q, signed, use_numba=False)
    unsigned = BinaryPages(signed.codes, signed.offsets.astype(np.uint32), 128)
    np.testing.assert_array_equal(hamming_maxsim(q, unsigned), want)
    again = pickle.loads(pickle.dumps(unsigned))  # without the lock and the planes
    assert not again.has_planes and unsigned.has_planes
    np.testing.assert_array_equal(hamming_maxsim(q, again), want)


@pytest.mark.usefixtures("nibble")
def test_searches_on_several_threads_at_once_build_the_planes_once():
    """Threads searching fresh pages at once, beside 64-d searches: numba's workqueue layer
    aborts the process when two threads enter parallel regions at once, so neither the 64-d
    kernel nor the planes' build may be one (the 64-d kernel was, and this test aborted)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(6)
    pages = PackedPages.from_list([_unit(rng, int(n), 128) for n in rng.integers(1, 90, size=400)])
    narrow = BinaryPages.from_pages(PackedPages.from_list([_unit(rng, int(n), 64) for n in rng.integers(1, 90, size=400)]))
    q = [_unit(rng, 9, 128)]
    q64 = [_unit(rng, 9, 64)]
    want = hamming_maxsim(q, BinaryPages.from_pages(pages), use_numba=False)
    want64 = hamming_maxsim(q64, narrow, use_numba=False)
    for _ in range(3):
        shared = BinaryPages.from_pages(pages)
        with ThreadPoolExecutor(6) as ex:
            wide = [ex.submit(hamming_maxsim, q, shared) for _ in range(4)]
            fresh = [ex.submit(hamming_maxsim, q, BinaryPages.from_pages(pages)) for _ in range(4)]
            small = [ex.submit(hamming_maxsim, q64, narrow) for _ in range(4)]
            for f in wide + fresh:
                np.testing.assert_array_equal(f.result(), want)
            for f in small:
                np.testing.assert_array_equal(f.result(), want64)


def test_not_compiled_when_numbas_config_file_names_another_cpu(tmp_path):
    # numba reads .numba_config.yaml from the working directory at import: a generic target there
    # must keep the kernel off (LLVM aborted the process on it).
    import subprocess
    import sys

    (tmp_path / ".numba_config.yaml").write_text("cpu_name: generic\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    code = ("from vertex_mm.late_interaction._nibble_kernel import available; "
            "from vertex_mm.late_interaction.binary import hamming_kernel; print(available(), hamming_kernel())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "popcount"]


def test_numba_refusing_its_settings_turns_the_kernels_off_instead_of_failing_saves(tmp_path):
    # NUMBA_NUM_THREADS=0 makes `import numba` raise ValueError, not ImportError: save(), the
    # binary search and the screened search failed with it instead of running on numpy.
    import subprocess
    import sys

    code = """if True:
        import numpy as np
        from vertex_mm.index import MultiVectorIndex
        from vertex_mm.results import EmbeddingSpace
        rng = np.random.default_rng(0)
        idx = MultiVectorIndex(EmbeddingSpace("test", "rand-mv", 128))
        idx.screen_pages_per_k = 0
        for i in range(50):
            idx.add(f"d{i}", [rng.standard_normal((20, 128)).astype(np.float16)])
        q = [rng.standard_normal((6, 128)).astype(np.float32)]
        exact = [h.key for h in idx.search(q, k=5, mode="exact")[0]]
        assert [h.key for h in idx.search(q, k=5, mode="screened")[0]] == exact
        assert [h.key for h in idx.search(q, k=5, mode="binary", candidates=50)[0]] == exact
        idx.save("idx")
        print("ok")
    """
    env = {**os.environ, "NUMBA_NUM_THREADS": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr
    assert "numba refused its settings" in out.stderr and "NUMBA_NUM_THREADS" in out.stderr
