"""``benchmarks/pages_fusion_weights.py --cache``: a cache is reused only for the set it was written for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from benchmark_modules import import_benchmark
from page_fixtures import PDF_FIXTURE

fw = import_benchmark("pages_fusion_weights")


@pytest.fixture
def dev_set_dir(tmp_path: Path) -> Path:
    """Two pages of one fixture PDF, two queries judged in qrels/dev.tsv."""
    ds = tmp_path / "ds"
    (ds / "qrels").mkdir(parents=True)
    pdf = (PDF_FIXTURE / "corpus" / "zoo-quickref.pdf").resolve()
    (ds / "corpus.jsonl").write_text("".join(json.dumps({"pdf": str(pdf), "page": p}) + "\n" for p in (1, 2)),
                                     encoding="utf-8")
    (ds / "queries.jsonl").write_text('{"_id": "q1", "text": "zoo"}\n{"_id": "q2", "text": "reference"}\n',
                                      encoding="utf-8")
    (ds / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tzoo-quickref#1\t1\nq2\tzoo-quickref#2\t1\n",
                                          encoding="utf-8")
    return ds


def _write_cache(path: Path, dir_: Path, qids: list[str], corpus_ids: list[str], n_pages: int | None = None) -> None:
    n = len(corpus_ids) if n_pages is None else n_pages
    np.savez(path, **fw._identity(str(dir_), "dev", qids, corpus_ids), page_ids=np.array(corpus_ids[:n], dtype=str),
             c_lexical=np.ones((len(qids), n), np.float32))


def test_cache_names_end_in_npz_and_are_numbered_per_set() -> None:
    """np.savez appends .npz: a --cache without it was written under another name and never reused."""
    assert fw.cache_paths("scores", 3) == ["scores.npz", "scores.1.npz", "scores.2.npz"]
    assert fw.cache_paths("run/scores.npz", 2) == ["run/scores.npz", "run/scores.1.npz"]
    assert fw.cache_paths(None, 2) == [None, None]


def test_a_cache_of_this_set_is_reused(dev_set_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "scores.npz"
    _write_cache(cache, dev_set_dir, ["q1", "q2"], ["zoo-quickref#1", "zoo-quickref#2"])
    s = fw.dev_set(str(dev_set_dir), "dev", str(cache))
    assert s.page_ids == ["zoo-quickref#1", "zoo-quickref#2"] and s.qids == ["q1", "q2"]
    assert s.comps["lexical"].shape == (2, 2)


@pytest.mark.parametrize(("change", "message"), [
    ({"qids": ["q1", "q9"]}, "written for qids 2 ids starting \\['q1', 'q9'\\]"),
    ({"corpus_ids": ["other#0", "other#1"]}, "written for corpus_ids"),
    ({"dir_": "elsewhere"}, "written for dir"),
    ({"n_pages": 1, "corpus_ids": ["zoo-quickref#1", "zoo-quickref#2"]}, None),  # a page left out: still this set
])
def test_a_cache_of_another_set_is_refused(dev_set_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           change: dict, message: str | None) -> None:
    """A cache of 5 queries x 7 other pages was used on a 2-query set: nDCG@5 0.000, exit 0."""
    args = {"dir_": dev_set_dir, "qids": ["q1", "q2"], "corpus_ids": ["zoo-quickref#1", "zoo-quickref#2"], **change}
    cache = tmp_path / "scores.npz"
    _write_cache(cache, args.pop("dir_"), **args)
    if message is None:
        assert fw.dev_set(str(dev_set_dir), "dev", str(cache)).page_ids == ["zoo-quickref#1"]
        return
    assert fw.main([str(dev_set_dir), "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert f"refusing the cache: {cache}: " in err and "delete it or give another --cache" in err
    assert re.search(message, err)


def test_a_cache_without_its_identity_is_refused(dev_set_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "old.npz"
    np.savez(cache, page_ids=np.array(["other#0"]), c_lexical=np.ones((5, 1), np.float32))
    with pytest.raises(fw.CacheMismatchError, match="does not record its dir"):
        fw.dev_set(str(dev_set_dir), "dev", str(cache))
