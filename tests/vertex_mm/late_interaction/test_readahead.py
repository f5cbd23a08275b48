"""Read-ahead hints for the rows a rerank gathers from a memory-mapped token file."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from vertex_mm.late_interaction._readahead import advise_rows, advised_ranges
from vertex_mm.late_interaction.packed import PackedPages


def test_ranges_are_page_aligned_merged_and_skip_empty_runs() -> None:
    # rows of 256 bytes, row 0 at byte 128 of the mapping, 4 kB pages
    got = list(advised_ranges(128, 256, np.array([3, 0, 10, 40, 60]), np.array([5, 2, 10, 41, 61]), page_size=4096))
    # rows 0-1 and 3-4 share the first page; row 10 is empty; rows 40 and 60 lie in pages of their own
    assert got == [(0, 128 + 5 * 256), (8192, 128 + 41 * 256 - 8192), (12288, 128 + 61 * 256 - 12288)]
    assert list(advised_ranges(0, 256, np.array([], np.int64), np.array([], np.int64))) == []
    # a run longer than one hint's worth is advised in page-aligned pieces that cover it exactly
    pieces = list(advised_ranges(128, 256, np.array([0]), np.array([1030]), page_size=4096, max_bytes=65536))
    assert [p[0] for p in pieces] == [0, 65536, 131072, 196608, 262144]
    assert all(n == 65536 for _, n in pieces[:-1]) and sum(n for _, n in pieces) == 128 + 1030 * 256


@pytest.fixture
def advised(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every range advise_rows hands to madvise."""
    from vertex_mm.late_interaction import _readahead

    seen: list[tuple[int, int]] = []
    real = _readahead.advised_ranges

    def spy(*args, **kwargs):
        for r in real(*args, **kwargs):
            seen.append(r)
            yield r

    monkeypatch.setattr(_readahead, "advised_ranges", spy)
    return seen


@pytest.fixture
def mapped(tmp_path) -> tuple[np.ndarray, np.ndarray]:
    rows = np.random.default_rng(0).random((6000, 128)).astype(np.float16)
    np.save(tmp_path / "tokens.npy", rows)
    return rows, np.load(tmp_path / "tokens.npy", mmap_mode="r")


@pytest.mark.skipif(not hasattr(mmap, "MADV_WILLNEED"), reason="no madvise on this platform")
def test_the_ranges_given_for_a_memory_map_are_ones_the_kernel_accepts(mapped) -> None:
    _, mm = mapped
    starts, stops = np.array([5900, 0, 3000]), np.array([6000, 343, 3343])
    raw = mm._mmap
    origin = mm.ctypes.data - np.frombuffer(raw, np.uint8).ctypes.data
    assert origin == mm.offset  # np.load's header: the rows start after it
    ranges = list(advised_ranges(origin, mm.strides[0], starts, stops))
    assert len(ranges) == 3 and ranges[-1][0] + ranges[-1][1] == mm.offset + 6000 * 256  # ends at the last row
    for offset, length in ranges:
        raw.madvise(mmap.MADV_WILLNEED, offset, length)  # raises if misaligned or outside the map
    advise_rows(mm, starts, stops)
    view = mm[1000:]  # a view of the map: its rows are found through the same mapping
    assert getattr(view, "_mmap", None) is raw
    advise_rows(view, starts - 1000, stops - 1000)


@pytest.mark.skipif(not hasattr(mmap, "MADV_WILLNEED"), reason="no madvise on this platform")
def test_gathers_from_a_memory_map_and_its_views_advise_their_rows_and_copy_the_same_ones(mapped, advised) -> None:
    rows, mm = mapped
    offsets = np.arange(0, 6001, 300)
    for tokens, base in ((mm, rows), (mm[3000:], rows[3000:])):
        advised.clear()
        pages = PackedPages(tokens, offsets[offsets <= tokens.shape[0]])
        got = pages.select([7, 2, 7, 0])
        np.testing.assert_array_equal(got.tokens, np.concatenate([base[2100:2400], base[600:900], base[2100:2400], base[:300]]))
        origin = mm.offset + (3000 * 256 if tokens is not mm else 0)  # a view's rows start further in
        covered = set()
        for offset, length in advised:
            covered.update(range(offset, offset + length))
        for a in (0, 600, 2100):  # the first and last byte of each page asked for
            assert {origin + a * 256, origin + (a + 300) * 256 - 1} <= covered


def test_arrays_that_are_not_memory_maps_are_left_alone(advised) -> None:
    advise_rows(np.zeros((10, 4), np.float32), np.array([0]), np.array([5]))
    advise_rows(np.zeros((10, 4), np.float32)[:, :2], np.array([0]), np.array([5]))  # not contiguous
    torch = pytest.importorskip("torch")
    advise_rows(torch.zeros(10, 4), np.array([0]), np.array([5]))
    assert advised == []
