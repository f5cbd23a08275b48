"""The emulator over plain HTTP: routes, envelopes, limits, faults, counters, concurrency."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import socket
import time

import httpx
import pytest

from vertex_mm import Image
from vertex_mm.emulator import run_emulator
from vertex_mm.testing import HashedEmbedder

PREDICT = "/v1/projects/p/locations/us-central1/publishers/google/models/multimodalembedding@001:predict"
EMBED_CONTENT = "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-embedding-2:embedContent"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _text(text: str = "hello", dimension: int = 128) -> dict:
    return {"instances": [{"text": text}], "parameters": {"dimension": dimension}}


@pytest.fixture
def http(emulator):
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        yield client


def test_port_zero_binds_a_free_port_on_loopback(emulator):
    assert emulator.host == "127.0.0.1" and emulator.port > 0
    assert emulator.url == f"http://127.0.0.1:{emulator.port}"
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=2):
        pass


def test_predict_answers_predictions_and_a_deployed_model_id(http):
    body = http.post(PREDICT, json=_text()).json()
    assert set(body) == {"predictions", "deployedModelId"}
    assert len(body["predictions"][0]["textEmbedding"]) == 128


def test_the_express_mode_paths_serve_both_methods(http):
    # Vertex express mode (an API key, no project) drops the projects/.../locations/... prefix.
    body = http.post("/v1/publishers/google/models/multimodalembedding@001:predict", json=_text()).json()
    assert len(body["predictions"][0]["textEmbedding"]) == 128
    answer = http.post("/v1beta1/publishers/google/models/gemini-embedding-2:embedContent",
                       json={"content": {"parts": [{"text": "x"}]}})
    assert answer.status_code == 200 and len(answer.json()["embedding"]["values"]) == 3072
    wrong = http.post("/v1/publishers/google/models/gemini-embedding-2:predict", json=_text())
    assert wrong.status_code == 400 and "served by :embedContent" in wrong.json()["error"]["message"]


def test_the_model_lookup_has_what_the_sdk_requires(http):
    body = http.get("/v1/publishers/google/models/multimodalembedding%40001").json()
    assert body["name"] == "publishers/google/models/multimodalembedding@001"
    assert body["publisherModelTemplate"].endswith("/publishers/google/models/multimodalembedding@001")
    assert body["predictSchemata"]["instanceSchemaUri"] == (
        "gs://google-cloud-aiplatform/schema/predict/instance/vision_embedding_model_1.0.0.yaml"
    )
    assert http.get("/v1beta1/publishers/google/models/multimodalembedding@001").status_code == 200


def test_embed_content_on_both_api_versions(http, png_bytes):
    body = {
        "content": {"parts": [{"inlineData": {"data": base64.b64encode(png_bytes).decode(), "mimeType": "image/png"}}]},
        "embedContentConfig": {"outputDimensionality": 300},
    }
    for path in (EMBED_CONTENT, EMBED_CONTENT.replace("/v1beta1/", "/v1/")):
        values = http.post(path, json=body).json()["embedding"]["values"]
        assert len(values) == 300


def test_errors_use_googles_envelope(http):
    r = http.post(PREDICT, json={"instances": [{"text": ""}]})
    assert r.status_code == 400
    assert r.json() == {"error": {"code": 400, "message": "contextual_text: text is empty", "status": "INVALID_ARGUMENT"}}
    r = http.get("/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = http.get(PREDICT)
    assert r.status_code == 405 and r.json()["error"]["status"] == "UNIMPLEMENTED"


def test_invalid_json_is_a_400(http):
    r = http.post(PREDICT, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Invalid JSON payload" in r.json()["error"]["message"]


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_bare_non_finite_numbers_are_invalid_json_as_the_service_says(http, token):
    # json.dumps writes these for float('nan'); Python's parser takes them back, Google's does not
    body = b'{"instances": [{"text": "a cat"}], "parameters": {"dimension": ' + token + b"}}"
    r = http.post(PREDICT, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Invalid JSON payload" in r.json()["error"]["message"]
    assert token.decode().lstrip("-") in r.json()["error"]["message"]
    batch = http.post("/v1/projects/p/locations/us-central1/batchPredictionJobs", content=b'{"x": ' + token + b"}",
                      headers={"content-type": "application/json"})
    assert batch.status_code == 400 and "Invalid JSON payload" in batch.json()["error"]["message"]


def test_request_size_is_bounded_and_the_client_still_reads_the_answer(png_bytes):
    with run_emulator(backend="hashed", max_request_bytes=2000) as emu, httpx.Client(base_url=emu.url) as http:
        small = {"instances": [{"text": "x" * 100}]}
        assert http.post(PREDICT, json=small).status_code == 200
        big = {"instances": [{"text": "x" * 5000}]}
        r = http.post(PREDICT, json=big)
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "Request payload size exceeds the limit: 2000 bytes."


def test_default_request_limit_is_the_shared_limits_table(emulator):
    from vertex_mm.limits import MULTIMODAL_EMBEDDING_001

    assert emulator.settings.max_request_bytes == MULTIMODAL_EMBEDDING_001.max_request_bytes


def test_admin_routes_change_faults_and_show_counters(http):
    assert http.post("/emulator/faults", json={"fault_rate_503": 1.0, "latency_ms": 5}).json()["latency"] == 0.005
    assert http.post(PREDICT, json=_text()).status_code == 503
    assert http.get("/emulator/faults").json()["fault_rate_503"] == 1.0
    stats = http.get("/emulator/stats").json()
    assert (stats["requests"], stats["5xx"], stats["503"]) == (1, 1, 1)
    assert http.delete("/emulator/stats").json()["requests"] == 0
    bad = http.post("/emulator/faults", json={"fault_rate_503": 2})
    assert bad.status_code == 400 and "fault_rate_503 must be within [0, 1]" in bad.json()["error"]["message"]
    info = http.get("/emulator/info").json()
    assert info["backend"] == "hashed" and info["models"]["gemini-embedding-2"] == "embedContent"


def test_lookups_and_admin_calls_are_neither_faulted_nor_counted(http, emulator):
    emulator.set_faults(fault_rate_503=1.0)
    assert http.get("/v1/publishers/google/models/multimodalembedding@001").status_code == 200
    assert http.get("/emulator/stats").status_code == 200
    assert emulator.stats()["requests"] == 0


def test_quota_window_over_http_with_retry_after():
    clock = FakeClock()
    with run_emulator(backend="hashed", quota_rpm=120, quota_window=1.0, clock=clock) as emu, \
            httpx.Client(base_url=emu.url) as http:
        assert [http.post(PREDICT, json=_text()).status_code for _ in range(2)] == [200, 200]
        clock.now = 0.4
        r = http.post(PREDICT, json=_text())
        assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert r.headers["Retry-After"] == "1"
        assert r.json()["error"]["details"][0]["retryDelay"] == "0.600s"
        clock.now = 1.0
        assert http.post(PREDICT, json=_text()).status_code == 200
        assert emu.stats()["429"] == 1


def test_a_seed_gives_the_same_answers_in_the_same_order():
    def statuses(seed: int) -> list[int]:
        with run_emulator(backend="hashed", fault_rate_503=0.3, fault_rate_429=0.2, seed=seed) as emu, \
                httpx.Client(base_url=emu.url) as http:
            return [http.post(PREDICT, json=_text()).status_code for _ in range(30)]

    first = statuses(5)
    assert first == statuses(5)
    assert {200, 429, 503} <= set(first)


def test_dropped_connection_closes_the_socket_without_a_byte(emulator):
    emulator.set_faults(drop_rate=1.0)
    body = json.dumps(_text()).encode()
    request = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(request)
        try:
            received = sock.recv(1024)
        except ConnectionResetError:
            received = b""
    assert received == b""
    assert emulator.stats()["dropped"] == 1
    emulator.set_faults(drop_rate=0.0)
    with httpx.Client(base_url=emulator.url) as http:  # and the server is fine afterwards
        assert http.post(PREDICT, json=_text()).status_code == 200


def test_added_latency_delays_each_prediction():
    with run_emulator(backend="hashed", latency=0.15) as emu, httpx.Client(base_url=emu.url) as http:
        start = time.perf_counter()
        assert http.post(PREDICT, json=_text()).status_code == 200
        assert time.perf_counter() - start >= 0.15  # a lower bound: sleeping is never shorter


def test_concurrent_requests_are_served_concurrently():
    with run_emulator(backend="hashed", latency=0.3) as emu, httpx.Client(
        base_url=emu.url, limits=httpx.Limits(max_connections=20)
    ) as http:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(lambda i: http.post(PREDICT, json=_text(f"t{i}")).status_code, range(20)))
        assert codes == [200] * 20
        stats = emu.stats()
        assert stats["2xx"] == 20
        assert stats["max_in_flight"] >= 10


def test_stopping_twice_is_harmless():
    with run_emulator(backend="hashed") as emu:
        emu.stop()
    emu.stop()
    assert not emu.is_running()


def _part(data: bytes, mime: str) -> dict:
    return {"inlineData": {"data": base64.urlsafe_b64encode(data).decode().rstrip("="), "mimeType": mime}}


def test_embed_content_accepts_url_safe_unpadded_base64_like_protobuf_json(http, hashed, png_bytes):
    body = {"content": {"parts": [_part(png_bytes, "image/png")]}, "embedContentConfig": {"outputDimensionality": 128}}
    values = http.post(EMBED_CONTENT, json=body).json()["embedding"]["values"]
    assert values == pytest.approx(hashed.embed_content(Image(png_bytes), dimension=128).tolist(), abs=1e-6)


def test_embed_content_reads_gcs_file_data(http):
    part = {"fileData": {"fileUri": "gs://bucket/cat.jpg", "mimeType": "image/jpeg"}}
    r = http.post(EMBED_CONTENT, json={"content": {"parts": [part]}, "embedContentConfig": {"outputDimensionality": 128}})
    assert r.status_code == 200 and len(r.json()["embedding"]["values"]) == 128


@pytest.mark.parametrize(
    "parts, message",
    [
        ([], "content.parts must be a non-empty list"),
        ([{"inlineData": {"data": "AAAA", "mimeType": "text/csv"}}], "mimeType 'text/csv' is not supported"),
        ([{"inlineData": {"data": "AAAA", "mimeType": "audio/wav"}}], "not a recognised audio file"),
        ([{"fileData": {"mimeType": "image/png"}}], "fileData.fileUri must be a string"),
        ([{"inlineData": {"data": "!!", "mimeType": "image/png"}}], "inlineData.data is not valid base64"),
    ],
)
def test_embed_content_refuses_bad_parts(http, parts, message):
    r = http.post(EMBED_CONTENT, json={"content": {"parts": parts}})
    assert r.status_code == 400 and message in r.json()["error"]["message"]


def test_embed_content_refuses_a_seventh_image(http, png_bytes, jpeg_bytes):
    parts = [_part(png_bytes, "image/png")] * 6 + [_part(jpeg_bytes, "image/jpeg")]
    r = http.post(EMBED_CONTENT, json={"content": {"parts": parts}})
    assert r.status_code == 400 and "content has 7 images" in r.json()["error"]["message"]
    r = http.post(EMBED_CONTENT, json={"content": {"parts": parts[:6]}})
    assert r.status_code == 200


class BrokenEmbedder(HashedEmbedder):
    """Fails on one input, as a buggy backend might."""

    def _predict(self, request):
        if request.text == "boom":
            raise RuntimeError("backend bug")
        return super()._predict(request)


def test_a_backend_bug_is_a_500_envelope_and_the_connection_stays_usable():
    with run_emulator(embedder=BrokenEmbedder()) as emu, httpx.Client(base_url=emu.url) as http:
        r = http.post(PREDICT, json=_text("boom"))
        assert r.status_code == 500
        assert r.json()["error"] == {
            "code": 500, "status": "INTERNAL",
            "message": "Internal error in the vertex-mm emulator: RuntimeError: backend bug",
        }
        assert http.post(PREDICT, json=_text("fine")).status_code == 200  # same keep-alive connection
        assert emu.stats()["5xx"] == 1


def test_stats_tell_quota_refusals_from_injected_faults():
    body = {"instances": [{"text": "a cat"}]}
    with run_emulator(backend="hashed", quota_rpm=60, quota_window=1.0) as emu, httpx.Client(base_url=emu.url) as http:
        codes = [http.post(PREDICT, json=body).status_code for _ in range(3)]  # one admitted per second
        assert codes[0] == 200 and codes.count(429) >= 1
        stats = emu.stats()
        assert stats["quota_429"] == codes.count(429) == stats["429"] and stats["injected"] == 0
    with run_emulator(backend="hashed", fault_rate_503=1.0) as emu, httpx.Client(base_url=emu.url) as http:
        assert http.post(PREDICT, json=body).status_code == 503
        assert http.get("/v1/publishers/google/models/multimodalembedding@001").status_code == 200  # no quota, no fault
        stats = emu.stats()
        assert (stats["injected"], stats["quota_429"], stats["503"]) == (1, 0, 1)
