"""On a CPU without native bfloat16 (AVX2, plain AVX-512) torch emulates it some 25-50 times
slower than float32, so the scorers take float32 there: the bfloat16 screen is not used (the
int16 screen answers where its AVX2 kernel runs, the float32 scan elsewhere: the same answer),
and ``compute="bfloat16"`` computes float32. ``VERTEX_MM_NATIVE_BF16`` stands in for the CPU
flags here, so both sides run on any machine."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm._device import NATIVE_BF16_ENV, cpu_has_native_bf16
from vertex_mm.index import MultiVectorIndex
from vertex_mm.late_interaction import BinaryPages, PackedPages, maxsim, maxsim_topk, top_k, two_stage_search
from vertex_mm.late_interaction.screened import SCREEN_ENV, ScreenedPages
from vertex_mm.results import EmbeddingSpace

pytest.importorskip("torch")


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NATIVE_BF16_ENV, "0")


def test_the_variable_overrides_the_cpu_flags(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16(str(tmp_path / "cpuinfo")) is True
    monkeypatch.setenv(NATIVE_BF16_ENV, "0")
    assert cpu_has_native_bf16(str(tmp_path / "cpuinfo")) is False
    monkeypatch.setenv(NATIVE_BF16_ENV, "1")
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is True
    monkeypatch.setenv(NATIVE_BF16_ENV, "maybe")  # anything else: the flags decide
    assert cpu_has_native_bf16(str(tmp_path / "cpuinfo")) is True


@pytest.mark.usefixtures("emulated")
def test_device_pages_on_the_cpu_compute_float32_too(ragged_pages, queries) -> None:
    import torch

    from vertex_mm.late_interaction import DevicePages

    on_cpu = DevicePages.from_pages(ragged_pages, torch.device("cpu"))
    np.testing.assert_array_equal(maxsim(queries, on_cpu, compute="bfloat16"), maxsim(queries, ragged_pages))


@pytest.mark.usefixtures("emulated")
def test_exact_topk_answers_by_the_scan_without_touching_the_screen(ragged_pages, queries) -> None:
    sp = ScreenedPages.from_pages(ragged_pages, kind="bfloat16")
    # A screen that cannot be read: the float32 scan must answer alone.
    broken = ScreenedPages(sp.pages, sp.screen[:0], sp.norm, sp.screen_norm, sp.residual)
    live = np.ones(len(sp), bool)
    live[[1, 4]] = False
    want = maxsim(queries, ragged_pages)
    want[:, ~live] = -np.inf
    got = broken.exact_topk(queries, 3, live=live)
    np.testing.assert_array_equal(got[1], top_k(want, 3)[1])
    np.testing.assert_array_equal(got[0], top_k(want, 3)[0])
    assert not np.isin(got[1], [1, 4]).any()
    via_topk = maxsim_topk(queries, broken, 3)
    np.testing.assert_array_equal(via_topk[1], top_k(maxsim(queries, ragged_pages), 3)[1])


def test_the_scan_and_the_screen_give_the_same_bits(monkeypatch: pytest.MonkeyPatch, ragged_pages, queries) -> None:
    sp = ScreenedPages.from_pages(ragged_pages, kind="bfloat16")
    monkeypatch.setenv(NATIVE_BF16_ENV, "1")
    monkeypatch.setenv(SCREEN_ENV, "bfloat16")  # auto picks int16 where its kernel runs (no AMX)
    assert sp.screen_here() == "bfloat16"
    screened = sp.exact_topk(queries, 4)
    monkeypatch.setenv(NATIVE_BF16_ENV, "0")
    monkeypatch.setenv(SCREEN_ENV, "none")
    assert sp.screen_here() is None
    scanned = sp.exact_topk(queries, 4)
    np.testing.assert_array_equal(screened[0], scanned[0])
    np.testing.assert_array_equal(screened[1], scanned[1])


@pytest.mark.usefixtures("emulated")
def test_bfloat16_compute_is_float32_where_bfloat16_is_emulated(ragged_pages, queries) -> None:
    f16 = PackedPages.from_list(ragged_pages).astype(np.float16)
    np.testing.assert_array_equal(maxsim(queries, f16, compute="bfloat16"), maxsim(queries, f16))
    binary = BinaryPages.from_pages(f16)
    got = two_stage_search(queries, binary, f16, 3, candidates=6, compute="bfloat16")
    want = two_stage_search(queries, binary, f16, 3, candidates=6)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_native_bfloat16_compute_really_rounds(monkeypatch: pytest.MonkeyPatch, ragged_pages, queries) -> None:
    # The other side of the switch: where bfloat16 is native (forced here) the scores move.
    monkeypatch.setenv(NATIVE_BF16_ENV, "1")
    assert not np.array_equal(maxsim(queries, ragged_pages, compute="bfloat16"), maxsim(queries, ragged_pages))


@pytest.mark.usefixtures("emulated")
def test_the_index_screened_mode_builds_no_bfloat16_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    idx = MultiVectorIndex(EmbeddingSpace("test", "rand-mv", 16))
    idx.screen_pages_per_k = 0  # would screen every segment on a CPU with native bfloat16
    for d in range(6):
        pages = [rng.standard_normal((int(n), 16)).astype(np.float32) for n in rng.integers(2, 9, size=5)]
        idx.add(f"d{d}", pages)
    queries = [rng.standard_normal((4, 16)).astype(np.float32) for _ in range(3)]

    build = ScreenedPages.from_pages

    def refuse(*a, **kw):
        built = build(*a, **kw)
        assert built.kind != "bfloat16", "a bfloat16 screen was built on a CPU that emulates bfloat16"
        return built

    monkeypatch.setattr(ScreenedPages, "from_pages", refuse)
    assert idx.search(queries, k=4, mode="screened") == idx.search(queries, k=4, mode="exact")
