"""What ``migrate`` reads from `vertex-mm embed`'s output and other sources: a re-embedded id
(the last line wins), ids that are absolute paths (no --root needed), and one bad line
(metadata the new index refuses, a storage URL no gs:// URI can name) failing alone, before
anything is sent for it. The emulator is the service."""

from __future__ import annotations

import json

import numpy as np
from factories import image_bytes

from vertex_mm import Image, get_embedder
from vertex_mm.cli import main
from vertex_mm.index import load_index
from vertex_mm.migrate import migrate_index, plan_migration


def _gemini(emulator):
    return get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)


def _migrate(emulator, source, out, **kw):
    gemini = _gemini(emulator)
    try:
        return migrate_index(source, out, gemini, dimension=128, **kw)
    finally:
        gemini.close()


def _photos(folder, n):
    folder.mkdir()
    for i in range(n):
        (folder / f"p{i}.jpg").write_bytes(image_bytes("JPEG", size=(40, 30), color=(40 * i, 200, 10)))
    return folder


def test_a_reembedded_id_in_embed_jsonl_migrates_from_its_last_line(emulator, hashed, tmp_path):
    photos = _photos(tmp_path / "photos", 2)
    cli = ["--out", str(tmp_path / "old.jsonl"), "--backend", "gemini", "--api-endpoint", emulator.url,
           "--dimension", "128", "--no-progress"]
    assert main(["embed", str(photos), *cli]) == 0
    (photos / "p0.jpg").write_bytes(image_bytes("JPEG", size=(40, 30), color=(1, 2, 250)))  # edited
    assert main(["embed", str(photos), *cli]) == 0
    ids = [json.loads(line)["id"] for line in (tmp_path / "old.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["p0.jpg", "p0.jpg", "p1.jpg"]  # embed appended the edited file's new line
    emulator.reset_stats()
    report = _migrate(emulator, tmp_path / "old.jsonl", tmp_path / "new.idx", root=photos)
    assert report.complete and report.items == 2 and report.embedded == 2, report.summary()
    assert emulator.stats()["2xx"] == 2
    new = load_index(tmp_path / "new.idx")
    expected = hashed.embed_content(Image.load_from_file(str(photos / "p0.jpg")), dimension=128)
    np.testing.assert_allclose(np.asarray(new.vector("p0.jpg"))[0], expected, rtol=1e-5, atol=1e-6)


def test_the_last_line_of_an_id_names_its_source(emulator, hashed, tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(image_bytes("JPEG", size=(40, 30), color=(10, 200, 10)))
    b.write_bytes(image_bytes("JPEG", size=(40, 30), color=(200, 10, 10)))
    source = tmp_path / "s.jsonl"
    source.write_text("".join(json.dumps({"id": "x", "metadata": {"path": str(p)}}) + "\n" for p in (a, b)))
    report = _migrate(emulator, source, tmp_path / "new.idx")
    assert report.complete and report.items == 1 and report.embedded == 1
    new = load_index(tmp_path / "new.idx")
    assert new.metadata("x")["path"] == str(b)
    expected = hashed.embed_content(Image.load_from_file(str(b)), dimension=128)
    np.testing.assert_allclose(np.asarray(new.vector("x"))[0], expected, rtol=1e-5, atol=1e-6)


def test_ids_that_are_absolute_paths_need_no_root(emulator, tmp_path):
    # `vertex-mm embed LIST.txt` keys each file by its line: here, absolute paths, no metadata.
    photos = _photos(tmp_path / "photos", 2)
    (tmp_path / "list.txt").write_text("".join(f"{p}\n" for p in sorted(photos.iterdir())))
    assert main(["embed", str(tmp_path / "list.txt"), "--out", str(tmp_path / "old.jsonl"), "--backend", "gemini",
                 "--api-endpoint", emulator.url, "--dimension", "128", "--no-progress"]) == 0
    report = _migrate(emulator, tmp_path / "old.jsonl", tmp_path / "new.idx")
    assert report.complete and report.embedded == 2 and not report.missing_source, report.summary()
    assert sorted(load_index(tmp_path / "new.idx").ids) == sorted(str(p) for p in photos.iterdir())


def test_metadata_the_new_index_refuses_fails_that_item_alone_before_it_is_sent(emulator, tmp_path):
    photos = _photos(tmp_path / "photos", 3)
    source = tmp_path / "old.jsonl"
    lines = [json.dumps({"id": f"p{i}.jpg", "metadata": {"path": str(photos / f"p{i}.jpg"), "score": 1.0}})
             for i in range(3)]
    lines[1] = lines[1].replace("1.0", "NaN")  # json.loads reads it; the index refuses it
    source.write_text("\n".join(lines) + "\n")
    gemini = _gemini(emulator)
    try:
        plan = plan_migration(source, tmp_path / "new.idx", gemini, dimension=128)
    finally:
        gemini.close()
    assert list(plan.failures) == ["p1.jpg"] and plan.to_send == 2
    assert f"{source}:2: the metadata of id 'p1.jpg' is not valid JSON" in plan.failures["p1.jpg"]
    emulator.reset_stats()
    report = _migrate(emulator, source, tmp_path / "new.idx")
    assert emulator.stats()["2xx"] == 2  # nothing was paid for the bad line
    assert report.written and report.embedded == 2 and list(report.failed) == ["p1.jpg"]
    assert sorted(load_index(tmp_path / "new.idx").ids) == ["p0.jpg", "p2.jpg"]
    errors = [json.loads(line) for line in (tmp_path / "new.idx.errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["p1.jpg"]


def test_a_generation_pinned_storage_url_fails_alone(emulator, tmp_path, capsys):
    photos = _photos(tmp_path / "photos", 1)
    pinned = "https://storage.googleapis.com/bkt/x.jpg?generation=1712"
    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i}) + "\n" for i in ["p0.jpg", pinned]))
    argv = ["migrate", str(source), "--root", str(photos), "--out", str(tmp_path / "new.idx"), "--api-endpoint",
            emulator.url, "--dimension", "128", "--no-progress"]
    assert main([*argv, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "1 to embed, 1 would fail" in err and f"would fail {pinned}: InvalidURIError" in err
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 embedded now" in err and f"failed {pinned}: InvalidURIError" in err and "pins one generation" in err
    assert list(load_index(tmp_path / "new.idx").ids) == ["p0.jpg"]
