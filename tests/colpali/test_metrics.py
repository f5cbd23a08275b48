"""nDCG@k, recall@k and MRR against trec_eval (pytrec_eval), and the dataset reader."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.pages.eval import load_dataset, mrr, ndcg_at_k, recall_at_k


def _random_case(rng):
    docs = [f"d{i}" for i in range(30)]
    qrels = {f"q{q}": {d: int(rng.integers(1, 4)) for d in rng.choice(docs, size=int(rng.integers(1, 6)), replace=False)} for q in range(12)}
    run = {q: {d: float(s) for d, s in zip(docs, rng.permutation(len(docs)) + rng.random(len(docs)))} for q in qrels}
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ndcg_recall_and_mrr_match_trec_eval(seed):
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec_eval (dev extra) is the reference implementation")
    run, qrels = _random_case(np.random.default_rng(seed))
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5,10", "recall.5,10", "recip_rank"})
    ref = ev.evaluate(run)
    mean = lambda key: float(np.mean([r[key] for r in ref.values()]))  # noqa: E731
    assert ndcg_at_k(run, qrels, 5) == pytest.approx(mean("ndcg_cut_5"), abs=1e-9)
    assert ndcg_at_k(run, qrels, 10) == pytest.approx(mean("ndcg_cut_10"), abs=1e-9)
    assert recall_at_k(run, qrels, 5) == pytest.approx(mean("recall_5"), abs=1e-9)
    assert recall_at_k(run, qrels, 10) == pytest.approx(mean("recall_10"), abs=1e-9)
    assert mrr(run, qrels) == pytest.approx(mean("recip_rank"), abs=1e-9)


def test_ndcg_by_hand():
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": {"x": 3.0, "a": 2.0, "b": 1.0}}
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(run, qrels, 5) == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / ideal)
    assert mrr(run, qrels) == pytest.approx(0.5)
    assert ndcg_at_k({}, qrels) == 0.0


def test_fixture_dataset_reads_in_beir_layout(fixture_pdfs):
    ds = load_dataset(fixture_pdfs, dpi=36)
    assert len(ds.queries) == 18 and len(ds.corpus) == 25
    assert ds.qrels["q08"] == {"effects-hex#1": 1}
    pages = list(ds.iter_pages())
    assert {p.extra["corpus_id"] for p in pages} == set(ds.corpus)


def test_qrels_naming_unknown_pages_are_refused(tmp_path, fixture_pdfs):
    import shutil

    shutil.copytree(fixture_pdfs, tmp_path / "ds")
    with open(tmp_path / "ds" / "qrels" / "test.tsv", "a") as f:
        f.write("q01\tno-such-doc#3\t1\n")
    with pytest.raises(InputError, match="no-such-doc#3"):
        load_dataset(tmp_path / "ds")
