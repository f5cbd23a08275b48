"""Resuming ``vertex-mm embed`` and ``vertex-mm migrate`` never mixes embedding spaces: a rerun
with another --backend, --dimension or --task is refused with a message naming both spaces,
and the output is left as it was (the hashed backend stands in for a model)."""

from __future__ import annotations

from vertex_mm.cli import main


def _embed(source, out, *flags):
    return main(["embed", str(source), "--out", str(out), "--backend", "hashed", "--no-progress", *flags])


def test_embed_resumed_with_another_dimension_is_refused_and_the_output_kept(image_folder, tmp_path, capsys):
    source, out = image_folder(4), tmp_path / "photos.jsonl"
    assert _embed(source, out, "--dimension", "128") == 0
    out.write_bytes(b"".join(out.read_bytes().splitlines(keepends=True)[:2]))  # a run stopped half-way
    before = out.read_bytes()
    capsys.readouterr()
    assert _embed(source, out, "--dimension", "256") == 2
    err = capsys.readouterr().err
    assert "'hashed/sha256/128'" in err and "'hashed/sha256/256'" in err
    assert "must not share one output" in err and "Traceback" not in err
    assert out.read_bytes() == before


def test_embed_rerun_on_a_finished_output_with_another_task_is_refused(image_folder, tmp_path, capsys):
    source, out = image_folder(3), tmp_path / "docs.jsonl"
    assert _embed(source, out, "--media", "all", "--task", "retrieval_document", "--dimension", "128") == 0
    capsys.readouterr()
    assert _embed(source, out, "--media", "all", "--task", "classification", "--dimension", "128") == 2
    err = capsys.readouterr().err
    assert "task=retrieval_document" in err and "task=classification" in err


def test_embed_parquet_resume_checks_the_journal_beside_it(image_folder, tmp_path, capsys):
    source, out = image_folder(3), tmp_path / "photos.parquet"
    assert _embed(source, out, "--dimension", "128", "--format", "parquet") == 0
    assert _embed(source, out, "--dimension", "512", "--format", "parquet") == 2
    assert "photos.parquet.journal.jsonl already holds vectors" in capsys.readouterr().err


def _migrate(source, root, out, *flags):
    return main(["migrate", str(source), "--root", str(root), "--backend", "hashed", "--out", str(out),
                 "--no-progress", *flags])


def test_migrate_resumed_with_another_dimension_is_a_typed_error_not_a_traceback(image_folder, tmp_path, capsys):
    root, old, new = image_folder(4), tmp_path / "old.jsonl", tmp_path / "new.idx"
    assert _embed(root, old, "--dimension", "128") == 0
    assert _migrate(old, root, new, "--dimension", "256") == 0
    capsys.readouterr()
    assert _migrate(old, root, new, "--dimension", "512") == 2
    err = capsys.readouterr().err
    assert "new.idx.journal.jsonl already holds vectors" in err and "'hashed/sha256/512;task=retrieval_document'" in err


def test_migrate_resumed_with_another_task_does_not_relabel_the_index(image_folder, tmp_path, capsys):
    from vertex_mm.index import load_index

    root, old, new = image_folder(4), tmp_path / "old.jsonl", tmp_path / "new.idx"
    assert _embed(root, old, "--dimension", "128") == 0
    assert _migrate(old, root, new, "--dimension", "256", "--task", "retrieval_document") == 0
    capsys.readouterr()
    assert _migrate(old, root, new, "--dimension", "256", "--task", "classification") == 2
    assert "task=classification" in capsys.readouterr().err
    assert load_index(new).space.task == "retrieval_document"
