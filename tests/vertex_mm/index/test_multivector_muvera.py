"""``MultiVectorIndex.search(mode="muvera")``: MUVERA candidates reranked by exact MaxSim, and
the per-segment encodings saved, verified, reused and rebuilt with the index."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_fixtures import unit_rows

from vertex_mm.errors import InputError
from vertex_mm.index import IndexCorruptedError, MultiVectorIndex
from vertex_mm.index._fde import sidecar_name
from vertex_mm.late_interaction import maxsim_reference
from vertex_mm.late_interaction.muvera import MuveraConfig, MuveraEncoder
from vertex_mm.results import EmbeddingSpace

SPACE = EmbeddingSpace("test", "rand-mv", 32)
CFG = MuveraConfig(dimension=32, k_sim=3, repetitions=8, d_proj=8, seed=5)


def _fill(idx: MultiVectorIndex, pages: list[np.ndarray], docs: int = 4) -> None:
    per = len(pages) // docs
    for d in range(docs):
        idx.add(f"doc{d}", pages[d * per : (d + 1) * per])


def _sidecars(root) -> list[str]:
    manifest = json.loads((root / "manifest.json").read_text())
    return sorted(f for f in manifest["files"] if "/fde-" in f)


def _same(got, want) -> None:
    """Same pages in the same order, scores equal up to float32 summation order (a rerank scores
    one query against its candidates; the float scan scores every query against every page)."""
    assert [[h.page_id for h in q] for q in got] == [[h.page_id for h in q] for q in want]
    assert [h.score for q in got for h in q] == pytest.approx([h.score for q in want for h in q], abs=1e-5)


def _no_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, pages, **kw):
        raise AssertionError("pages were encoded again; the saved encodings should have been read")

    monkeypatch.setattr(MuveraEncoder, "encode_documents", refuse)


def test_with_every_page_a_candidate_it_answers_exactly_like_float(ragged_pages, queries):
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    _same(idx.search(queries, k=5, mode="muvera", candidates=len(ragged_pages)), idx.search(queries, k=5))


def test_few_candidates_still_find_the_page_a_query_was_drawn_from(rng):
    pages = [unit_rows(rng, int(n), 32) for n in rng.integers(20, 60, size=200)]
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, pages, docs=8)
    targets = rng.choice(200, size=10, replace=False)
    queries = []
    for t in targets:
        picked = pages[t][rng.choice(len(pages[t]), size=6, replace=False)]
        q = picked + 0.3 * unit_rows(rng, 6, 32)
        queries.append(q / np.linalg.norm(q, axis=1, keepdims=True))
    exact = maxsim_reference(queries, pages).argmax(1)
    hits = idx.search(queries, k=1, mode="muvera", candidates=10)  # 5% of the pages reranked
    ids = idx.page_ids()
    assert [ids.index(h[0].page_id) for h in hits] == exact.tolist()
    assert hits[0][0].score == pytest.approx(float(maxsim_reference(queries[:1], [pages[exact[0]]])[0, 0]), abs=1e-5)


def test_each_saved_segment_carries_its_encodings_and_a_reload_reads_them(tmp_path, ragged_pages, queries, monkeypatch):
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages[:20], docs=2)
    idx.save(tmp_path / "idx")
    idx.delete("doc0")
    idx.delete("doc1")
    idx.add("late", ragged_pages[20:])
    idx.save()
    name = sidecar_name(CFG)
    assert _sidecars(tmp_path / "idx") == [f"seg-000001/{name}", f"seg-000002/{name}"]
    assert np.load(tmp_path / "idx" / "seg-000002" / name).shape == (20, CFG.fde_dim)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert MuveraConfig.from_dict(manifest["config"]["muvera"]) == CFG
    before = idx.search(queries, k=4, mode="muvera", candidates=8)
    _no_encoding(monkeypatch)
    again = MultiVectorIndex.load(tmp_path / "idx")
    assert again.muvera == CFG
    assert again.search(queries, k=4, mode="muvera", candidates=8) == before


def test_compaction_rebuilds_the_sidecar_for_the_live_pages(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    idx.save(tmp_path / "idx")
    idx.delete("doc1")
    idx.add("extra", ragged_pages[:3])
    idx.save()
    before = idx.search(queries, k=5, mode="muvera", candidates=12)
    idx.compact()
    assert _sidecars(tmp_path / "idx") == [f"seg-000003/{sidecar_name(CFG)}"]
    kept = np.load(tmp_path / "idx" / "seg-000003" / sidecar_name(CFG))
    assert kept.shape == (len(idx), CFG.fde_dim)
    np.testing.assert_allclose(kept, MuveraEncoder(CFG).encode_documents(idx.live_pages()), atol=1e-5)
    assert MultiVectorIndex.load(tmp_path / "idx").search(queries, k=5, mode="muvera", candidates=12) == before
    assert sorted(p.name for p in (tmp_path / "idx").iterdir() if p.is_dir()) == ["seg-000003"]  # in place


@pytest.mark.parametrize("name", ["seg-000001/fde-evil.npy", "seg-000009/" + sidecar_name(CFG), "seg-000001/extra.npy"])
def test_only_sidecar_files_of_listed_segments_may_join_a_segments_files(tmp_path, ragged_pages, name):
    from vertex_mm.index.manifest import file_record

    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    root = idx.save(tmp_path / "idx")
    MultiVectorIndex.load(root)  # the sidecars themselves pass the file-list check
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    rec = file_record(root / "seg-000001" / sidecar_name(CFG))
    manifest["files"][name] = {"bytes": rec.bytes, "sha256": rec.sha256}
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptedError, match="unexpected"):
        MultiVectorIndex.load(root, verify=False)


def test_an_index_without_settings_encodes_in_memory_and_writes_no_sidecar(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE, dtype="float32")
    _fill(idx, ragged_pages)
    idx.save(tmp_path / "idx")
    assert idx.muvera is None and _sidecars(tmp_path / "idx") == []
    got = MultiVectorIndex.load(tmp_path / "idx").search(queries, k=3, mode="muvera", candidates=40)
    _same(got, idx.search(queries, k=3))
    assert "muvera" not in json.loads((tmp_path / "idx" / "manifest.json").read_text())["config"]


def test_enable_muvera_on_a_saved_index_writes_sidecars_at_the_next_compaction(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE, dtype="float32")
    _fill(idx, ragged_pages)
    idx.save(tmp_path / "idx")
    assert idx.enable_muvera(CFG) == CFG
    idx.save()  # settings recorded; the old segment has no sidecar yet and is encoded when searched
    assert MultiVectorIndex.load(tmp_path / "idx").muvera == CFG and _sidecars(tmp_path / "idx") == []
    idx.compact()
    assert _sidecars(tmp_path / "idx") == [f"seg-000002/{sidecar_name(CFG)}"]


def test_changing_the_settings_never_reads_encodings_of_the_old_ones(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    idx.save(tmp_path / "idx")
    other = MuveraConfig(dimension=32, k_sim=2, repetitions=4, d_proj=4, seed=1)
    idx.enable_muvera(other)
    idx.save()
    again = MultiVectorIndex.load(tmp_path / "idx")
    assert again.muvera == other
    _same(again.search(queries, k=3, mode="muvera", candidates=40), idx.search(queries, k=3))


def test_a_sidecar_of_the_wrong_shape_is_reported_as_corruption(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    idx.save(tmp_path / "idx")
    np.save(tmp_path / "idx" / "seg-000001" / sidecar_name(CFG), np.zeros((3, CFG.fde_dim), np.float32))
    with pytest.raises(IndexCorruptedError):
        MultiVectorIndex.load(tmp_path / "idx")  # the checksum no longer matches
    with pytest.raises(IndexCorruptedError, match="sidecar"):
        MultiVectorIndex.load(tmp_path / "idx", verify=False).search(queries, k=3, mode="muvera")


def test_settings_must_match_the_index_dimension_and_modes_are_checked(ragged_pages, queries):
    with pytest.raises(InputError, match="32-d"):
        MultiVectorIndex(SPACE, muvera=MuveraConfig(dimension=16))
    idx = MultiVectorIndex(SPACE, binary=False)
    idx.add("d", ragged_pages[:5])
    assert len(idx.search(queries, k=2, mode="muvera")[0]) == 2  # needs no sign bits
    with pytest.raises(InputError, match="muvera"):
        idx.search(queries, k=2, mode="hamming")  # type: ignore[arg-type]


# --- the encodings in single-vector indexes and exports -------------------------------------


def _fde_order(idx: MultiVectorIndex, queries, cfg: MuveraConfig) -> list[list[str]]:
    enc = MuveraEncoder(cfg)
    scores = enc.encode_queries(queries) @ enc.encode_documents(idx.live_pages()).T
    ids = idx.page_ids()
    return [[ids[i] for i in np.argsort(-row, kind="stable")[:8]] for row in scores]


@pytest.mark.parametrize("backend", ["flat", "faiss"])
def test_a_single_vector_index_of_the_encodings_ranks_by_their_inner_product(backend, ragged_pages, queries):
    from vertex_mm.index.muvera import fde_index, fde_queries

    if backend == "faiss":
        pytest.importorskip("faiss")
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    idx.delete("doc2")
    flat = fde_index(idx, backend=backend)
    assert flat.kind == backend and len(flat) == len(idx) and flat.dimension == CFG.fde_dim + 1
    assert flat.space.variant == CFG.tag() and flat.metadata("doc0#1") == {"doc_id": "doc0", "page_number": 1}
    res = flat.search(fde_queries(idx, queries), k=8)
    assert [[h.id for h in q] for q in res] == _fde_order(idx, queries, CFG)


def test_other_settings_than_the_saved_ones_are_encoded_on_the_fly(tmp_path, ragged_pages, queries):
    from vertex_mm.index.muvera import fde_index, fde_queries

    idx = MultiVectorIndex(SPACE, dtype="float16", muvera=CFG)
    _fill(idx, ragged_pages)
    idx.save(tmp_path / "idx")
    other = MuveraConfig(dimension=32, k_sim=2, repetitions=6, d_proj=None, d_final=256, seed=2)
    flat = fde_index(MultiVectorIndex.load(tmp_path / "idx"), config=other)
    res = flat.search(fde_queries(idx, queries, other), k=8)
    assert [[h.id for h in q] for q in res] == _fde_order(idx, queries, other)


def test_the_encodings_export_to_vector_search_and_bigquery(tmp_path, ragged_pages):
    from vertex_mm.index.export import export_batch, export_parquet, iter_batch_records
    from vertex_mm.index.muvera import fde_index

    pq = pytest.importorskip("pyarrow.parquet")
    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    _fill(idx, ragged_pages)
    flat = fde_index(idx)
    export_batch(flat, tmp_path / "batch")
    records = list(iter_batch_records(tmp_path / "batch"))
    assert len(records) == 40 and len(records[0]["embedding"]) == CFG.fde_dim + 1
    assert {"namespace": "doc_id", "allow": ["doc0"]} in records[0]["restricts"]
    table = pq.read_table(export_parquet(flat, tmp_path / "pages.parquet"))
    assert table.num_rows == 40 and table.column("embedding_space")[0].as_py() == flat.space.id


def test_fde_index_refuses_an_unknown_backend_and_is_empty_for_an_empty_index(ragged_pages):
    from vertex_mm.index.muvera import fde_index

    idx = MultiVectorIndex(SPACE, dtype="float32", muvera=CFG)
    assert len(fde_index(idx)) == 0
    _fill(idx, ragged_pages)
    with pytest.raises(InputError, match="backend"):
        fde_index(idx, backend="annoy")
