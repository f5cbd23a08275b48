"""Property-based tests (hypothesis) of what vertex-mm reads back from disk or takes as a
query: the JSONL resume reader, metadata filters and index manifests (issue 11, item 4).
Whatever arrives gives a valid result or a typed vertex-mm error, never another exception."""

from __future__ import annotations

import copy
import json
import pathlib
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertex_mm import Embeddings, EmbeddingSpace
from vertex_mm.errors import VertexMMError
from vertex_mm.index import Filter, FlatIndex, MultiVectorIndex, load_index
from vertex_mm.index.manifest import MANIFEST_NAME
from vertex_mm.jobs import Journal, export_parquet, parse_record, read_journal
from vertex_mm.jobs.writer import JournalStats, encode_record

FAST = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
           | st.text(max_size=8))
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16)

# -- the JSONL resume reader ----------------------------------------------------------------

good_records = st.builds(
    lambda i, h, vec: {"id": f"img{i}.jpg", "content_hash": h, "space": "s/m/2", "embedding": vec},
    st.integers(0, 5), st.sampled_from(["h1", "h2", ""]),
    st.lists(st.floats(-1, 1, width=32), min_size=1, max_size=3))
lines = st.one_of(
    good_records.map(encode_record),
    json_values.map(lambda v: json.dumps(v).encode() + b"\n"),
    st.fixed_dictionaries({}, optional={"id": json_values, "content_hash": json_values, "embedding": json_values,
                                        "space": json_values}).map(lambda v: json.dumps(v).encode() + b"\n"),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n"),
)


@FAST
@given(body=st.lists(lines, max_size=12), tail=st.binary(max_size=20))
def test_any_journal_resumes_reads_and_exports_without_an_untyped_error(tmp_path_factory, body, tail):
    folder = tmp_path_factory.mktemp("journal")
    path = folder / "out.jsonl"
    path.write_bytes(b"".join(body) + tail.replace(b"\n", b""))
    parsed = []
    for line in body:
        try:
            parsed.append(parse_record(line))
        except VertexMMError:
            pass
    with Journal(path) as journal:
        assert journal.scanned == len(parsed) and journal.scanned + journal.bad_lines == len(body)
        for record in parsed:
            latest = [r for r in parsed if r["id"] == record["id"]][-1]
            assert journal.is_done(record["id"], str(latest.get("content_hash") or ""))
    assert path.read_bytes() == b"".join(body)  # only the torn tail was cut
    stats = JournalStats()
    assert list(read_journal(path, stats)) == parsed and stats.bad_lines == len(body) - len(parsed)
    if body and pytest.importorskip("pyarrow.parquet"):
        assert export_parquet(path, folder / "out.parquet") == len({r["id"] for r in parsed})
    shutil.rmtree(folder)


# -- metadata filters -----------------------------------------------------------------------

clauses = st.dictionaries(st.text(max_size=4), json_values, max_size=3) | json_values
numerics = st.lists(st.tuples(json_values, st.sampled_from(["<", ">=", "==", "GREATER", "bad"]) | json_values,
                              json_values) | json_values, max_size=3) | json_values
rows = st.lists(st.dictionaries(st.sampled_from(["tag", "year", "src", ""]), json_values, max_size=3), max_size=5)


@FAST
@given(equals=clauses, allow=clauses, deny=clauses, numeric=numerics, metadata=rows)
def test_a_filter_of_any_json_is_built_and_applied_or_refused_typed(equals, allow, deny, numeric, metadata):
    try:
        flt = Filter(equals, allow=allow, deny=deny, numeric=numeric)
    except VertexMMError:
        return
    mask = flt.mask(metadata)
    assert mask.dtype == bool and mask.shape == (len(metadata),)
    assert Filter.coerce(flt) is flt and isinstance(flt.key(), str) and repr(flt)
    try:
        flt.to_vector_search()
    except VertexMMError:
        pass


# -- manifests ------------------------------------------------------------------------------

SPACE = EmbeddingSpace("test", "gaussian", 8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("indexes")
    rng = np.random.default_rng(0)
    flat = FlatIndex(SPACE)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    flat.add([f"a{i}" for i in range(6)], Embeddings(x / np.linalg.norm(x, axis=1, keepdims=True), SPACE),
             [{"tag": ["cat"], "year": 2000 + i} for i in range(6)])
    flat.save(root / "flat")
    mv = MultiVectorIndex(SPACE, binary=True)
    mv.add("A", [rng.standard_normal((3, 8)).astype(np.float32) for _ in range(2)])
    mv.save(root / "mv")
    mv.add("B", [rng.standard_normal((4, 8)).astype(np.float32)])
    mv.delete("A")
    mv.save()
    return {"flat": root / "flat", "mv": root / "mv"}


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _replaced(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return data


@FAST
@given(kind=st.sampled_from(["flat", "mv"]), which=st.integers(0, 10**6), value=json_values,
       verify=st.booleans())
def test_a_manifest_with_any_field_replaced_loads_or_fails_typed(saved, tmp_path_factory, kind, which, value, verify):
    folder = tmp_path_factory.mktemp("doctored") / "idx"
    shutil.copytree(saved[kind], folder)
    data = json.loads((folder / MANIFEST_NAME).read_text())
    paths = _paths(data)
    (folder / MANIFEST_NAME).write_text(json.dumps(_replaced(data, paths[which % len(paths)], value)))
    try:
        index = load_index(folder, verify=verify)
    except VertexMMError:
        return
    if isinstance(index, MultiVectorIndex):
        index.search([np.ones((2, 8), np.float32)], k=3)
    else:
        index.search(Embeddings(np.ones((1, 8), np.float32) / np.sqrt(8), index.space), k=3)


@FAST
@given(data=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_a_manifest_of_any_bytes_fails_typed(saved, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("junk") / "idx"
    shutil.copytree(saved["flat"], folder)
    (folder / MANIFEST_NAME).write_bytes(data)
    with pytest.raises(VertexMMError):
        load_index(folder)
