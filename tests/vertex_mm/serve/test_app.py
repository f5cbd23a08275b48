"""The search app over HTTP (Starlette's TestClient): pages, uploads, thumbnails and errors."""

from __future__ import annotations

import html
import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart", reason="uploads need python-multipart (vertex-mm[serve])")

from starlette.testclient import TestClient  # noqa: E402

from vertex_mm.sample_data import sample_photos_dir  # noqa: E402
from vertex_mm.serve.app import create_app  # noqa: E402


@pytest.fixture
def client(hashed_photos):
    index, embedder = hashed_photos
    return TestClient(create_app(index, embedder, default_k=5), base_url="http://127.0.0.1")


def hit_ids(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<li class="hit" data-id="([^"]+)"', page)]


def test_home_page_has_a_query_box_and_an_upload(client):
    page = client.get("/").text
    assert 'id="q"' in page and 'type="file"' in page and 'enctype="multipart/form-data"' in page
    assert "17 photos" in page


def test_uploading_an_indexed_photo_finds_it_first(client):
    data = (sample_photos_dir() / "coffee_cup.jpg").read_bytes()
    r = client.post("/search", files={"image": ("mine.jpg", data, "image/jpeg")}, data={"k": "3"})
    assert r.status_code == 200
    assert hit_ids(r.text)[0] == "coffee_cup.jpg"
    assert 'data-score="1.000000"' in r.text
    assert len(hit_ids(r.text)) == 3


def test_text_query_by_get_shows_k_results_with_thumbnails(client):
    r = client.get("/search", params={"q": "a cat", "k": "4"})
    assert r.status_code == 200
    ids = hit_ids(r.text)
    assert len(ids) == 4
    assert f'src="/thumb/{ids[0]}"' in r.text


def test_text_query_by_post_form(client):
    r = client.post("/search", data={"q": "a cat", "k": "2"})
    assert r.status_code == 200 and len(hit_ids(r.text)) == 2
    assert 'value="a cat"' in r.text


def test_thumbnails_are_small_jpegs_of_indexed_photos(client):
    r = client.get("/thumb/cat.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(r.content)) as img:
        assert img.format == "JPEG" and max(img.size) <= 240


@pytest.mark.parametrize("path", ["/thumb/nope.jpg", "/thumb/../../../etc/passwd", "/thumb/%2e%2e/manifest.json"])
def test_thumbnails_serve_only_indexed_ids(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [({"q": ""}, "type a query or choose an image"), ({"q": "cat", "k": "0"}, "k must be between 1 and 100"),
     ({"q": "cat", "k": "ten"}, "k must be a whole number")],
)
def test_bad_requests_explain_themselves(client, params, message):
    r = client.get("/search", params=params)
    assert r.status_code == 400 and message in html.unescape(r.text)


def test_an_upload_that_is_not_an_image_is_a_clear_400(client):
    r = client.post("/search", files={"image": ("notes.jpg", b"definitely not a jpeg", "image/jpeg")})
    assert r.status_code == 400
    assert 'class="error"' in r.text


def test_queries_are_escaped_in_the_page(client):
    r = client.get("/search", params={"q": '<script>alert("x")</script>'})
    assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text


def test_json_api(client):
    body = client.get("/api/search", params={"q": "a cat", "k": "3"}).json()
    assert body["query"] == "a cat" and body["space"] == "hashed/sha256/128"
    assert len(body["hits"]) == 3 and {"id", "score", "metadata"} <= set(body["hits"][0])
    err = client.get("/api/search").json()
    assert err["error"]["message"] == "query parameter q is required"


def test_health(client):
    assert client.get("/healthz").json() == {"status": "ok", "count": 17, "space": "hashed/sha256/128"}


@pytest.mark.slow
def test_real_model_puts_the_cat_first(local_photos):
    index, embedder = local_photos
    client = TestClient(create_app(index, embedder), base_url="http://127.0.0.1")
    assert hit_ids(client.get("/search", params={"q": "a cat"}).text)[0] == "cat.jpg"


# -- safe by default (issue 11: M2, L5) ---------------------------------------------------------


def test_an_oversized_upload_is_refused_with_413_from_its_declared_length(hashed_photos):
    from starlette.testclient import TestClient

    from vertex_mm.serve.app import MAX_UPLOAD_BYTES

    index, embedder = hashed_photos
    with TestClient(create_app(index, embedder), base_url="http://127.0.0.1") as client:
        r = client.post("/search", content=b"x" * 16, headers={"content-length": str(MAX_UPLOAD_BYTES * 10),
                                                                "content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_a_streamed_upload_is_cut_off_at_the_bound(hashed_photos):
    from starlette.testclient import TestClient

    from vertex_mm.serve.app import MAX_UPLOAD_BYTES

    index, embedder = hashed_photos
    sent = {"n": 0}

    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n\r\n"
        for _ in range(MAX_UPLOAD_BYTES // (1 << 20) + 8):
            sent["n"] += 1 << 20
            yield b"\0" * (1 << 20)

    with TestClient(create_app(index, embedder), base_url="http://127.0.0.1") as client:
        r = client.post("/search", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_requests_for_another_host_name_are_refused(hashed_photos):
    from starlette.testclient import TestClient

    index, embedder = hashed_photos
    with TestClient(create_app(index, embedder), base_url="http://127.0.0.1") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 400


def test_the_json_api_never_shows_paths_on_this_machine(hashed_photos):
    from starlette.testclient import TestClient

    index, embedder = hashed_photos
    some_id = index.ids[0]
    with TestClient(create_app(index, embedder), base_url="http://localhost") as client:
        body = client.get("/api/search", params={"q": some_id, "k": 3}).json()
    assert body["hits"] and all("path" not in h["metadata"] for h in body["hits"])
    assert "/" not in body["hits"][0]["id"] or not body["hits"][0]["id"].startswith("/")


def test_a_thumbnail_of_a_bomb_or_a_broken_file_is_a_404_not_a_crash(hashed_photos, tmp_path):
    """Thumbnails go through the one decoder with its pixel cap (issue 11 L6)."""
    from factories import decompression_bomb_png

    from vertex_mm.index import FlatIndex

    (tmp_path / "bomb.png").write_bytes(decompression_bomb_png(100_000, 100_000))  # claims 10 Gpixel
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    _, embedder = hashed_photos
    index = FlatIndex(embedder.space(128))
    index.add(["bomb.png", "broken.jpg"], embedder.embed_texts(["a", "b"], dimension=128),
              [{"path": str(tmp_path / "bomb.png")}, {"path": str(tmp_path / "broken.jpg")}])
    client = TestClient(create_app(index, embedder), base_url="http://127.0.0.1")
    for name in ("bomb.png", "broken.jpg"):
        r = client.get(f"/thumb/{name}")
        assert r.status_code == 404 and "cannot be read as an image" in r.text


def test_the_query_thumbnail_is_decoded_off_the_event_loop(client, monkeypatch):
    """Issue 11 L8: decoding an uploaded image on the event loop stalls every other request."""
    import asyncio

    from vertex_mm.serve import app as app_module

    real, on_loop = app_module.thumbnail_data_uri, []

    def spy(image, side=160):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # a worker thread has no running loop
            on_loop.append(False)
        return real(image, side=side)

    monkeypatch.setattr(app_module, "thumbnail_data_uri", spy)
    data = (sample_photos_dir() / "coffee_cup.jpg").read_bytes()
    assert client.post("/search", files={"image": ("mine.jpg", data, "image/jpeg")}).status_code == 200
    assert on_loop == [False]


def test_an_index_whose_ids_are_absolute_paths_gets_thumbnails_and_file_names(tmp_path):
    # `vertex-mm embed LIST.txt` -> `vertex-mm migrate` writes such ids, with no "path" metadata.
    from vertex_mm.index import FlatIndex
    from vertex_mm.sample_data import sample_photos
    from vertex_mm.testing import HashedEmbedder

    embedder = HashedEmbedder()
    photo = str(sample_photos()[0].resolve())
    index = FlatIndex(embedder.space(128))
    index.add([photo], embedder.embed_texts(["x"], dimension=128))
    client = TestClient(create_app(index, embedder), base_url="http://127.0.0.1")
    page = client.get("/search", params={"q": "a cat"}).text
    names = re.findall(r'<span class="name">([^<]+)</span>', page)
    assert names == [html.escape(sample_photos()[0].name)]
    from urllib.parse import quote

    r = client.get("/thumb/" + quote(photo))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
