"""``vertex-mm migrate`` after a migration-day walk: where it may write, GIF sources, problem
lists, early checks of --queries and --task, SIGTERM, text items and Cloud Storage URLs; the
emulator is the service (@001 builds the old index, gemini-embedding-2 the new one)."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from factories import image_bytes, truncated
from old_indexes import save_001_index

from vertex_mm import get_embedder
from vertex_mm.cli import main
from vertex_mm.index import load_index
from vertex_mm.index.build import find_images, index_images
from vertex_mm.migrate import source_items


def _old_index(emulator, root, out):
    return save_001_index(emulator.url, root, out)


@pytest.fixture
def old_index(emulator, image_folder, tmp_path):
    root = image_folder(4)
    return _old_index(emulator, root, tmp_path / "old.idx"), root


def _migrate(emulator, source, out, *extra):
    return main(["migrate", str(source), "--out", str(out), "--api-endpoint", emulator.url, "--dimension", "128",
                 "--no-progress", *map(str, extra)])


# 1. --out never replaces the source, nor an index or file that is not this migration's output.

def test_out_naming_the_source_is_refused_before_any_request(emulator, old_index, capsys):
    old, _ = old_index
    manifest = (old / "manifest.json").read_text()
    emulator.reset_stats()
    assert _migrate(emulator, old, old) == 2
    err = capsys.readouterr().err
    assert f"{old} is the source index" in err and "pass another --out" in err
    assert (old / "manifest.json").read_text() == manifest and emulator.stats()["requests"] == 0


@pytest.mark.parametrize("kind", ["index", "file"])
def test_out_naming_another_existing_index_or_file_is_refused(emulator, old_index, tmp_path, capsys, kind):
    old, _ = old_index
    other = tmp_path / "other.idx"
    if kind == "index":
        load_index(old).save(other)
    else:
        other.write_text("keep me")
    emulator.reset_stats()
    assert _migrate(emulator, old, other) == 2
    err = capsys.readouterr().err
    assert f"{other} exists" in err and "is not this migration's output" in err and "pass a new --out" in err
    assert emulator.stats()["requests"] == 0
    if kind == "file":
        assert other.read_text() == "keep me"
    else:
        assert load_index(other).space.backend == "vertex"


def test_out_inside_the_source_index_or_holding_it_is_refused(emulator, old_index, tmp_path, monkeypatch, capsys):
    # The next save of the source swaps its folder and would delete an index inside it.
    old, _ = old_index
    emulator.reset_stats()
    assert _migrate(emulator, old, old / "new.idx") == 2
    assert "is inside the source index" in capsys.readouterr().err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    monkeypatch.chdir(elsewhere)
    assert _migrate(emulator, old, ".") == 2  # no bare ValueError from a path without a name
    assert "is not this migration's output" in capsys.readouterr().err
    assert emulator.stats()["requests"] == 0


def test_a_vector_of_the_wrong_length_is_a_listed_failure_not_a_silent_gap(
        emulator, old_index, tmp_path, monkeypatch, capsys):
    old, _ = old_index
    service = emulator.app.state.vectors
    answered = service.embed_content

    def one_nan(request):  # the service answers one item with a short vector: a boundary double
        values = answered(request)
        if not one_nan.done:
            one_nan.done = True
            return values[:64]
        return values
    one_nan.done = False
    monkeypatch.setattr(service, "embed_content", one_nan)
    code = _migrate(emulator, old, tmp_path / "new.idx")
    err = capsys.readouterr().err
    assert one_nan.done and code == 1 and "1 failed" in err and "the service returned 64" in err
    assert len(load_index(tmp_path / "new.idx")) == 3


def test_a_finished_migrations_own_output_is_rerun_in_place(emulator, old_index, tmp_path, capsys):
    old, _ = old_index
    (tmp_path / "new.idx").mkdir()  # an empty folder is no one's index
    assert _migrate(emulator, old, tmp_path / "new.idx") == 0
    emulator.reset_stats()
    assert _migrate(emulator, old, tmp_path / "new.idx") == 0
    assert "0 embedded now, 4 already done" in capsys.readouterr().err and emulator.stats()["requests"] == 0


# 2. An image the target does not take (GIF for gemini-embedding-2) is sent as PNG.

def test_a_gif_is_sent_re_encoded_as_png_and_a_broken_one_still_fails(emulator, hashed, image_folder, tmp_path,
                                                                       capsys):
    root = image_folder(2)
    (root / "anim.gif").write_bytes(image_bytes("GIF", color=(10, 200, 30)))
    (root / "broken.gif").write_bytes(image_bytes("GIF"))  # broken after the old index is built
    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none")
    try:
        index, _ = index_images(vertex, find_images(root), root=root, dimension=512)
    finally:
        vertex.close()
    assert "anim.gif" in index.ids
    index.save(tmp_path / "old.idx")
    (root / "broken.gif").write_bytes(truncated(image_bytes("GIF"), 0.3))
    code = _migrate(emulator, tmp_path / "old.idx", tmp_path / "new.idx")
    err = capsys.readouterr().err
    new = load_index(tmp_path / "new.idx")
    assert "anim.gif" in new.ids and "GIF" in err and "sent re-encoded as PNG" in err, err
    assert code == 1 and "failed broken.gif: InvalidImageError" in err and "broken.gif" not in new.ids
    assert "2 images sent" not in err


# 3. Problem lists: 20 lines, a count, a file; no empty index; the retryable hint.

def test_long_problem_lists_end_with_a_count_and_all_go_to_a_file(emulator, old_index, tmp_path, capsys):
    lines = [json.dumps({"id": f"gone/{n:03d}.jpg", "embedding": [0.1, 0.2]}) for n in range(25)]
    (tmp_path / "old.jsonl").write_text("\n".join(lines) + "\n")
    emulator.reset_stats()
    assert _migrate(emulator, tmp_path / "old.jsonl", tmp_path / "new.idx") == 1
    err = capsys.readouterr().err
    errors = tmp_path / "new.idx.errors.jsonl"
    assert err.count("no source file for gone/") == 20 and f"... and 5 more (see {errors})" in err
    assert len(errors.read_text().splitlines()) == 25
    assert "no index was written" in err and not (tmp_path / "new.idx").exists()
    assert emulator.stats()["requests"] == 0


def test_a_retryable_failure_says_run_the_same_command_again(emulator, old_index, tmp_path, capsys, monkeypatch):
    from vertex_mm import registry

    old, _ = old_index
    real = registry.get_embedder
    monkeypatch.setattr(registry, "get_embedder", lambda *a, **kw: real(*a, **{**kw, "retry": "none"}))
    emulator.set_faults(fault_rate_503=1.0)
    assert _migrate(emulator, old, tmp_path / "new.idx") == 1
    err = capsys.readouterr().err
    assert "4 failed" in err and "run the same command again to retry the 4 failed for a quota or an outage" in err
    assert "ServiceUnavailableError" in (tmp_path / "new.idx.errors.jsonl").read_text()
    emulator.set_faults(fault_rate_503=0.0)
    assert _migrate(emulator, old, tmp_path / "new.idx") == 0
    assert not (tmp_path / "new.idx.errors.jsonl").exists()


# 4. --queries and --task are checked before anything is embedded.

@pytest.mark.parametrize(("flags", "expected"), [
    (["--queries", "nosuch.txt"], "--queries nosuch.txt: cannot be read (No such file or directory)"),
    (["--queries", "EMPTY"], "no queries in it"),
    (["--task", "bogus"], "--task bogus: unknown; --task takes retrieval_query, retrieval_document"),
    (["--task", "retrieval_query"], "a query task, but the items of an index are the documents"),
    (["--task", "question_answering"], "embed them with --task retrieval_document"),
])
def test_queries_and_task_are_checked_before_any_request(emulator, old_index, tmp_path, capsys, flags, expected):
    old, _ = old_index
    (tmp_path / "empty.txt").write_text("\n\n")
    flags = [str(tmp_path / "empty.txt") if f == "EMPTY" else f for f in flags]
    emulator.reset_stats()
    assert _migrate(emulator, old, tmp_path / "new.idx", *flags) == 2
    err = capsys.readouterr().err
    assert expected in err and "task_instruction" not in err, err
    assert emulator.stats()["requests"] == 0 and not (tmp_path / "new.idx").exists()


# 6. SIGTERM ends the run as Ctrl-C does, with what is left.

def test_sigterm_is_a_ctrl_c_with_a_summary_of_what_is_left(emulator, old_index, tmp_path, capsys, monkeypatch):
    from vertex_mm import registry

    old, _ = old_index
    real = registry.get_embedder
    monkeypatch.setattr(registry, "get_embedder", lambda *a, **kw: real(*a, **{**kw, "concurrency": 1}))
    calls = {"n": 0}
    gemini_class = type(real("gemini", base_url=emulator.url))
    predict = gemini_class._predict

    def term_on_the_third(self, request):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return predict(self, request)

    monkeypatch.setattr(gemini_class, "_predict", term_on_the_third)
    assert _migrate(emulator, old, tmp_path / "new.idx") == 143
    err = capsys.readouterr().err
    assert "interrupted," in err and "not done yet: run the same command again" in err, err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.setattr(gemini_class, "_predict", predict)
    assert _migrate(emulator, old, tmp_path / "new.idx") == 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_while_the_source_is_read_says_so_and_exits_as_the_signal(emulator, old_index, tmp_path, capsys,
                                                                          monkeypatch, signum, code):
    from vertex_mm import migrate

    old, _ = old_index
    real = migrate.source_items

    def stopped_while_reading(*args, **kwargs):
        os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(migrate, "source_items", stopped_while_reading)
    emulator.reset_stats()
    assert _migrate(emulator, old, tmp_path / "new.idx") == code
    assert "stopped before the embedding started: nothing was lost" in capsys.readouterr().err
    assert emulator.stats()["requests"] == 0 and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.undo()
    assert _migrate(emulator, old, tmp_path / "new.idx") == 0


# 7. Text items of an @001 index are embedded again from their text.

def test_text_items_are_migrated_from_their_text(emulator, hashed, old_index, tmp_path, capsys):
    old, _ = old_index
    index = load_index(old)
    vertex = get_embedder("vertex", api_endpoint=emulator.url, retry="none")
    try:
        index.add(["text-0", "text-1"], vertex.embed_texts(["a red car", "a blue boat"], dimension=512),
                  [{"text": "a red car"}, {"text": "a blue boat"}])
    finally:
        vertex.close()
    index.save(tmp_path / "mixed.idx")
    assert _migrate(emulator, tmp_path / "mixed.idx", tmp_path / "new.idx") == 0
    err = capsys.readouterr().err
    assert "6 items: 6 embedded now" in err and "--root" not in err
    new = load_index(tmp_path / "new.idx")
    expected = hashed.embed_content("a red car", dimension=128, task="retrieval_document")
    np.testing.assert_allclose(np.asarray(new.vector("text-0"))[0], expected, rtol=1e-5, atol=1e-6)


# 8. Cloud Storage URLs are read as gs:// URIs, as `embed` does.

def test_a_storage_url_id_is_its_gs_uri(tmp_path):
    (tmp_path / "old.jsonl").write_text(json.dumps({"id": "https://storage.googleapis.com/bkt/p/a%20b.jpg",
                                                    "embedding": [0.1]}) + "\n")
    [item] = source_items(tmp_path / "old.jsonl")
    assert item.location == "gs://bkt/p/a b.jpg"


def test_an_empty_source_writes_no_index(tmp_path, capsys):
    # A usage error before the journal: no index, and no journal or lock file left behind.
    (tmp_path / "old.jsonl").write_text("")
    assert main(["migrate", str(tmp_path / "old.jsonl"), "--backend", "hashed", "--out", str(tmp_path / "new.idx"),
                 "--no-progress"]) == 2
    assert "no items to migrate" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["old.jsonl"]


def test_ctrl_c_while_writing_the_index_says_nothing_is_lost(emulator, old_index, tmp_path, capsys, monkeypatch):
    from vertex_mm import migrate

    old, _ = old_index

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate, "build_index", stopped)
    assert _migrate(emulator, old, tmp_path / "new.idx") == 130
    err = capsys.readouterr().err
    assert "interrupted while writing the index: nothing embedded is lost" in err
    monkeypatch.undo()
    emulator.reset_stats()
    assert _migrate(emulator, old, tmp_path / "new.idx") == 0 and emulator.stats()["requests"] == 0
