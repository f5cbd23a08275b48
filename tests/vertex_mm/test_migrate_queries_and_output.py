"""``migrate``'s comparison of the old and new top-k (queries embedded as `vertex-mm search`
embeds them for each index), its --queries file and checks, contents over the token budget,
and a linked --out. The emulator is the service."""

from __future__ import annotations

import json
import os

import pytest
from factories import image_bytes

from vertex_mm import get_embedder
from vertex_mm.cli import main
from vertex_mm.errors import InputError
from vertex_mm.index import create_index, load_index
from vertex_mm.index.build import search_index
from vertex_mm.migrate import migrate_index, plan_migration, query_overlap, read_queries

QUERIES = ["a red thing", "something large", "round caption", "an old square"]


def _texts_index(embedder, path, space):
    texts = [f"caption number {i} about a {c} thing" for i, c in enumerate(["red", "green", "blue", "large"] * 6)]
    index = create_index(space, "flat")
    index.add([f"t{i}" for i in range(len(texts))], embedder.embed_contents(texts, dimension=space.dimension,
                                                                            task=space.task)
              if space.task else embedder.embed_texts(texts, dimension=space.dimension),
              [{"text": t} for t in texts])
    index.save(path)
    return index


def _search_top(index, embedder, k):
    return [[h.id for h in hits] for hits in search_index(index, embedder, [(q, None) for q in QUERIES], k=k)]


@pytest.mark.parametrize("task", ["similarity", "retrieval_document"])
def test_the_overlap_compares_the_top_k_vertex_mm_search_gives_on_each_side(emulator, tmp_path, task):
    gemini = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none", requests_per_minute=None)
    try:
        # old: an @001 index (similarity) or a gemini one with a task (the preview id's, say).
        old = _texts_index(vertex, tmp_path / "old.idx", vertex.space(128)) if task == "similarity" else \
            _texts_index(gemini, tmp_path / "old.idx", gemini.content_space(128, task=task))
        old_embedder = vertex if task == "similarity" else gemini
        report = migrate_index(tmp_path / "old.idx", tmp_path / "new.idx", gemini, dimension=128, task=task)
        assert report.complete
        new = load_index(tmp_path / "new.idx")
        rows = query_overlap(QUERIES, old, old_embedder, new, gemini, k=3)
        assert [r.old for r in rows] == _search_top(old, old_embedder, 3)
        assert [r.new for r in rows] == _search_top(new, gemini, 3)
    finally:
        gemini.close()
        vertex.close()


def test_read_queries_keeps_plain_lines_that_start_with_a_brace_and_drops_a_bom(tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes("\ufeffa red square\n{draft} company logo\n{\"text\": \"from json\"}\n\n".encode())
    assert read_queries(path) == ["a red square", "{draft} company logo", "from json"]
    path.write_text('{"lang": "en"}\n')
    with pytest.raises(InputError, match=r"q.txt:1: a JSON line needs a non-empty \"text\""):
        read_queries(path)


def test_queries_with_a_source_that_is_no_index_are_refused_before_anything_is_sent(emulator, tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(image_bytes("JPEG"))
    (tmp_path / "old.jsonl").write_text(json.dumps({"id": "a.jpg"}) + "\n")
    (tmp_path / "q.txt").write_text("a red square\n")
    emulator.reset_stats()
    code = main(["migrate", str(tmp_path / "old.jsonl"), "--root", str(tmp_path), "--out", str(tmp_path / "new.idx"),
                 "--api-endpoint", emulator.url, "--dimension", "128", "--queries", str(tmp_path / "q.txt"),
                 "--no-progress"])
    assert code == 2 and "is not an index folder" in capsys.readouterr().err
    assert emulator.stats()["requests"] == 0 and not (tmp_path / "new.idx.journal.jsonl").exists()


def test_queries_after_a_run_that_wrote_no_index_exit_1_saying_why(emulator, tmp_path, capsys):
    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none")
    try:
        old = create_index(vertex.space(128), "flat")
        old.add(["a.jpg"], vertex.embed_texts(["x"], dimension=128), [{"path": str(tmp_path / "gone.jpg")}])
        old.save(tmp_path / "old.idx")
    finally:
        vertex.close()
    (tmp_path / "q.txt").write_text("a red square\n")
    code = main(["migrate", str(tmp_path / "old.idx"), "--out", str(tmp_path / "new.idx"), "--api-endpoint",
                 emulator.url, "--dimension", "128", "--queries", str(tmp_path / "q.txt"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "no top-k comparison: no index was written" in err and "no such index directory" not in err


def test_contents_over_the_token_budget_are_listed_by_the_dry_run_and_the_run(emulator, tmp_path, capsys):
    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "metadata": {"text": t}}) + "\n"
                              for i, t in [("short", "a red square"), ("long", "word " * 8000)]))
    gemini = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    try:
        plan = plan_migration(source, tmp_path / "new.idx", gemini, dimension=128)
    finally:
        gemini.close()
    assert list(plan.truncated) == ["long"] and plan.truncated["long"] > 8192 and plan.token_budget == 8192
    assert "1 longer than the target's 8,192-token budget" in plan.summary(None)
    argv = ["migrate", str(source), "--out", str(tmp_path / "new.idx"), "--api-endpoint", emulator.url,
            "--dimension", "128", "--no-progress"]
    assert main([*argv, "--dry-run"]) == 0
    assert "would be truncated long: about 10,0" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="truncated"):  # the emulator says so, as the service does
        assert main(argv) == 0
    err = capsys.readouterr().err
    assert "1 longer than the target's 8,192-token budget" in err and "truncated long:" in err


def test_a_linked_out_keeps_its_link_when_an_earlier_index_is_removed(emulator, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(image_bytes("JPEG"))
    source = tmp_path / "old.jsonl"
    source.write_text(json.dumps({"id": "a.jpg", "metadata": {"path": str(photos / "a.jpg")}}) + "\n")
    out, moved = tmp_path / "new.idx", tmp_path / "bigdisk" / "new.idx"

    def run():
        gemini = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
        try:
            return migrate_index(source, out, gemini, dimension=128)
        finally:
            gemini.close()

    assert run().written
    moved.parent.mkdir()
    os.rename(out, moved)
    os.symlink(moved, out)  # the index moved to a bigger disk, linked back
    os.rename(photos, tmp_path / "unmounted")
    report = run()
    assert report.removed_stale and not moved.exists()
    assert out.is_symlink() and os.readlink(out) == str(moved)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no link renamed aside
    os.rename(tmp_path / "unmounted", photos)
    assert run().written
    assert out.is_symlink() and list(load_index(moved).ids) == ["a.jpg"]  # written through the link again
