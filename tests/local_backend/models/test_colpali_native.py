"""ColPali, ColQwen2 and ColModernVBert on transformers' native classes: numerical proof on tiny
random checkpoints.

Each family's checkpoint is the real ``ColXForRetrieval`` + ``ColXProcessor`` with a tiny config,
saved to a temp folder and loaded through ``local_backend.models.colpali``. The reference is the
same folder loaded straight into transformers' classes, fed the processor's own inputs. Random
weights prove the numerics and the plumbing, not retrieval quality.
"""

from __future__ import annotations

import io
import json
import pathlib
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
import tiny_colpali_checkpoints as tiny  # noqa: E402  (tests/support is on sys.path)
from PIL import Image  # noqa: E402

from local_backend.device import DeviceFallbackWarning, cpu_has_native_bf16, resolve_device, resolve_dtype  # noqa: E402
from local_backend.models.colpali import ColPaliFamilyEmbedder, create_colmodernvbert, create_colpali, create_colqwen2  # noqa: E402
from vertex_mm._device import cpu_has_amx_bf16  # noqa: E402
from vertex_mm.errors import InputError, InvalidImageError, InvalidTextError, WeightsNotFoundError  # noqa: E402
from vertex_mm.late_interaction import maxsim  # noqa: E402
from vertex_mm.pages import MultiVectorEmbedder, PageImage  # noqa: E402

FAMILIES = tiny.FAMILIES
ATOL = 1e-5
REPOS = {"colpali": "vidore/colpali-v1.3-hf", "colqwen2": "vidore/colqwen2-v1.0-hf",
         "colmodernvbert": "ModernVBERT/colmodernvbert-merged"}
FACTORIES = {"colpali": create_colpali, "colqwen2": create_colqwen2, "colmodernvbert": create_colmodernvbert}


@pytest.fixture(scope="session")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("tiny-colpali")
    return {family: tiny.build(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def embedders(folders: dict[str, pathlib.Path]) -> dict[str, ColPaliFamilyEmbedder]:
    return {f: ColPaliFamilyEmbedder.from_pretrained(folders[f], device="cpu", dtype="float32") for f in FAMILIES}


@pytest.fixture(scope="session")
def references(folders: dict[str, pathlib.Path]) -> dict[str, tuple[Any, Any]]:
    """transformers' own model and processor, loaded straight from each folder."""
    return {f: (tiny.model_class(f).from_pretrained(str(folders[f]), local_files_only=True).eval(),
                tiny.processor_class(f).from_pretrained(str(folders[f]), local_files_only=True)) for f in FAMILIES}


def reference_vectors(reference: tuple[Any, Any], batch: Any) -> list[np.ndarray]:
    """The transformers model's ``.embeddings`` for ``batch``, real (attention_mask == 1) rows only."""
    model, _ = reference
    with torch.inference_mode():
        out = model(**batch).embeddings.float().numpy()
    mask = batch["attention_mask"].bool().numpy()
    return [out[i][mask[i]] for i in range(len(out))]


def assert_same_vectors(ours: list[np.ndarray], ref: list[np.ndarray], atol: float = ATOL) -> None:
    assert [v.shape for v in ours] == [v.shape for v in ref]
    for a, b in zip(ours, ref):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


# --- (a) vectors equal the transformers model's own outputs -------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_page_vectors_equal_the_transformers_model_outputs(family: str, embedders: dict, references: dict) -> None:
    pages = tiny.make_pages()
    ref = reference_vectors(references[family], references[family][1].process_images(pages))
    assert_same_vectors(embedders[family].embed_pages(pages), ref)


@pytest.mark.parametrize("family", FAMILIES)
def test_query_vectors_equal_the_transformers_model_outputs(family: str, embedders: dict, references: dict) -> None:
    ref = reference_vectors(references[family], references[family][1].process_queries(tiny.QUERIES))
    assert_same_vectors(embedders[family].embed_queries(tiny.QUERIES), ref)


@pytest.mark.parametrize("family", FAMILIES)
def test_query_keeps_the_prefix_and_ten_augmentation_tokens(family: str, embedders: dict, references: dict) -> None:
    processor = references[family][1]
    batch = processor.process_queries(["a query"])
    augmentation = processor.tokenizer.convert_tokens_to_ids(processor.query_augmentation_token)
    ids = batch["input_ids"][0][batch["attention_mask"][0].bool()]
    assert int((ids == augmentation).sum()) >= 10  # the augmentation tokens are real tokens (mask 1)
    assert processor.query_prefix in processor.tokenizer.decode(ids)
    (vectors,) = embedders[family].embed_queries(["a query"])
    assert vectors.shape == (len(ids), 128)


@pytest.mark.parametrize("family", FAMILIES)
def test_vectors_have_unit_norm_and_the_space_names_family_and_weights(family: str, embedders: dict) -> None:
    emb = embedders[family]
    for v in emb.embed_pages(tiny.make_pages()[:1]) + emb.embed_queries(["a query"]):
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert isinstance(emb, MultiVectorEmbedder)  # what page indexing and evaluation take
    assert emb.space.backend == "colpali" and emb.space.dimension == 128
    assert emb.space.model.startswith(f"{family}-") and len(emb.space.model) == len(family) + 13  # family-<12 hex>


# --- (b) our MaxSim equals the processor's score_retrieval --------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_maxsim_equals_score_retrieval(family: str, embedders: dict, references: dict) -> None:
    emb, processor = embedders[family], references[family][1]
    pages, queries = emb.embed_pages(tiny.make_pages()), emb.embed_queries(tiny.QUERIES)
    ours = maxsim(queries, pages)
    q_t = [torch.from_numpy(q) for q in queries]
    # score_retrieval zero-pads the pages of a chunk to the longest one; a page scored on its own
    # is not padded, so this is the exact MaxSim whatever the vectors.
    exact = np.concatenate([processor.score_retrieval(q_t, [torch.from_numpy(p)]).numpy() for p in pages], axis=1)
    np.testing.assert_allclose(ours, exact, rtol=0, atol=ATOL)
    # All pages in one call: the padding rows (dot product 0) cannot win a max as long as every
    # query token's best real dot product is >= 0, which holds for these vectors: then equal too.
    assert min(float((q @ p.T).max(axis=1).min()) for q in queries for p in pages) >= 0
    together = processor.score_retrieval(q_t, [torch.from_numpy(p) for p in pages]).numpy()
    np.testing.assert_allclose(ours, together, rtol=0, atol=ATOL)


def test_zero_padded_score_retrieval_floors_a_negative_token_max_at_zero(references: dict) -> None:
    """Where our exact MaxSim and the padded reference part: a query token whose dot product is
    negative with every token of a page shorter than its chunk's longest page."""
    processor = references["colqwen2"][1]
    q = np.array([[1.0, 0, 0, 0]], np.float32)
    short = np.array([[-1.0, 0, 0, 0]], np.float32)  # every real dot product is -1
    long = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0]], np.float32)
    np.testing.assert_array_equal(maxsim([q], [short, long]), [[-1.0, 0.0]])
    t = torch.from_numpy
    assert processor.score_retrieval([t(q)], [t(short), t(long)]).tolist() == [[0.0, 0.0]]  # padded: floored
    assert processor.score_retrieval([t(q)], [t(short)]).tolist() == [[-1.0]]  # alone: exact


# --- (c) masks: alone or in a padded batch, the same vectors ------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_a_page_alone_gives_the_vectors_it_gets_in_a_padded_batch(family: str, embedders: dict) -> None:
    emb, pages = embedders[family], tiny.make_pages()
    together = emb.embed_pages(pages)  # batch_size 4: one padded batch of three pages
    for page, batched in zip(pages, together):
        assert_same_vectors(emb.embed_pages([page]), [batched])


@pytest.mark.parametrize("family", FAMILIES)
def test_a_query_alone_gives_the_vectors_it_gets_in_a_padded_batch(family: str, embedders: dict) -> None:
    emb = embedders[family]
    together = emb.embed_queries(tiny.QUERIES)
    for query, batched in zip(tiny.QUERIES, together):
        assert_same_vectors(emb.embed_queries([query]), [batched])


def test_results_come_back_in_input_order_across_batches(folders: dict) -> None:
    emb = ColPaliFamilyEmbedder.from_pretrained(folders["colqwen2"], device="cpu", dtype="float32", batch_size=2)
    queries = ["a much longer query about the quick brown fox", "a query", "the lazy dog", "fox"]
    one_by_one = [emb.embed_queries([q])[0] for q in queries]
    assert_same_vectors(emb.embed_queries(queries), one_by_one)


# --- ColQwen2's visual-token cap -----------------------------------------------------------------


def test_colqwen2_cap_lowers_the_pixel_budget_like_the_reference_size_argument(folders: dict, references: dict) -> None:
    capped = ColPaliFamilyEmbedder.from_pretrained(folders["colqwen2"], device="cpu", dtype="float32", max_visual_tokens=16)
    assert capped.max_visual_tokens == 16
    pages = tiny.make_pages()
    processor = references["colqwen2"][1]
    # 16 tokens of (patch 4 x merge 2)^2 = 64 px each: the reference with size= set by hand.
    size = {"shortest_edge": 256, "longest_edge": 1024}
    ref = reference_vectors(references["colqwen2"], processor.process_images(pages, size=size))
    assert_same_vectors(capped.embed_pages(pages), ref)
    image_tokens = capped.processor.process_images(pages)["image_grid_thw"].prod(-1) // 4
    assert int(image_tokens.max()) <= 16


def test_the_default_cap_never_raises_a_checkpoints_smaller_budget(embedders: dict) -> None:
    assert embedders["colqwen2"].max_visual_tokens == 64  # the tiny checkpoint allows 4096 px = 64 tokens
    assert embedders["colpali"].max_visual_tokens is None  # fixed-size families have no budget to cap


# --- dtype ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.usefixtures("native_bf16")  # no EmulatedBfloat16Warning where the CPU lacks it
def test_bfloat16_model_returns_float32_vectors_close_to_float32(family: str, folders: dict, embedders: dict) -> None:
    bf16 = ColPaliFamilyEmbedder.from_pretrained(folders[family], device="cpu", dtype="bfloat16")
    assert bf16.dtype == torch.bfloat16
    pages = tiny.make_pages()
    for a, b in zip(bf16.embed_pages(pages), embedders[family].embed_pages(pages)):
        assert a.dtype == np.float32 and a.shape == b.shape
        assert float(np.abs(a - b).max()) < 0.05  # bf16 keeps ~3 significant digits


# --- (d) missing or wrong checkpoints ------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_missing_folder_raises_weights_not_found_with_the_download_command(family: str, tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(WeightsNotFoundError) as err:
        FACTORIES[family](checkpoint=missing)
    message = str(err.value)
    assert str(missing) in message
    assert f"huggingface-cli download {REPOS[family]} --local-dir DIR" in message
    assert f"--embedder {family}:DIR" in message and "get_embedder" not in message


def test_missing_repo_id_names_the_hf_cache_it_looked_in(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WeightsNotFoundError) as err:
        create_colqwen2()
    message = str(err.value)
    assert str(tmp_path / "hub" / "models--vidore--colqwen2-v1.0-hf") in message
    assert "huggingface-cli download vidore/colqwen2-v1.0-hf --local-dir DIR" in message


def test_repo_id_loads_from_the_hf_cache_in_the_same_space_as_the_folder(
    folders: dict, embedders: dict, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "hub" / "models--vidore--colqwen2-v1.0-hf"
    shutil.copytree(folders["colqwen2"], repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    emb = create_colqwen2(device="cpu", dtype="float32")
    assert emb.space == embedders["colqwen2"].space  # the weights, not the path, name the space
    assert_same_vectors(emb.embed_queries(["a query"]), embedders["colqwen2"].embed_queries(["a query"]))


def test_sharded_checkpoints_of_one_architecture_get_different_spaces(folders: dict, tmp_path: pathlib.Path) -> None:
    """Two fine-tunes share config.json and model.safetensors.index.json word for word; the shards' bytes tell them apart."""
    spaces = []
    for seed in (0, 1):
        processor = tiny.processor_class("colqwen2").from_pretrained(str(folders["colqwen2"]), local_files_only=True)
        torch.manual_seed(seed)
        model = tiny.model_class("colqwen2")(tiny.config("colqwen2", processor))
        model.save_pretrained(tmp_path / str(seed), max_shard_size="200KB")
        processor.save_pretrained(tmp_path / str(seed))
        spaces.append(create_colqwen2(checkpoint=tmp_path / str(seed), device="cpu", dtype="float32").space)
    index = "model.safetensors.index.json"
    assert (tmp_path / "0" / index).read_text() == (tmp_path / "1" / index).read_text()
    assert spaces[0] != spaces[1]


@pytest.mark.parametrize("family", FAMILIES)
def test_family_is_read_from_config_json(family: str, embedders: dict) -> None:
    assert embedders[family].family.name == family


def test_a_family_factory_refuses_another_familys_checkpoint(folders: dict) -> None:
    with pytest.raises(InputError, match="holds a colqwen2 checkpoint"):
        create_colmodernvbert(checkpoint=folders["colqwen2"])


def test_the_colpali_factory_reads_the_family_from_the_checkpoint(folders: dict) -> None:
    # The spec colpali:DIR takes any of the three families.
    assert create_colpali(checkpoint=folders["colqwen2"]).family.name == "colqwen2"


def test_a_colpali_engine_checkpoint_points_to_the_transformers_native_repo(folders: dict, tmp_path: pathlib.Path) -> None:
    merged = tmp_path / "colqwen2-v1.0-merged"
    shutil.copytree(folders["colqwen2"], merged)
    (merged / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(InputError, match="huggingface-cli download vidore/colqwen2-v1.0-hf"):
        ColPaliFamilyEmbedder.from_pretrained(merged)
    adapter = tmp_path / "colqwen2-v1.0"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match="LoRA adapter"):
        create_colqwen2(checkpoint=adapter)


# --- (e) device ----------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without CUDA")
def test_cuda_without_a_gpu_falls_back_to_the_cpu_with_a_warning(folders: dict) -> None:
    with pytest.warns(DeviceFallbackWarning, match="no CUDA GPU"):
        emb = ColPaliFamilyEmbedder.from_pretrained(folders["colmodernvbert"], device="cuda")
    assert emb.device.type == "cpu" and emb.dtype == resolve_dtype("auto", torch.device("cpu"))
    assert emb.embed_queries(["a query"])[0].shape[1] == 128


def test_auto_device_is_cuda_only_when_torch_sees_a_gpu() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(("flags", "expected"), [("fpu avx2 avx512f avx512_bf16", True), ("fpu amx_tile amx_bf16", True),
                                                 ("fpu avx2 avx512f avx512bw", False)])
def test_native_bf16_is_read_from_the_cpu_flags(flags: str, expected: bool, tmp_path: pathlib.Path) -> None:
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(str(tmp_path / "cpuinfo")) is expected
    # Without the file (not Linux) torch's own x86 probes answer.
    probes = (torch.cpu._is_avx512_bf16_supported(), torch.cpu._is_amx_tile_supported())
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is any(probes)


@pytest.mark.parametrize(("flags", "expected"), [("fpu avx2 avx512f avx512_bf16", False), ("fpu amx_tile amx_bf16", True),
                                                 ("fpu avx2 avx512f avx512bw", False)])
def test_amx_is_read_from_the_cpu_flags(flags: str, expected: bool, tmp_path: pathlib.Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_amx_bf16(str(tmp_path / "cpuinfo")) is expected
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "0")  # "no native bfloat16" says no AMX either
    assert cpu_has_amx_bf16(str(tmp_path / "cpuinfo")) is False


@pytest.mark.parametrize(("flags", "expected"), [("fpu avx2 avx512f avx512_fp16", True), ("fpu amx_tile amx_fp16", True),
                                                 ("fpu avx2 f16c avx512f avx512_bf16", False)])
def test_native_fp16_is_read_from_the_cpu_flags(flags: str, expected: bool, tmp_path: pathlib.Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from local_backend.device import cpu_has_native_fp16

    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_native_fp16(str(tmp_path / "cpuinfo")) is expected  # F16C converts only: not native
    monkeypatch.setenv("VERTEX_MM_NATIVE_FP16", "0" if expected else "1")
    assert cpu_has_native_fp16(str(tmp_path / "cpuinfo")) is not expected


def test_float16_on_a_cpu_that_emulates_it_is_warned_about_at_the_users_line(monkeypatch: pytest.MonkeyPatch,
                                                                            folders: dict) -> None:
    import warnings

    import local_backend.device as device
    from vertex_mm.errors import EmulatedFloat16Warning, EmulatedPrecisionWarning

    monkeypatch.setattr(device, "cpu_is_x86", lambda: True)
    monkeypatch.setenv("VERTEX_MM_NATIVE_FP16", "0")
    with pytest.warns(EmulatedFloat16Warning, match="dtype='float16' on a CPU without native float16") as caught:
        emb = ColPaliFamilyEmbedder.from_pretrained(folders["colmodernvbert"], device="cpu", dtype="float16")
    assert emb.dtype == torch.float16  # asked for, so given: only the speed suffers
    assert caught[0].filename == __file__ and issubclass(caught[0].category, EmulatedPrecisionWarning)
    monkeypatch.setenv("VERTEX_MM_NATIVE_FP16", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmulatedPrecisionWarning)
        assert resolve_dtype("float16", torch.device("cpu")) == torch.float16
        assert resolve_dtype("float16", torch.device("cuda")) == torch.float16  # a GPU: never warned
        monkeypatch.setenv("VERTEX_MM_NATIVE_FP16", "0")
        monkeypatch.setattr(device, "cpu_is_x86", lambda: False)
        assert resolve_dtype("float16", torch.device("cpu")) == torch.float16  # ARM: not judged


def test_auto_dtype_on_the_cpu_is_bf16_only_where_it_is_native(monkeypatch: pytest.MonkeyPatch) -> None:
    import local_backend.device as device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32


@pytest.mark.parametrize("bad", [{"device": "tpu"}, {"dtype": "int8"}, {"batch_size": 0}, {"max_visual_tokens": 2}])
def test_bad_options_raise_input_error(bad: dict, folders: dict) -> None:
    with pytest.raises(InputError):
        create_colqwen2(checkpoint=folders["colqwen2"], **bad)


# --- typed input errors --------------------------------------------------------------------------


@pytest.mark.parametrize("queries", [[""], ["   "], [None], [3], ["ok", b"bytes"], "a bare string"])
def test_empty_or_non_string_queries_raise_invalid_text(queries: Any, embedders: dict) -> None:
    with pytest.raises(InvalidTextError):
        embedders["colmodernvbert"].embed_queries(queries)


def test_an_undecodable_page_is_named(embedders: dict) -> None:
    buf = io.BytesIO()
    tiny.make_pages()[0].save(buf, "PNG")
    broken = Image.open(io.BytesIO(buf.getvalue()[:60]))  # header intact, pixel data cut off
    page = PageImage(doc_id="report.pdf", page_number=3, image=broken)
    with pytest.raises(InvalidImageError, match="report.pdf#3") as err:
        embedders["colpali"].embed_pages([tiny.make_pages()[0], page])
    assert err.value.input_name == "report.pdf#3"
    with pytest.raises(InvalidImageError, match=r"images\[1\]"):
        embedders["colpali"].embed_pages([tiny.make_pages()[0], "not an image"])


def test_page_images_and_grayscale_pages_are_accepted(embedders: dict) -> None:
    page = tiny.make_pages()[0]
    as_page = PageImage(doc_id="d", page_number=1, image=page)
    a, b = embedders["colpali"].embed_pages([as_page, page])
    np.testing.assert_array_equal(a, b)
    (gray,) = embedders["colpali"].embed_pages([page.convert("L")])
    assert gray.shape == a.shape


def test_empty_inputs_give_empty_lists(embedders: dict) -> None:
    assert embedders["colqwen2"].embed_pages([]) == []
    assert embedders["colqwen2"].embed_queries([]) == []


# --- (f) colpali-engine is never imported --------------------------------------------------------


@pytest.mark.slow
def test_colpali_engine_is_never_imported(folders: dict, tmp_path: pathlib.Path) -> None:
    """A poisoned colpali_engine package first on sys.path records any attempt to import it."""
    poison = tmp_path / "poison" / "colpali_engine"
    poison.mkdir(parents=True)
    marker = tmp_path / "imported"
    (poison / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise ImportError('poisoned')\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(poison.parent)!r})
        from local_backend.models.colpali import ColPaliFamilyEmbedder
        import tiny_colpali_checkpoints as tiny
        for family, folder in {({f: str(p) for f, p in folders.items()})!r}.items():
            emb = ColPaliFamilyEmbedder.from_pretrained(folder, device="cpu")
            emb.embed_pages(tiny.make_pages()[:1]); emb.embed_queries(["a query"])
        print(sorted(m for m in sys.modules if m.startswith("colpali_engine")))
    """)
    tests_dir = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240,
                          cwd=tests_dir.parent, env={**_env(), "PYTHONPATH": str(tests_dir / "support")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert not marker.exists()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
