"""``vertex-mm eval-images`` end to end: plumbing with hashed vectors (fast), quality with the
real offline model on the shipped photos (slow), and the Vertex client against the emulator."""

from __future__ import annotations

import re
import shutil

import pytest

from vertex_mm.cli import main
from vertex_mm.emulator import run_emulator
from vertex_mm.evaluation import sample_eval_queries_path
from vertex_mm.sample_data import sample_photos_dir

SAMPLE_QUERIES = sample_photos_dir().parent / "queries.jsonl"


def parse_result(out: str) -> dict[str, float]:
    """The key=value pairs of the last ``RESULT`` line of the output."""
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}


@pytest.fixture
def copy_queries(photo_dir, tmp_path, write_jsonl):
    """Two image queries that are byte copies of photos (hashed: rank 1) and two text queries."""
    shutil.copy(photo_dir / "coins.jpg", tmp_path / "coins_copy.jpg")
    shutil.copy(photo_dir / "pets" / "cat.jpg", tmp_path / "cat_copy.jpg")
    return write_jsonl([
        {"image": "coins_copy.jpg", "relevant": ["coins.jpg"]},
        {"image": "cat_copy.jpg", "expected": "pets/cat.jpg"},
        {"text": "a cup of coffee", "relevant": ["coffee_cup.jpg"]},
        {"text": "space", "relevant": ["rocket.jpg", "astronaut.jpg"]},
    ])


def test_prints_a_table_and_ends_with_the_result_line(hashed_backend, photo_dir, copy_queries, capsys):
    assert main(["eval-images", str(photo_dir), "--queries", str(copy_queries), "--backend", "hashed",
                 "--dimension", "128"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^text -> image\s+2\s", out, re.M)
    assert re.search(r"^image -> image\s+2\s+1\.000\s+1\.000\s+1\.000$", out, re.M)
    assert "5 photos in" in out and "space hashed/" in out
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("RESULT text_hit1=") and "text_hit5=" in last and last.endswith("n_images=5")
    result = parse_result(out)
    assert result["image_hit1"] == 1.0 and result["n_neardup"] == 0
    # n_queries counted the text queries only, next to an image score
    assert (result["n_queries"], result["n_text_queries"], result["n_image_queries"]) == (4, 2, 2)
    assert result["text_hit5"] == 1.0 and result["text_recall5"] == 1.0  # five photos: all are in the top 5
    assert "(text queries with several relevant photos: 1; recall@5 of text -> image" in out


def test_counts_name_their_task(hashed_backend, photo_dir, tmp_path, write_jsonl, capsys):
    """The image query with two answers was reported as a text query with several relevant photos,
    and ``n_queries`` counted text queries only."""
    shutil.copy(photo_dir / "rocket.jpg", tmp_path / "rocket_copy.jpg")
    queries = write_jsonl([{"image": "rocket_copy.jpg", "relevant": ["rocket.jpg", "astronaut.jpg"]},
                           {"text": "a cup of coffee", "relevant": ["coffee_cup.jpg"]}])
    assert main(["eval-images", str(photo_dir), "--queries", str(queries), "--backend", "hashed"]) == 0
    out = capsys.readouterr().out
    assert "several relevant photos" not in out
    result = parse_result(out)
    assert (result["n_queries"], result["n_text_queries"], result["n_image_queries"]) == (2, 1, 1)


def test_make_neardup_of_a_folder_without_photos_is_a_usage_error(hashed_backend, tmp_path, capsys):
    """It ended in a ValueError traceback."""
    (tmp_path / "empty").mkdir()
    assert main(["eval-images", str(tmp_path / "empty"), "--make-neardup", str(tmp_path / "nd"),
                 "--backend", "hashed"]) == 2
    assert "empty: no images to make near-duplicates of" in capsys.readouterr().err


def test_make_neardup_writes_copies_and_scores_them(hashed_backend, photo_dir, tmp_path, capsys):
    out_dir = photo_dir / "neardup"  # inside DIR: must be neither copied again nor searched
    assert main(["eval-images", str(photo_dir), "--make-neardup", str(out_dir), "--backend", "hashed"]) == 0
    assert main(["eval-images", str(photo_dir), "--make-neardup", str(out_dir), "--backend", "hashed"]) == 0
    out = capsys.readouterr().out
    assert len(list(out_dir.glob("*.jpg"))) == 5 * 6
    result = parse_result(out)
    assert result["n_neardup"] == 30 and result["n_images"] == 5 and "text_hit1" not in result
    assert "near-dup Hit@1 by edit: crop" in out


def test_neardup_manifest_and_k(hashed_backend, photo_dir, tmp_path, write_jsonl, capsys):
    shutil.copy(photo_dir / "rocket.jpg", tmp_path / "rocket_copy.jpg")
    manifest = write_jsonl([{"query": "rocket_copy.jpg", "target": "rocket.jpg", "transform": "copy"}],
                           name="manifest.jsonl")
    assert main(["eval-images", str(photo_dir), "--neardup", str(manifest), "--backend", "hashed", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "Hit@3" in out and "near-dup Hit@1 by edit: copy 1.00" in out
    assert parse_result(out)["neardup_hit1"] == 1.0


def test_misses_are_listed_with_their_rank(hashed_backend, photo_dir, write_jsonl, capsys):
    queries = write_jsonl([{"text": f"query {i}", "relevant": ["rocket.jpg"]} for i in range(8)])
    main(["eval-images", str(photo_dir), "--queries", str(queries), "--backend", "hashed", "-k", "1"])
    out = capsys.readouterr().out
    result = parse_result(out)
    n_missed = round((1 - result["text_hit1"]) * 8)
    assert n_missed > 0  # 8 unrelated hashed queries: some miss (fixed by the hashes)
    assert f"text -> image: {n_missed} missed (no relevant photo in the top 1)" in out
    assert re.search(r"'query \d' wants rocket\.jpg \(rank [2-5]\); top: ", out)


def test_failures_give_exit_status_1(hashed_backend, photo_dir, write_jsonl, capsys):
    (photo_dir / "broken.jpg").write_bytes(b"not an image")
    queries = write_jsonl([{"text": "a cat", "relevant": ["pets/cat.jpg"]}])
    assert main(["eval-images", str(photo_dir), "--queries", str(queries), "--backend", "hashed"]) == 1
    assert "skipped photo broken.jpg: InvalidImageError" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    ([], "give --queries"),
    (["--queries", "{q}", "-k", "0"], "-k must be >= 1"),
    (["--neardup", "{q}", "--make-neardup", "x"], "not both"),
    (["--queries", "{missing}"], "cannot read"),
    (["--queries", "{wrong}"], "nowhere.jpg not among the photos"),
    (["--queries", "{q}", "--backend", "nope"], "unknown backend"),
])
def test_usage_errors_exit_2(hashed_backend, photo_dir, tmp_path, write_jsonl, capsys, extra, message):
    names = {"q": write_jsonl([{"text": "a cat", "relevant": ["pets/cat.jpg"]}]),
             "wrong": write_jsonl([{"text": "a cat", "relevant": ["nowhere.jpg"]}], name="wrong.jsonl"),
             "missing": tmp_path / "missing.jsonl"}
    args = [a.format(**names) for a in extra]
    backend = [] if "--backend" in args else ["--backend", "hashed"]
    assert main(["eval-images", str(photo_dir), *args, *backend]) == 2
    assert message in capsys.readouterr().err


def test_vertex_backend_through_the_emulator_matches_the_direct_embedder(hashed_backend, photo_dir, copy_queries,
                                                                          capsys):
    args = ["eval-images", str(photo_dir), "--queries", str(copy_queries), "--dimension", "128"]
    assert main([*args, "--backend", "hashed"]) == 0
    direct = parse_result(capsys.readouterr().out)
    with run_emulator(backend="hashed") as emu:
        assert main([*args, "--backend", "vertex", "--api-endpoint", emu.url]) == 0
        requests = emu.stats()["requests"]
    out = capsys.readouterr().out
    assert "space vertex/multimodalembedding@001/128" in out
    assert parse_result(out) == direct
    assert requests == 5 + 4  # one request per photo and per query


# -- the real offline model on the shipped photos ----------------------------------------------------

def _eval_sample(capsys, *args: str) -> tuple[str, dict[str, float]]:
    code = main(["eval-images", str(sample_photos_dir()), *args])
    out = capsys.readouterr().out
    assert code == 0, out
    print(out)  # the table and misses, for the log
    return out, parse_result(out)


@pytest.mark.slow
def test_local_model_on_the_shipped_photos_and_evaluation_queries(capsys):
    # 37 queries written to describe what each photo shows; the local model misses some it has
    # no ImageNet class for (the moon, histology, gravel, a Hubble field): see the report.
    out, result = _eval_sample(capsys, "--queries", str(sample_eval_queries_path()))
    assert result["n_queries"] == 37 and result["n_images"] == 17
    # k=20, T=2 (calibrated on the held-out dev photos) measured Hit@1 0.703, Hit@5 0.865, MRR 0.775;
    # the plain k=10, T=1 it replaced measured 0.568, 0.838, 0.685.
    assert result["text_hit5"] >= 0.85
    assert result["text_hit1"] >= 0.65 and result["text_mrr"] >= 0.72


@pytest.mark.slow
def test_local_model_on_the_sample_data_queries(capsys):
    _, result = _eval_sample(capsys, "--queries", str(SAMPLE_QUERIES))
    assert result["text_hit5"] >= 0.8 and result["image_hit1"] == 1.0
    assert result["n_text_queries"] == 8 and result["n_images"] == 17
    assert result["n_queries"] == 8 + result["n_image_queries"] and result["n_image_queries"] > 0


@pytest.mark.slow
def test_local_model_finds_near_duplicates(tmp_path, capsys):
    out, result = _eval_sample(capsys, "--make-neardup", str(tmp_path / "nd"))
    assert result["n_neardup"] == 17 * 6
    assert result["neardup_hit1"] >= 0.95  # 1.000 measured (0.941 with the old k=10, T=1)


@pytest.mark.slow
def test_image_only_cnn_finds_every_near_duplicate_but_answers_no_text(tmp_path, capsys):
    # ConSE squeezes a photo through 1000 class scores; the CNN's own features keep more of it.
    code = main(["eval-images", str(sample_photos_dir()), "--queries", str(SAMPLE_QUERIES),
                 "--make-neardup", str(tmp_path / "nd"), "--model", "efficientnet-lite0"])
    out = capsys.readouterr().out
    print(out)
    assert code == 1  # the text queries fail: the model has no text tower, and the table says so
    assert "has no text tower" in out and "top: (none)" in out
    result = parse_result(out)
    assert result["text_hit5"] == 0.0 and result["image_hit1"] == 1.0
    assert result["neardup_hit1"] >= 0.95


@pytest.mark.slow
def test_vertex_client_through_the_emulator_serving_the_local_model_scores_the_same(capsys):
    args = ["--queries", str(sample_eval_queries_path()), "--dimension", "512"]
    _, direct = _eval_sample(capsys, *args)
    with run_emulator(backend="local") as emu:
        _, via_vertex = _eval_sample(capsys, *args, "--backend", "vertex", "--api-endpoint", emu.url)
    assert via_vertex == direct
