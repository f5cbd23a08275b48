"""``vertex-mm migrate --backend local`` (the README's offline rehearsal) builds an index that
``vertex-mm search`` can query: without a task the new index defaults to the dimension text
queries are embedded at (1408), a content-only dimension is searched through the content path,
and a rerun resumes in the dimension its journal recorded."""

from __future__ import annotations

import pytest

from vertex_mm import get_embedder
from vertex_mm.cli import main
from vertex_mm.index import load_index
from vertex_mm.index.build import find_images, index_images
from vertex_mm.migrate import migrate_index
from vertex_mm.testing import HashedEmbedder


@pytest.fixture
def old_index(emulator, photo_dir, tmp_path):
    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none")
    try:
        index, _ = index_images(vertex, find_images(photo_dir), root=photo_dir)
    finally:
        vertex.close()
    index.save(tmp_path / "old.idx")
    return tmp_path / "old.idx"


def test_without_a_task_the_default_dimension_is_one_queries_can_be_embedded_at(old_index, tmp_path):
    report = migrate_index(old_index, tmp_path / "new.idx", HashedEmbedder())
    assert report.complete
    assert load_index(tmp_path / "new.idx").space.dimension == 1408


def test_without_a_task_a_content_only_dimension_is_kept_and_its_index_searched_as_contents(old_index, tmp_path,
                                                                                            capsys):
    # 3072 is a content-path dimension: search embeds such an index's queries as contents.
    report = migrate_index(old_index, tmp_path / "new.idx", HashedEmbedder(), dimension=3072)
    assert report.complete and load_index(tmp_path / "new.idx").space.dimension == 3072


def test_a_rerun_without_a_dimension_resumes_in_the_journals_dimension(old_index, tmp_path):
    # An earlier run (or release) chose 3072: the same command without --dimension resumes there,
    # instead of being refused for another space.
    first = migrate_index(old_index, tmp_path / "new.idx", HashedEmbedder(), dimension=3072)
    again = migrate_index(old_index, tmp_path / "new.idx", HashedEmbedder())
    assert again.space == first.space and again.already_done == first.embedded > 0 and again.embedded == 0


def test_with_a_task_the_content_paths_dimensions_stay_open(old_index, tmp_path):
    report = migrate_index(old_index, tmp_path / "new.idx", HashedEmbedder(), dimension=3072,
                           task="retrieval_document")
    assert report.complete and load_index(tmp_path / "new.idx").space.dimension == 3072


@pytest.mark.slow
def test_the_offline_rehearsal_of_the_readme_can_be_searched(old_index, tmp_path, capsys):
    new = tmp_path / "rehearsal.idx"
    assert main(["migrate", str(old_index), "--backend", "local", "--out", str(new), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["search", str(new), "a clock", "-k", "1"]) == 0, capsys.readouterr().err
    hits = capsys.readouterr().out.splitlines()[1:]
    assert len(hits) == 1 and hits[0].split()[-1] in {"astronaut.jpg", "blurred_clock.jpg"}


def test_queries_that_cannot_be_compared_say_why_and_exit_1(old_index, tmp_path, capsys, monkeypatch):
    from vertex_mm.errors import UnauthenticatedError
    from vertex_mm.index import build

    def no_credentials(index, **options):
        raise UnauthenticatedError("no Google credentials found")

    monkeypatch.setattr(build, "embedder_for_index", no_credentials)
    (tmp_path / "q.txt").write_text("a clock\n")
    code = main(["migrate", str(old_index), "--backend", "hashed", "--out", str(tmp_path / "new.idx"),
                 "--queries", str(tmp_path / "q.txt"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "new.idx is written, but --queries needs the old index's model" in err
    assert "vertex/multimodalembedding@001/1408" in err and "no top-k comparison" in err
    assert len(load_index(tmp_path / "new.idx")) == 2
