"""``eval-images --split dev|test [--ablations]``: the built held-out photo set as inputs, and the
ablation table of the default model. Fast tests use a fake built set and the hashed backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vertex_mm.cli import main
from vertex_mm.errors import InputError
from vertex_mm.evaluation.datasets import EvalDataError
from vertex_mm.evaluation.photo_ablations import ABLATIONS, format_ablations, split_inputs


def parse_result(out: str) -> dict[str, float]:
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}


@pytest.fixture
def built(tmp_path: Path, photo_dir: Path, write_jsonl) -> Path:
    """A data folder laid out as ``vertex-mm eval-data build photos`` writes it (dev only)."""
    data = tmp_path / "data"
    split = data / "photos" / "dev"
    shutil.copytree(photo_dir, split / "images")
    write_jsonl([{"text": "a cup of coffee", "relevant": ["coffee_cup.jpg"]},
                 {"text": "a cat", "relevant": ["pets/cat.jpg"]}], folder=split)
    return data


def test_split_inputs_finds_the_built_split(built: Path) -> None:
    images, queries, manifest = split_inputs("dev", built)
    assert images == built / "photos" / "dev" / "images" and queries.name == "queries.jsonl"
    assert manifest is None  # built without near-duplicates


def test_an_unbuilt_split_names_the_folder_and_the_build_command(built: Path) -> None:
    with pytest.raises(InputError, match=r"photos/test: .*vertex-mm eval-data build photos --out"):
        split_inputs("test", built)
    with pytest.raises(EvalDataError, match="unknown split"):
        split_inputs("train", built)


def test_cli_evaluates_a_split(hashed_backend, built, capsys) -> None:
    assert main(["eval-images", "--split", "dev", "--data", str(built), "--backend", "hashed"]) == 0
    out = capsys.readouterr().out
    result = parse_result(out)
    assert result["n_queries"] == 2 and result["n_images"] == 5 and "n_neardup=0" in out
    assert "test split" not in out


def test_cli_builds_near_duplicates_of_a_split_and_reminds_about_test(hashed_backend, built, capsys) -> None:
    shutil.copytree(built / "photos" / "dev", built / "photos" / "test")
    nd = built / "nd"
    assert main(["eval-images", "--split", "test", "--data", str(built), "--backend", "hashed",
                 "--make-neardup", str(nd)]) == 0
    out = capsys.readouterr().out
    assert parse_result(out)["n_neardup"] == 30 and (nd / "manifest.jsonl").is_file()
    assert "test split: report it once" in out


@pytest.mark.parametrize("argv", [
    ["eval-images"],                                                    # neither DIR nor --split
    ["eval-images", "somewhere", "--split", "dev"],                     # both
    ["eval-images", "somewhere", "--data", "x", "--queries", "q"],      # --data without --split
    ["eval-images", "--split", "dev", "--ablations", "--backend", "hashed"],
    ["eval-images", "--split", "dev", "--ablations", "--model", "efficientnet-lite0"],
])
def test_usage_errors(hashed_backend, built, argv, capsys) -> None:
    if "--split" in argv and "--data" not in argv:
        argv = [*argv, "--data", str(built)]
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_format_ablations_has_one_row_per_variant() -> None:
    from types import SimpleNamespace

    from vertex_mm.evaluation.metrics import score_rankings

    text = score_rankings([["a", "b"], ["b", "a"]], [("a",), ("a",)], (1, 5))
    report = SimpleNamespace(scores={"text": text}, space=SimpleNamespace(variant="k20T2_x"))
    table = format_ablations([("default", report), ("other", report)], 5)
    lines = table.splitlines()
    assert lines[0].split()[:6] == ["ablation", "Hit@1", "Hit@5", "MRR", "nd", "Hit@1"]
    assert lines[1].split() == ["default", "0.500", "1.000", "0.750", "-", "k20T2_x"]
    assert len(lines) == 3
    assert [name for name, _ in ABLATIONS].count("default") == 1


@pytest.mark.slow
def test_cli_ablations_of_the_local_default(built, capsys) -> None:
    assert main(["eval-images", "--split", "dev", "--data", str(built), "--ablations", "--misses", "0"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("\nablation"):].strip().splitlines()
    assert len(table) == 1 + len(ABLATIONS)
    rows = {ln[:34].strip(): ln for ln in table[1:]}
    assert rows["default"].endswith("k20T2nd0p9_native384+wpca1280to1024f128w0p9")
    assert rows["default at 512"].endswith("k20T2nd0p9_svd384to320+wpca1280to192f128w0p9")
    assert rows["k=20 T=2, no CNN detail (previous)"].endswith("k20T2_orth384to1408s1408")
    assert rows["plain ConSE k=10 T=1 (old default)"].endswith("k10_orth384to1408s1408")


def test_ablation_dimension_is_not_a_model_param() -> None:
    from vertex_mm.evaluation.photo_ablations import model_overrides

    assert model_overrides({"dimension": 512, "top_k": 3}) == ({"top_k": 3}, 512)
    assert model_overrides({}) == ({}, None)
    dims = [model_overrides(o)[1] for _, o in ABLATIONS]
    assert {512, 256, 128} <= set(dims) and dims[[n for n, _ in ABLATIONS].index("default")] is None
