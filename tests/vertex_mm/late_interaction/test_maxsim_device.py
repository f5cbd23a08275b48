"""``device=`` of the MaxSim scorer, on a machine without a GPU: the CPU path is unchanged, a
CUDA request falls back with a warning and the same numbers, a bad name is an InputError, and
the GPU path's data placement is checked on torch's "meta" device (shapes only, no kernels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from benchmark_modules import import_benchmark
from device_checks import one_device

from vertex_mm._device import DeviceFallbackWarning, check_device, resolve_device
from vertex_mm.errors import InputError
from vertex_mm.late_interaction import DevicePages, PackedPages, ScreenedPages, maxsim, maxsim_topk, to_device
from vertex_mm.late_interaction.maxsim import DEFAULT_BLOCK_TOKENS, gpu_block_tokens, token_maxima

torch = pytest.importorskip("torch")
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without CUDA")
META = torch.device("meta")


def test_cpu_and_auto_give_the_default_path_bit_for_bit(ragged_pages, queries):
    expected = maxsim(queries, ragged_pages)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceFallbackWarning)
        np.testing.assert_array_equal(maxsim(queries, ragged_pages, device="cpu"), expected)
        if not torch.cuda.is_available():
            np.testing.assert_array_equal(maxsim(queries, ragged_pages, device="auto"), expected)


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "CUDA"])
def test_cuda_without_a_gpu_warns_and_scores_on_the_cpu(ragged_pages, queries, device):
    with pytest.warns(DeviceFallbackWarning, match="no CUDA GPU.*running on the CPU"):
        got = maxsim(queries, ragged_pages, device=device)
    np.testing.assert_array_equal(got, maxsim(queries, ragged_pages))


@no_gpu
@pytest.mark.usefixtures("native_bf16")  # the screen itself, on any CPU
def test_topk_of_screened_pages_falls_back_once_and_keeps_the_certified_result(ragged_pages, queries):
    screened = ScreenedPages.from_pages(ragged_pages)
    with pytest.warns(DeviceFallbackWarning) as record:
        vals, idx = maxsim_topk(queries, screened, 3, device="cuda")
    assert len([w for w in record if w.category is DeviceFallbackWarning]) == 1
    ref_vals, ref_idx = maxsim_topk(queries, screened, 3)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(vals, ref_vals)


@pytest.mark.parametrize("bad", ["tpu", "gpu", "cuda:x", "", "cpu0", None, 0])
def test_a_bad_device_is_an_input_error_naming_it_and_the_allowed_ones(ragged_pages, queries, bad):
    with pytest.raises(InputError, match=r"device must be one of \('auto', 'cpu', 'cuda'\) or 'cuda:N', got") as info:
        maxsim(queries, ragged_pages, device=bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(InputError):
        maxsim_topk(queries, ragged_pages, 2, device=bad)


def test_device_names_are_checked_without_torch_and_torch_devices_are_accepted():
    assert check_device(" CUDA ") == "cuda"
    assert check_device("cuda:3") == "cuda:3"
    assert check_device(torch.device("cpu")) == "cpu"
    assert check_device(torch.device("cuda", 1)) == "cuda:1"


def test_with_cuda_reported_available_the_names_resolve_to_cuda_devices(monkeypatch):
    # Only device objects are built here; nothing runs on a GPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceFallbackWarning)
        assert resolve_device("auto") == torch.device("cuda")
        assert resolve_device("cuda") == torch.device("cuda")
        assert resolve_device("cuda:1") == torch.device("cuda", 1)
        assert resolve_device("cpu") == torch.device("cpu")
    from vertex_mm.late_interaction.maxsim import _engine_device

    assert _engine_device("auto") == torch.device("cuda")
    assert _engine_device("cpu") is None


def test_gpu_blocks_are_sized_by_bytes():
    assert gpu_block_tokens(128, 20 * 32) == (256 << 20) // (4 * (128 + 640))
    assert gpu_block_tokens(128, 10**9) == DEFAULT_BLOCK_TOKENS  # never below the CPU block


@pytest.mark.parametrize("shape", ["ragged", "equal-many-query-tokens", "equal-few-query-tokens"])
def test_pages_on_the_host_are_moved_to_the_queries_device_block_by_block(rng, shape):
    # torch's "meta" device stands in for a GPU (shapes only, no kernels); _OneDevice fails a
    # block left on the CPU, or an index tensor on the wrong device.
    if shape == "ragged":
        pages = [rng.standard_normal((n, 16)).astype(np.float16) for n in (3, 7, 5, 9)]
        n_q = 80
    else:
        pages = [rng.standard_normal((6, 16)).astype(np.float32) for _ in range(5)]
        n_q = 80 if shape == "equal-many-query-tokens" else 8
    packed = PackedPages.from_list(pages)
    q_t = torch.zeros(16, n_q, device="meta")
    with one_device():
        best = token_maxima(q_t, torch.from_numpy(packed.tokens), packed.offsets, packed.lengths, block_tokens=10)
    assert best.device.type == "meta" and tuple(best.shape) == (len(pages), n_q)


@no_gpu
def test_the_gpu_benchmark_says_no_gpu_and_exits_0(capsys):
    assert import_benchmark("bench_gpu").main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MACHINE ") and "no GPU" in out


# --- pages kept on a device ---------------------------------------------------------------------


def test_pages_held_as_device_pages_score_bit_for_bit_like_host_pages(ragged_pages, queries):
    # DevicePages on the CPU run the very code a GPU runs (no per-call copy, device-side gather).
    held = DevicePages.from_pages(ragged_pages, torch.device("cpu"))
    assert len(held) == len(ragged_pages) and held.dim == ragged_pages[0].shape[1]
    np.testing.assert_array_equal(maxsim(queries, held, block_tokens=13), maxsim(queries, ragged_pages, block_tokens=13))
    ids = [4, 0, 2, 2]
    np.testing.assert_array_equal(maxsim(queries, held, page_ids=ids), maxsim(queries, ragged_pages, page_ids=ids))
    for pages in (held, ragged_pages):
        assert maxsim(queries, pages, page_ids=[]).shape == (len(queries), 0)
    vals, idx = maxsim_topk(queries, held, 3)
    ref_vals, ref_idx = maxsim_topk(queries, ragged_pages, 3)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(vals, ref_vals)


def test_to_device_keeps_host_pages_on_the_cpu(ragged_pages, queries):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceFallbackWarning)
        assert isinstance(to_device(ragged_pages, "cpu"), PackedPages)
        if not torch.cuda.is_available():
            assert isinstance(to_device(ragged_pages, "auto"), PackedPages)


@no_gpu
def test_to_device_cuda_without_a_gpu_warns_and_gives_host_pages(ragged_pages, queries):
    with pytest.warns(DeviceFallbackWarning):
        held = to_device(ragged_pages, "cuda")
    assert isinstance(held, PackedPages)
    np.testing.assert_array_equal(maxsim(queries, held), maxsim(queries, ragged_pages))
    with pytest.raises(InputError, match="'tpu'"):
        to_device(ragged_pages, "tpu")


def test_device_pages_gather_candidates_on_their_device(rng):
    pages = [rng.standard_normal((n, 16)).astype(np.float16) for n in (3, 7, 5, 9)]
    held = DevicePages.from_pages(PackedPages.from_list(pages, dtype=np.float16), META)
    queries = [rng.standard_normal((5, 16)).astype(np.float32)]
    with one_device():
        sub = held.select([3, 1])
        q_t = torch.zeros(16, 5, device=META)
        best = token_maxima(q_t, sub.tokens, sub.offsets, sub.lengths)
    assert sub.tokens.device == META and sub.lengths.tolist() == [9, 7] and tuple(best.shape) == (2, 5)
    assert held.nbytes == sum(p.nbytes for p in pages) and len(queries) == 1
