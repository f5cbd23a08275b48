"""Vector Search 2.0 export: data objects and collections in the documented REST/JSON shapes,
sent by Google's own client (google-cloud-vectorsearch, REST transport) to a stand-in server on
loopback that answers as the REST reference describes; the requests it receives are checked
field by field against the documented shapes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.index import FlatIndex
from vertex_mm.index.export.vector_search2 import (
    collection_body,
    create_collection,
    data_object_id,
    export_data_objects,
    to_data_object,
    upsert_data_objects,
)

PARENT = "projects/my-proj/locations/us-central1"
COLLECTION = f"{PARENT}/collections/photos"


class _StandIn(BaseHTTPRequestHandler):
    """Collections and data objects kept in memory; every request recorded as (method, path,
    query, JSON body)."""

    server: ThreadingHTTPServer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _reply(self, code: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _conflict(self, name: str) -> None:
        self._reply(409, {"error": {"code": 409, "message": f"{name} already exists", "status": "ALREADY_EXISTS"}})

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        state = self.server.state  # type: ignore[attr-defined]
        state["requests"].append((self.command, url.path, parse_qs(url.query), body))
        objects = state["objects"]
        path = url.path.removeprefix("/v1/")
        if self.command == "POST" and path == f"{PARENT}/collections":
            cid = parse_qs(url.query)["collectionId"][0]
            collection = {**body, "name": f"{PARENT}/collections/{cid}"}
            state["collections"][collection["name"]] = collection
            self._reply(200, {"name": f"{PARENT}/operations/op-1", "done": True, "response": {
                "@type": "type.googleapis.com/google.cloud.vectorsearch.v1.Collection", **collection}})
        elif self.command == "POST" and path == f"{COLLECTION}/dataObjects:batchCreate":
            names = [f"{COLLECTION}/dataObjects/{r['dataObjectId']}" for r in body["requests"]]
            taken = [n for n in names if n in objects]
            if taken:  # all or nothing
                return self._conflict(taken[0])
            for name, r in zip(names, body["requests"]):
                objects[name] = {**r["dataObject"], "name": name}
            self._reply(200, {"dataObjects": [objects[n] for n in names]})
        elif self.command == "POST" and path == f"{COLLECTION}/dataObjects":
            name = f"{COLLECTION}/dataObjects/{parse_qs(url.query)['dataObjectId'][0]}"
            if name in objects:
                return self._conflict(name)
            objects[name] = {**body, "name": name}
            self._reply(200, objects[name])
        elif self.command == "PATCH" and path in objects:
            objects[path] = body
            self._reply(200, body)
        else:
            self._reply(404, {"error": {"code": 404, "message": f"no route {self.command} {url.path}",
                                        "status": "NOT_FOUND"}})

    do_POST = do_PATCH = do_GET = _handle


@pytest.fixture
def service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    server.state = {"requests": [], "objects": {}, "collections": {}}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _client(cls_name, server):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import vectorsearch_v1

    cls = getattr(vectorsearch_v1, cls_name)
    return cls(credentials=AnonymousCredentials(), transport="rest",
               client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{server.server_port}"))


@pytest.fixture
def photos(space, make_vectors):
    index = FlatIndex(space)
    metas = [{"name": f"p{i}.jpg", "tag": ["cat", "pet"] if i % 2 else ["dog"], "year": 2000 + i, "rating": i / 10}
             for i in range(5)]
    index.add(["cat.jpg", "Dog Photo #2", "p2", "2024/img_3.png", "p4"], make_vectors(5, seed=3), metas)
    return index


def test_data_object_ids_follow_rfc1035_and_stay_distinct():
    assert data_object_id("p2") == "p2"
    made = [data_object_id(i) for i in ("cat.jpg", "Cat.jpg", "2024/img_3.png", "x" * 80, "-", "é")]
    import re

    assert all(re.fullmatch(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?", m) for m in made), made
    assert len(set(made)) == len(made) and made[0].startswith("cat-jpg-")


def test_data_object_has_the_documented_shape():
    obj = to_data_object("cat.jpg", np.array([0.5, -0.25], np.float32), {"tag": "pet"}, space="s/m/2")
    assert obj == {"data": {"tag": "pet", "source_id": "cat.jpg", "embedding_space": "s/m/2"},
                   "vectors": {"embedding": {"dense": {"values": [0.5, -0.25]}}}}
    with pytest.raises(InputError, match="source_id"):
        to_data_object("x", np.zeros(2), {"source_id": "y"}, space="s")
    with pytest.raises(InputError, match="letters, digits"):
        to_data_object("x", np.zeros(2), {}, space="s", vector_field="my field")


def test_collection_body_types_the_data_schema(photos):
    body = collection_body(photos)
    assert body["vectorSchema"] == {"embedding": {"denseVector": {"dimensions": photos.dimension}}}
    assert body["dataSchema"]["properties"] == {
        "source_id": {"type": "string"}, "embedding_space": {"type": "string"}, "name": {"type": "string"},
        "tag": {"type": "array", "items": {"type": "string"}}, "year": {"type": "integer"}, "rating": {"type": "number"}}


def test_import_files_hold_one_object_per_row(photos, tmp_path):
    paths = export_data_objects(photos, tmp_path / "objects", shard_rows=2)
    assert [p.name for p in paths] == [f"data-objects-0000{i}-of-00003.jsonl" for i in range(3)]
    lines = [json.loads(x) for p in paths for x in p.read_text().splitlines()]
    assert [x["id"] for x in lines] == [data_object_id(i) for i in photos.ids]
    assert set(lines[0]) == {"id", "data", "vectors"} and lines[0]["data"]["source_id"] == "cat.jpg"
    np.testing.assert_allclose(lines[1]["vectors"]["embedding"]["dense"]["values"],
                               np.asarray(photos.vector("Dog Photo #2"))[0], rtol=1e-6)
    with pytest.raises(FileExistsError):
        export_data_objects(photos, tmp_path / "objects")


def test_create_collection_through_the_official_client(service, photos):
    collection = create_collection(_client("VectorSearchServiceClient", service), PARENT, "photos", photos)
    assert collection.name == COLLECTION
    method, path, query, body = service.state["requests"][0]
    assert (method, path, query["collectionId"]) == ("POST", f"/v1/{PARENT}/collections", ["photos"])
    assert body["vectorSchema"] == {"embedding": {"denseVector": {"dimensions": photos.dimension}}}
    assert body["dataSchema"]["properties"]["year"] == {"type": "integer"}
    with pytest.raises(InputError, match="collection id"):
        create_collection(_client("VectorSearchServiceClient", service), PARENT, "Photos_1", photos)


def test_upsert_creates_in_batches_then_replaces_what_exists(service, photos, make_vectors):
    client = _client("DataObjectServiceClient", service)
    report = upsert_data_objects(client, photos, COLLECTION, batch_size=2)
    assert (report.created, report.updated) == (5, 0)
    reqs = service.state["requests"]
    assert [(m, p) for m, p, _, _ in reqs] == [("POST", f"/v1/{COLLECTION}/dataObjects:batchCreate")] * 3
    first = reqs[0][3]["requests"][0]  # the documented CreateDataObjectRequest JSON
    assert set(first) == {"parent", "dataObjectId", "dataObject"} and first["parent"] == COLLECTION
    assert first["dataObjectId"] == data_object_id("cat.jpg")
    assert set(first["dataObject"]) == {"data", "vectors"}
    assert first["dataObject"]["data"] == {"name": "p0.jpg", "tag": ["dog"], "year": 2000, "rating": 0.0,
                                           "source_id": "cat.jpg", "embedding_space": photos.space.id}
    np.testing.assert_allclose(first["dataObject"]["vectors"]["embedding"]["dense"]["values"],
                               np.asarray(photos.vector("cat.jpg"))[0], rtol=1e-6)

    # Again, with one row changed and one new: the existing objects are replaced, the new created.
    photos.upsert(["p4"], make_vectors(1, seed=9), [{"name": "new"}])
    photos.add(["p5"], make_vectors(1, seed=10), [{"name": "p5.jpg"}])
    reqs.clear()
    report = upsert_data_objects(client, photos, COLLECTION, ids=["p4", "p5"])
    assert (report.created, report.updated) == (1, 1)
    assert [(m, p, q.get("dataObjectId")) for m, p, q, _ in reqs] == [
        ("POST", f"/v1/{COLLECTION}/dataObjects:batchCreate", None),  # refused: p4 exists
        ("POST", f"/v1/{COLLECTION}/dataObjects", ["p4"]),             # refused again
        ("PATCH", f"/v1/{COLLECTION}/dataObjects/p4", None),           # replaced
        ("POST", f"/v1/{COLLECTION}/dataObjects", ["p5"])]             # created
    patched = reqs[2][3]
    assert patched["data"]["name"] == "new" and set(patched) == {"data", "vectors"}  # the name is in the path
    assert service.state["objects"][f"{COLLECTION}/dataObjects/p5"]["data"]["source_id"] == "p5"


def test_upsert_checks_its_arguments(service, photos):
    client = _client("DataObjectServiceClient", service)
    with pytest.raises(InputError, match="1..1000"):
        upsert_data_objects(client, photos, COLLECTION, batch_size=1001)
    with pytest.raises(InputError, match="collections/C"):
        upsert_data_objects(client, photos, "photos")
    assert service.state["requests"] == []


def test_a_missing_client_names_its_extra(photos, monkeypatch):
    import sys

    from vertex_mm.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "google.cloud.vectorsearch_v1", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "vertex-mm\[vectorsearch\]"'):
        upsert_data_objects(object(), photos, COLLECTION)
