"""The held-out evaluation sets: manifests, splits, licences, the shipped subset, the builder's errors.

Fast and model-free: nothing here embeds or ranks anything. One slow test builds a small part
of the photo set from the Debian registry and skips, saying why, where that cannot be done.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from vertex_mm.evaluation import datasets as ds
from vertex_mm.evaluation._rcc import RccError, read_rcc

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "evalsets"


@pytest.fixture(scope="module")
def photos() -> list[ds.PhotoRecord]:
    return ds.load_photos()


@pytest.fixture(scope="module")
def documents() -> list[ds.PageDocument]:
    return ds.load_page_documents()


def test_photo_set_is_big_enough_and_ids_are_unique(photos: list[ds.PhotoRecord]) -> None:
    assert len(photos) >= 300
    assert len({p.id for p in photos}) == len(photos)
    assert len({p.sha256 for p in photos}) == len(photos), "the same file twice"
    assert len({p.package for p in photos}) >= 5


def test_photo_splits_are_disjoint_by_package_and_roughly_40_60(photos: list[ds.PhotoRecord]) -> None:
    by_split = {s: {p.package for p in photos if p.split == s} for s in ds.SPLITS}
    assert not by_split["dev"] & by_split["test"]
    share = sum(p.split == "dev" for p in photos) / len(photos)
    assert 0.3 <= share <= 0.5


def test_every_photo_query_points_at_photos_of_its_own_split(photos: list[ds.PhotoRecord]) -> None:
    split_of = {p.id: p.split for p in photos}
    answered = set()
    for split in ds.SPLITS:
        queries = ds.load_photo_queries(split)
        assert len({q["id"] for q in queries}) == len(queries)
        assert len({q["text"] for q in queries}) == len(queries)
        for q in queries:
            assert q["text"].strip() and q["relevant"], q
            assert all(split_of.get(r) == split for r in q["relevant"]), q
            answered.update(q["relevant"])
    assert answered == set(split_of), "every photo is the answer to at least one query"


def test_photo_queries_parse_with_the_eval_images_loader(tmp_path: Path) -> None:
    from vertex_mm.evaluation import load_queries

    for split in ds.SPLITS:
        queries = load_queries(ds.data_dir() / "photos" / f"queries-{split}.jsonl")
        assert queries and all(q.kind == "text" for q in queries)


def test_page_set_has_15_documents_of_several_kinds(documents: list[ds.PageDocument]) -> None:
    assert len(documents) >= 15
    assert len({d.stem for d in documents}) == len(documents)
    assert {"paper", "report", "slides", "manual", "form"} <= {d.kind for d in documents}
    assert {d.form for d in documents} == {"pdf", "scan"}
    assert 150 <= sum(len(d.pages) for d in documents) <= 300


def test_page_splits_are_disjoint_by_document(documents: list[ds.PageDocument]) -> None:
    queries, qrels = ds.load_page_queries()
    split_of = {d.stem: d.split for d in documents}
    pages = {f"{d.stem}#{p}" for d in documents for p in d.pages}
    assert set(split_of.values()) == set(ds.SPLITS)
    for q in queries:
        judged = qrels[q["split"]].get(q["_id"])
        assert judged, f"query {q['_id']} has no judgement in qrels/{q['split']}.tsv"
        assert all(c in pages and split_of[c.split("#")[0]] == q["split"] for c in judged), q
        assert q["kind"] in {"chart", "figure", "table", "text", "form", "slide"}
    assert len({q["_id"] for q in queries}) == len(queries)
    assert set(qrels["dev"]).isdisjoint(qrels["test"])


def test_every_file_has_an_allowed_licence(photos: list[ds.PhotoRecord], documents: list[ds.PageDocument]) -> None:
    for item in [*photos, *documents]:
        assert ds.license_allowed(item.license), item
        assert item.author.strip(), item


@pytest.mark.parametrize("expression, ok", [("CC0-1.0", True), ("LPPL-1.3c OR GPL-2.0-or-later", True),
                                            ("GFDL-1.2", False), ("CC-BY-NC-4.0", False), ("", False)])
def test_licence_allow_list(expression: str, ok: bool) -> None:
    assert ds.license_allowed(expression) is ok


def test_shipped_subset_matches_its_checksums() -> None:
    sums = (FIXTURE / "SHA256SUMS").read_text(encoding="utf-8").split("\n")
    listed = [line.split("  ", 1) for line in sums if line.strip()]
    assert len(listed) >= 5
    for digest, name in listed:
        assert hashlib.sha256((FIXTURE / name).read_bytes()).hexdigest() == digest, name


def test_shipped_subset_queries_point_at_its_files() -> None:
    from vertex_mm.evaluation import load_queries

    queries = load_queries(FIXTURE / "queries.jsonl")
    files = {p.relative_to(FIXTURE / "photos").as_posix() for p in (FIXTURE / "photos").rglob("*.jpg")}
    assert all(set(q.relevant) <= files for q in queries)


def test_shipped_data_stays_small() -> None:
    sizes = [p.stat().st_size for p in ds.data_dir().rglob("*") if p.is_file()]
    sizes += [p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file()]
    assert max(sizes) < 1_000_000 and sum(sizes) < 2_000_000


def _rcc_blob(files: dict[str, bytes]) -> bytes:
    """A version-1 Qt resource file with one directory of files, every other one compressed."""
    names, data, nodes = b"", b"", []

    def name(text: str) -> int:
        nonlocal names
        at = len(names)
        names += struct.pack(">HI", len(text), 0) + text.encode("utf-16-be")
        return at

    nodes.append(struct.pack(">IHII", 0, 2, 1, 1))  # root: one child (node 1)
    nodes.append(struct.pack(">IHII", name("dir"), 2, len(files), 2))
    for i, (fname, content) in enumerate(files.items()):
        flags = i % 2
        payload = struct.pack(">I", len(content)) + zlib.compress(content) if flags else content
        nodes.append(struct.pack(">IHHHI", name(fname), flags, 0, 0, len(data)))
        data += struct.pack(">I", len(payload)) + payload
    tree = b"".join(nodes)
    header = 20
    return b"qres" + struct.pack(">IIII", 1, header, header + len(tree), header + len(tree) + len(data)) + tree + data + names


def test_rcc_reader_returns_plain_and_compressed_members(tmp_path: Path) -> None:
    (tmp_path / "a.rcc").write_bytes(_rcc_blob({"x.webp": b"plain bytes", "y.webp": b"zipped " * 50}))
    assert read_rcc(tmp_path / "a.rcc") == {"dir/x.webp": b"plain bytes", "dir/y.webp": b"zipped " * 50}
    assert ds.read_member(tmp_path, "a.rcc!/dir/y.webp") == b"zipped " * 50


def test_rcc_reader_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "b.rcc").write_bytes(b"PK\x03\x04 not qt")
    with pytest.raises(RccError, match="not a Qt resource file"):
        read_rcc(tmp_path / "b.rcc")


def test_missing_apt_get_names_the_package_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_apt(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("apt-get")

    monkeypatch.setattr(subprocess, "run", no_apt)
    with pytest.raises(ds.PackageFetchError, match=r"palapeli-data.*apt-get download palapeli-data=4:22.12.3-1") as info:
        ds.build_photos(tmp_path, packages={"palapeli-data"}, neardup=False)
    assert info.value.package == "palapeli-data"


def test_a_changed_file_fails_the_checksum(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "photo.jpg").write_bytes(b"not the recorded photo")
    fetched = ds._Packages(tmp_path, None, lambda s: None)
    fetched._roots["some-package"] = tmp_path / "pkg"
    with pytest.raises(ds.ChecksumMismatchError, match="some-package 1.0: photo.jpg has sha256"):
        fetched.read("some-package", "1.0", "photo.jpg", "0" * 64)


@pytest.mark.slow
def test_builds_a_small_part_of_the_photo_set_from_the_registry(tmp_path: Path) -> None:
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("needs apt-get and dpkg-deb (a Debian machine) to fetch packages")
    try:
        base = ds.build_photos(tmp_path, packages={"palapeli-data"}, splits=("dev",))
    except ds.PackageFetchError as exc:
        pytest.skip(f"the Debian registry cannot serve palapeli-data here: {exc}")
    built = sorted(p.relative_to(base / "dev" / "images").as_posix() for p in (base / "dev" / "images").rglob("*.jpg"))
    assert built == sorted(p.id for p in ds.load_photos() if p.package == "palapeli-data")
    manifest = [json.loads(line) for line in (base / "dev" / "neardup" / "manifest.jsonl").read_text().splitlines()]
    assert Counter(m["target"] for m in manifest) == {pid: 6 for pid in built}


def test_cli_info_lists_sizes_and_the_evaluation_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vertex_mm.cli import main

    assert main(["eval-data", "info", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "photos/test:" in out and "pages/dev:" in out
    assert f"vertex-mm pages eval {tmp_path / 'pages' / 'test'} --split test" in out
    assert f"vertex-mm eval-images --split test --data {tmp_path}\n" in out


def test_a_debs_folder_that_does_not_exist_is_a_usage_error_not_a_download(tmp_path: Path, capsys) -> None:
    """A mistyped --debs quietly fell back to apt-get download (network) and exited 0."""
    from vertex_mm.cli import main

    rc = main(["eval-data", "build", "photos", "--debs", str(tmp_path / "nonexist"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and f"--debs {tmp_path / 'nonexist'}: no such folder" in err
    assert not (tmp_path / "out").exists()


@pytest.fixture
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A photo manifest of two sample photos in one package, fetched from a local folder.

    ``apt-get download`` and ``dpkg-deb -x`` (the network boundary) are replaced: the package
    "unpacks" to a folder of real photos, or, with ``state["offline"]``, fails as a download does."""
    from vertex_mm.sample_data import sample_photos

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    by_name = {p.name: p for p in sample_photos()}
    records = []
    for name in ("coins.jpg", "rocket.jpg"):
        shutil.copy(by_name[name], unpacked / name)
        digest = hashlib.sha256((unpacked / name).read_bytes()).hexdigest()
        records.append(ds.PhotoRecord(f"fake-pkg/{name}", "dev", "fake-pkg", "1.0", name, digest, "CC0-1.0", "x"))
    state: dict[str, object] = {"records": records, "offline": False}

    def fetch(package: str, version: str, workdir: Path, debs_dir: Path | None) -> Path:
        if state["offline"]:
            raise ds.PackageFetchError(f"cannot fetch Debian package {package} {version} (offline)", package=package)
        return workdir / f"{package}_{version}.deb"

    monkeypatch.setattr(ds, "load_photos", lambda root=None: list(state["records"]))  # type: ignore[arg-type]
    monkeypatch.setattr(ds, "_fetch_deb", fetch)
    monkeypatch.setattr(ds, "_unpack", lambda deb, dest, package: unpacked)
    return state


def _built_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_failed_rebuild_leaves_the_previous_build_as_it_was(tmp_path: Path, fake_registry) -> None:
    """The photos were deleted before the first package was fetched: offline, the set was lost."""
    out = tmp_path / "out"
    base = ds.build_photos(out, splits=("dev",))
    before = {p: p.read_bytes() for p in (base / "dev").rglob("*") if p.is_file()}
    assert _built_files(base / "dev" / "images") == ["fake-pkg/coins.jpg", "fake-pkg/rocket.jpg"]
    assert len(list((base / "dev" / "neardup").glob("*.jpg"))) == 2 * 6

    fake_registry["offline"] = True
    with pytest.raises(ds.PackageFetchError, match="offline"):
        ds.build_photos(out, splits=("dev",))
    assert {p: p.read_bytes() for p in (base / "dev").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (base / "dev").iterdir()) == ["images", "neardup", "queries.jsonl"]  # no .new left


def test_a_whole_rebuild_drops_photos_the_manifest_no_longer_has(tmp_path: Path, fake_registry) -> None:
    base = ds.build_photos(tmp_path / "out", splits=("dev",), neardup=False)
    fake_registry["records"] = fake_registry["records"][:1]  # type: ignore[index]
    ds.build_photos(tmp_path / "out", splits=("dev",))
    assert _built_files(base / "dev" / "images") == ["fake-pkg/coins.jpg"]
    manifest = (base / "dev" / "neardup" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["target"] for line in manifest} == {"fake-pkg/coins.jpg"}
    # a partial build adds to what is there, and its near-duplicates cover every built photo
    rocket = hashlib.sha256((tmp_path / "unpacked" / "rocket.jpg").read_bytes()).hexdigest()
    fake_registry["records"] = [ds.PhotoRecord("other/x.jpg", "dev", "other", "1", "rocket.jpg", rocket, "CC0-1.0", "x")]
    ds.build_photos(tmp_path / "out", splits=("dev",), packages={"other"})
    assert _built_files(base / "dev" / "images") == ["fake-pkg/coins.jpg", "other/x.jpg"]
    assert len(list((base / "dev" / "neardup").glob("*.jpg"))) == 2 * 6


def test_page_queries_keep_their_relevance_grades(tmp_path: Path) -> None:
    """Grades were read as a list of ids and written back as 1 each: nDCG lost its graded gains."""
    root = tmp_path / "evalsets"
    shutil.copytree(ds.data_dir() / "pages", root / "pages")
    dev = root / "pages" / "qrels" / "dev.tsv"
    lines = dev.read_text(encoding="utf-8").splitlines()
    qid, cid, _ = lines[1].split("\t")
    dev.write_text("\n".join([lines[0], f"{qid}\t{cid}\t2", *lines[2:]]) + "\n", encoding="utf-8")
    _, qrels = ds.load_page_queries(root)
    assert qrels["dev"][qid][cid] == 2
    assert all(g == 1 for q, rels in qrels["test"].items() for g in rels.values())
