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
        idx.search(queries, k=2, mode="exact")  # type: ignore[arg-type]
