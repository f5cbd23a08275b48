"""A damaged or doctored index fails on load with IndexCorruptedError, never a crash (issue 11,
M3, L1, L8): index folders are trusted input, but a bad one must not take the process down,
read outside its folder or let compaction remove anything outside it.

"Doctored" means the files were changed AND the manifest re-signed (sizes and SHA-256 updated),
so the checksums pass even with ``verify=True``: only the checks of shapes, dtypes and offsets
stand between the file and the compiled kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vertex_mm.index import FlatIndex, IndexCorruptedError, MultiVectorIndex, load_index
from vertex_mm.index.manifest import MANIFEST_NAME, file_record
from vertex_mm.results import EmbeddingSpace

SPACE = EmbeddingSpace("test", "rand-mv", 32)


def resign(root) -> None:
    """Update the manifest's size and SHA-256 of every listed file that exists (as someone
    who edits an index by hand would)."""
    path = root / MANIFEST_NAME
    m = json.loads(path.read_text())
    for name in m["files"]:
        if (root / name).is_file():
            rec = file_record(root / name)
            m["files"][name] = {"bytes": rec.bytes, "sha256": rec.sha256}
    path.write_text(json.dumps(m))


def edit_manifest(root, edit) -> None:
    path = root / MANIFEST_NAME
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


@pytest.fixture
def saved(tmp_path, ragged_pages):
    idx = MultiVectorIndex(SPACE, dtype="float32")
    idx.add("a.pdf", ragged_pages[:6])
    idx.add("b.pdf", ragged_pages[6:10])
    idx.save(tmp_path / "idx")
    return tmp_path / "idx"


def _doctor_array(root, name, array) -> None:
    np.save(root / "seg-000001" / name, array)
    resign(root)


def _offsets(root):
    return np.load(root / "seg-000001" / "offsets.npy")


DOCTORED_OFFSETS = {
    "past the end": lambda o: np.concatenate([o[:1], o[1:-1] + 10**9, o[-1:]]),
    "decreasing": lambda o: np.concatenate([o[:2], o[1:2] - 1, o[3:]]),
    "negative": lambda o: np.concatenate([o[:1], -o[1:2], o[2:]]),
    "not from zero": lambda o: o + 1,
    "an empty page": lambda o: np.concatenate([o[:2], o[1:2], o[3:]]),
    "int32": lambda o: o.astype(np.int32),
    "float": lambda o: o.astype(np.float64),
    "2-D": lambda o: o[None, :],
    "one page short": lambda o: np.concatenate([o[:1], o[2:]]),
}


@pytest.mark.parametrize("how", list(DOCTORED_OFFSETS))
@pytest.mark.parametrize("verify", [True, False])
def test_doctored_offsets_are_refused(saved, how, verify):
    _doctor_array(saved, "offsets.npy", DOCTORED_OFFSETS[how](_offsets(saved)))
    with pytest.raises(IndexCorruptedError, match="seg-000001"):
        MultiVectorIndex.load(saved, verify=verify)


@pytest.mark.parametrize(("file", "make"), [
    ("codes.npy", lambda n: np.zeros((n, 2), np.uint64)),        # two words for a 32-d index
    ("codes.npy", lambda n: np.zeros((n - 1, 1), np.uint64)),    # a row short
    ("codes.npy", lambda n: np.zeros((n, 1), np.int64)),         # signed
    ("tokens.npy", lambda n: np.zeros((n, 16), np.float32)),      # another dimension
    ("tokens.npy", lambda n: np.zeros((n, 32), np.float16)),      # not the manifest's dtype
    ("tokens.npy", lambda n: np.zeros((n, 32), np.float64)),
    ("tokens.npy", lambda n: np.asfortranarray(np.zeros((n, 32), np.float32))),
    ("tokens.npy", lambda n: np.zeros((n + 5, 32), np.float32)),  # more rows than the offsets reach
])
def test_arrays_of_the_wrong_shape_or_dtype_are_refused(saved, file, make):
    _doctor_array(saved, file, make(int(_offsets(saved)[-1])))
    with pytest.raises(IndexCorruptedError, match="seg-000001"):
        MultiVectorIndex.load(saved)


@pytest.mark.parametrize("line", ['[1, 2]', '"text"', '{"doc_id": 3, "page_number": 1}', '{"page_number": 1}',
                                  '{"doc_id": "a", "page_number": "1"}', '{"doc_id": "a", "page_number": 1, "metadata": []}'])
def test_page_rows_that_are_not_page_records_are_refused(saved, line):
    rows = (saved / "seg-000001" / "pages.jsonl").read_text().splitlines()
    rows[3] = line
    (saved / "seg-000001" / "pages.jsonl").write_text("\n".join(rows) + "\n")
    resign(saved)
    with pytest.raises(IndexCorruptedError, match="pages.jsonl:4"):
        MultiVectorIndex.load(saved)


@pytest.mark.parametrize(("field", "value"), [
    ("deleted", [10]), ("deleted", [-1]), ("deleted", [2, 2]), ("pages", 11), ("tokens", 3), ("name", "seg-1"),
    ("name", "../victim"), ("name", "/tmp"), ("name", "seg-000001/.."), ("deleted", "x"),
])
def test_segment_records_that_disagree_are_refused(saved, field, value):
    edit_manifest(saved, lambda m: m["config"]["segments"][0].__setitem__(field, value))
    with pytest.raises(IndexCorruptedError):
        MultiVectorIndex.load(saved, verify=False)


def test_a_segment_outside_the_folder_is_never_read(saved, tmp_path):
    # The old code opened whatever folder a segment record named, unverified when the
    # manifest did not list its files.
    (saved / "seg-000001").rename(tmp_path / "victim")
    edit_manifest(saved, lambda m: (m["config"]["segments"][0].__setitem__("name", "../victim"), m.__setitem__("files", {})))
    with pytest.raises(IndexCorruptedError, match="victim"):
        MultiVectorIndex.load(saved)


@pytest.mark.parametrize("drop", ["seg-000001/codes.npy", "seg-000001/offsets.npy", "seg-000001/pages.jsonl"])
def test_a_manifest_that_omits_a_segment_file_is_refused(saved, drop):
    edit_manifest(saved, lambda m: m["files"].pop(drop))
    with pytest.raises(IndexCorruptedError, match="missing"):
        MultiVectorIndex.load(saved, verify=False)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "seg-000001/../../x", "a/b/c", ".hidden", "a\\b", "", "seg-1//x"])
def test_manifest_file_names_must_stay_in_the_folder(saved, name):
    edit_manifest(saved, lambda m: m["files"].__setitem__(name, {"bytes": 1, "sha256": "0" * 64}))
    with pytest.raises(IndexCorruptedError, match="file name"):
        load_index(saved, verify=False)


def test_a_live_count_that_disagrees_is_refused(saved):
    edit_manifest(saved, lambda m: m.__setitem__("count", 3))
    with pytest.raises(IndexCorruptedError, match="live pages"):
        MultiVectorIndex.load(saved)


def test_a_next_segment_number_that_would_reuse_a_folder_is_corrected(saved, ragged_pages):
    edit_manifest(saved, lambda m: m["config"].__setitem__("next_segment", 1))
    idx = MultiVectorIndex.load(saved)
    idx.add("c.pdf", ragged_pages[10:12])
    idx.save()
    assert len(MultiVectorIndex.load(saved)) == 12


def test_compact_removes_only_its_own_segment_folders(saved, tmp_path, ragged_pages):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (saved / "seg-000099").symlink_to(victim, target_is_directory=True)  # a link where a segment could be
    (saved / "notes.txt").write_text("the user's own file")
    idx = MultiVectorIndex.load(saved)
    idx.add("c.pdf", ragged_pages[10:12])
    idx.save()
    idx.delete("a.pdf")
    idx.compact()
    assert (victim / "keep.txt").read_text() == "mine"
    assert (saved / "notes.txt").exists()
    assert sorted(p.name for p in saved.iterdir() if p.name.startswith("seg-")) == ["seg-000003"]
    assert MultiVectorIndex.load(saved).doc_ids() == ["b.pdf", "c.pdf"]


@pytest.mark.parametrize("name", ["vectors.npy", "items.jsonl"])
def test_a_flat_manifest_that_omits_its_vectors_or_items_is_refused(tmp_path, make_vectors, name):
    idx = FlatIndex(make_vectors(1).space)
    idx.add(["a", "b"], make_vectors(2))
    path = idx.save(tmp_path / "flat")
    edit_manifest(path, lambda m: m["files"].pop(name))
    with pytest.raises(IndexCorruptedError, match=f"does not list {name}"):
        load_index(path, verify=False)


CRASH_SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, pathlib
    from vertex_mm.index import MultiVectorIndex, IndexCorruptedError
    from vertex_mm.index.manifest import file_record
    from vertex_mm.results import EmbeddingSpace
    root = pathlib.Path(sys.argv[1])
    rng = np.random.default_rng(0)
    idx = MultiVectorIndex(EmbeddingSpace("test", "x", 128), dtype="float32")
    idx.add("a", [rng.standard_normal((30, 128)).astype(np.float32) for _ in range(5)])
    idx.save(root)
    np.save(root / "seg-000001" / "offsets.npy", np.array([0, 10**9, 10**9 + 1, 10**9 + 2, 10**9 + 3, 150], np.int64))
    m = json.loads((root / "manifest.json").read_text())
    for name in m["files"]:
        rec = file_record(root / name)
        m["files"][name] = {"bytes": rec.bytes, "sha256": rec.sha256}
    (root / "manifest.json").write_text(json.dumps(m))
    try:
        idx = MultiVectorIndex.load(root, verify=True)
        idx.search(rng.standard_normal((4, 128)).astype(np.float32), k=2, mode="binary")
    except IndexCorruptedError as exc:
        print("refused:", exc)
""")


def test_doctored_offsets_never_reach_the_compiled_kernel(tmp_path):
    # Run apart: before the fix this read a gigabyte past the codes and died with SIGSEGV/SIGBUS.
    pytest.importorskip("numba")
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(tmp_path / "idx")], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refused:" in proc.stdout and "offsets" in proc.stdout
