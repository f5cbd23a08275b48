"""``vertex-mm migrate``: an index built with multimodalembedding@001 (through the emulator)
re-embedded with gemini-embedding-2 into a new index, resumably, spaces never mixed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from old_indexes import save_001_index

from vertex_mm import get_embedder
from vertex_mm.cli import main
from vertex_mm.errors import EmbeddingSpaceMismatchError, InputError
from vertex_mm.index import load_index
from vertex_mm.index.build import find_images
from vertex_mm.migrate import migrate_index


@pytest.fixture
def old_index(emulator, image_folder, tmp_path):
    root = image_folder(6)
    return save_001_index(emulator.url, root, tmp_path / "old.idx"), root


def _gemini(emulator, **kw):
    return get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None, **kw)


def test_every_item_moves_into_a_new_index_in_the_new_space(emulator, hashed, old_index, tmp_path):
    old, _ = old_index
    gemini = _gemini(emulator)
    report = migrate_index(old, tmp_path / "new.idx", gemini, dimension=768, task="retrieval_document")
    gemini.close()
    assert report.complete and report.embedded == 6
    new = load_index(tmp_path / "new.idx")
    assert new.space.id == "gemini/gemini-embedding-2/768;task=retrieval_document"
    assert sorted(new.ids) == sorted(load_index(old).ids)
    # Each row is the new model's vector of that row's own image.
    first = new.ids[0]
    path = new.metadata(first)["path"]
    from vertex_mm import Image

    expected = hashed.embed_content(Image.load_from_file(path), dimension=768)
    np.testing.assert_allclose(np.asarray(new.vector(first))[0], expected, rtol=1e-5, atol=1e-6)
    # The old space is refused by the new index.
    old_vectors = load_index(old).vector(first)
    with pytest.raises(EmbeddingSpaceMismatchError):
        new.add(["x"], old_vectors)


def test_a_stopped_migration_resumes_without_embedding_twice(emulator, old_index, tmp_path, monkeypatch):
    old, _ = old_index
    gemini = _gemini(emulator, concurrency=1)
    calls = {"n": 0}
    real = type(gemini)._predict

    def stop_after_three(self, request):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, request)

    monkeypatch.setattr(type(gemini), "_predict", stop_after_three)
    report = migrate_index(old, tmp_path / "new.idx", gemini, dimension=256)
    assert report.interrupted and not (tmp_path / "new.idx").exists()
    monkeypatch.setattr(type(gemini), "_predict", real)
    emulator.reset_stats()
    again = migrate_index(old, tmp_path / "new.idx", gemini, dimension=256)
    gemini.close()
    assert again.complete and again.already_done == 3 and again.embedded == 3
    assert emulator.stats()["2xx"] == 3
    assert len(load_index(tmp_path / "new.idx")) == 6


def test_items_without_a_source_are_reported_not_guessed(emulator, old_index, tmp_path):
    old, root = old_index
    find_images(root)[0].unlink()
    gemini = _gemini(emulator)
    report = migrate_index(old, tmp_path / "new.idx", gemini, dimension=128)
    gemini.close()
    assert len(report.missing_source) == 1 and not report.complete
    assert len(load_index(tmp_path / "new.idx")) == 5


def test_the_command_migrates_and_reports_the_top_k_overlap(emulator, old_index, tmp_path, capsys):
    old, _ = old_index
    (tmp_path / "queries.txt").write_text("a red square\na green thing\n")
    code = main(["migrate", str(old), "--to", "gemini-embedding-2", "--out", str(tmp_path / "new.idx"),
                 "--api-endpoint", emulator.url, "--dimension", "256", "--queries", str(tmp_path / "queries.txt"),
                 "-k", "3", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "6 items: 6 embedded now" in err and "task=retrieval_document" in err
    assert "top-3 overlap, old vs new index, over 2 queries" in out


@pytest.mark.parametrize("to", ["multimodalembedding@001", "gemini-embedding-3"])
def test_a_model_the_backend_does_not_serve_is_one_usage_error_before_any_request(emulator, old_index, tmp_path,
                                                                                  capsys, to):
    old, _ = old_index
    emulator.reset_stats()
    code = main(["migrate", str(old), "--to", to, "--out", str(tmp_path / "new.idx"), "--api-endpoint", emulator.url,
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--to {to}: the gemini backend serves gemini-embedding-2" in err
    assert "multimodalembedding@001 (--backend vertex)" in err and len(err.splitlines()) == 1
    assert emulator.stats()["requests"] == 0 and not (tmp_path / "new.idx").exists()


def test_the_preview_name_and_a_resource_path_are_the_served_model(emulator, old_index, tmp_path, capsys):
    old, _ = old_index
    for n, to in enumerate(["gemini-embedding-2-preview", "publishers/google/models/gemini-embedding-2"]):
        # No FutureWarning (warnings are errors here): the CLI says it on stderr instead.
        assert main(["migrate", str(old), "--to", to, "--out", str(tmp_path / f"new{n}.idx"), "--api-endpoint",
                     emulator.url, "--dimension", "128", "--no-progress"]) == 0
        err = capsys.readouterr().err
        assert ("superseded, migrating to gemini-embedding-2" in err) == (to == "gemini-embedding-2-preview")
        assert load_index(tmp_path / f"new{n}.idx").space.model == "gemini-embedding-2"


def test_a_backend_with_its_own_model_takes_no_to(old_index, tmp_path, capsys):
    old, _ = old_index
    code = main(["migrate", str(old), "--backend", "hashed", "--to", "gemini-embedding-2", "--out",
                 str(tmp_path / "new.idx"), "--no-progress"])
    assert code == 2 and "takes no --to" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_embeds_output_in_either_format_migrates_with_a_root(image_folder, tmp_path, capsys, fmt):
    root = image_folder(4)
    out = tmp_path / f"photos.{fmt}"
    assert main(["embed", str(root), "--out", str(out), "--backend", "hashed", "--dimension", "128",
                 "--no-progress"]) == 0
    code = main(["migrate", str(out), "--root", str(root), "--backend", "hashed", "--out", str(tmp_path / "new.idx"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "4 items: 4 embedded now" in err
    assert sorted(load_index(tmp_path / "new.idx").ids) == sorted(p.relative_to(root).as_posix()
                                                                   for p in find_images(root))


@pytest.mark.parametrize("data", [b"\xff\xd8\xff\xe0 a photo", b"PAR1 truncated"])
def test_a_file_that_is_no_jsonl_nor_parquet_is_a_typed_error_naming_it(tmp_path, capsys, data):
    bad = tmp_path / "photos.bin"
    bad.write_bytes(data)
    code = main(["migrate", str(bad), "--backend", "hashed", "--out", str(tmp_path / "new.idx"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err, err
    assert "JSONL or a Parquet" in err or "not a readable Parquet file" in err
    assert not (tmp_path / "new.idx").exists()


def test_a_parquet_file_without_ids_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"name": ["a.jpg"]}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="without an 'id' column"):
        migrate_index(tmp_path / "x.parquet", tmp_path / "new.idx", get_embedder("hashed"))


def test_the_help_documents_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["migrate", "--help"])
    assert "multimodalembedding@001 retires" in capsys.readouterr().out



def test_the_index_is_built_from_the_journal_in_item_order_last_record_winning(tmp_path):
    from vertex_mm._migrate_io import build_index
    from vertex_mm.jobs import Journal

    space = get_embedder("hashed").content_space(128)
    unit = np.eye(128, dtype=np.float32).tolist()
    journal = tmp_path / "new.idx.journal.jsonl"
    with Journal(journal, space=space.id) as j:
        for item_id, n in [("b", 1), ("gone", 0), ("a", 0), ("b", 2)]:
            j.write({"id": item_id, "content_hash": f"h{n}", "space": space.id, "embedding": unit[n]})
    index, rows = build_index(["a", "missing", "b"], [{"n": 0}, {"n": 1}, {"n": 2}], journal, space, "flat")
    assert rows == 2 and list(index.ids) == ["a", "b"] and index.metadata("b") == {"n": 2}
    np.testing.assert_allclose(np.asarray(index.vector("b"))[0], unit[2])


@pytest.mark.parametrize("answer, why", [(float("nan"), "finite"), (0.0, "all zeros")])
def test_a_model_answering_no_usable_vector_is_a_failure_not_a_silent_gap(image_folder, tmp_path, monkeypatch, answer, why):
    # JSON carries no NaN, but a local model can answer one: never journalled, the run not
    # complete. A zero vector was journalled, and the index it could not enter was never written.
    from vertex_mm.testing import HashedEmbedder

    root = image_folder(3)
    src = tmp_path / "src.jsonl"
    src.write_text("".join(f'{{"id": "{p.relative_to(root).as_posix()}"}}\n' for p in sorted(root.rglob("*.jpg"))))
    emb = HashedEmbedder()
    answered = HashedEmbedder._predict

    def one_nan(self, request):  # the model's answer for one item, at the boundary
        out = answered(self, request)
        if not one_nan.done:
            one_nan.done = True
            for field in ("content_embedding", "image_embedding"):
                if getattr(out, field, None):
                    setattr(out, field, [answer] * len(getattr(out, field)))
        return out
    one_nan.done = False
    monkeypatch.setattr(HashedEmbedder, "_predict", one_nan)
    report = migrate_index(src, tmp_path / "new.idx", emb, root=root, progress=False)
    assert one_nan.done and not report.complete, report.summary()
    assert sum(why in reason for reason in report.failed.values()) == 1  # the bad answer, listed
    assert report.written and len(load_index(tmp_path / "new.idx")) == 2  # the others are in the index


def test_an_image_to_convert_over_the_targets_pixel_limit_is_refused_from_its_header(tmp_path):
    from factories import image_bytes

    from vertex_mm._migrate_io import load_source_image
    from vertex_mm.errors import ImageTooLargeError

    gif = tmp_path / "big.gif"
    gif.write_bytes(image_bytes("GIF", size=(300, 200)))
    with pytest.raises(ImageTooLargeError, match=r"big\.gif: image is 300x200 = 60,000 pixels; the limit is 50,000"):
        load_source_image(str(gif), frozenset({"PNG"}), max_pixels=50_000)
    image, converted, _ = load_source_image(str(gif), frozenset({"PNG"}), max_pixels=60_000)
    assert converted == "GIF" and image.data is not None and image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_image_converted_to_png_keeps_its_orientation_and_colour_profile(tmp_path):
    from PIL import Image as PILImage
    from PIL import ImageCms

    from vertex_mm._migrate_io import load_source_image

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = PILImage.new("RGB", (40, 20), (200, 30, 30))
    pixels.paste((30, 30, 200), (0, 0, 10, 20))  # blue on the left as stored
    exif = PILImage.Exif()
    exif[0x0112] = 6  # Orientation: shown turned 90 degrees clockwise (a phone held upright)
    tiff = tmp_path / "phone.tif"
    pixels.save(tiff, "TIFF", exif=exif, icc_profile=srgb)
    image, converted, _ = load_source_image(str(tiff), frozenset({"PNG"}))
    assert converted == "TIFF" and image.data is not None
    with PILImage.open(io.BytesIO(image.data)) as png:
        assert png.format == "PNG" and png.size == (20, 40)  # upright, as shown
        assert png.getpixel((10, 2)) == (30, 30, 200)  # the stored left edge is now the top
        assert png.info.get("icc_profile") == srgb


def test_an_empty_id_in_a_jsonl_source_is_refused_before_anything_is_embedded(tmp_path):
    source = tmp_path / "old.jsonl"
    source.write_text('{"id": "a.jpg"}\n{"id": ""}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"old.jsonl:2: id must be a non-empty string, got ''"):
        migrate_index(source, tmp_path / "new.idx", get_embedder("hashed"))


def test_a_faiss_migration_without_faiss_is_refused_before_anything_is_embedded(tmp_path, monkeypatch):
    import sys

    from vertex_mm.errors import MissingDependencyError

    source = tmp_path / "old.jsonl"
    source.write_text('{"id": "a", "metadata": {"text": "a cat"}}\n', encoding="utf-8")
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if not installed: import faiss raises ImportError
    with pytest.raises(MissingDependencyError, match="FAISS index backend"):
        migrate_index(source, tmp_path / "new.idx", get_embedder("hashed"), kind="faiss")
    assert list(tmp_path.iterdir()) == [source]  # no journal: nothing was sent

