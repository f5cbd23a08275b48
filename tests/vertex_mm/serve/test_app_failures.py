"""How the search app answers when a query cannot be: upstream failures as 5xx/429 with no
internal URL, a per-query deadline, parallel queries on a thread-safe remote embedder, an
embedder of another space refused at construction, and a shutdown with a query in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart", reason="uploads need python-multipart (vertex-mm[serve])")
httpx = pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from vertex_mm import get_embedder  # noqa: E402
from vertex_mm._server import ServerThread  # noqa: E402
from vertex_mm.emulator import run_emulator  # noqa: E402
from vertex_mm.errors import (  # noqa: E402
    DeadlineExceededError,
    EmbeddingSpaceMismatchError,
    InternalServerError,
    PermissionDeniedError,
    QuotaExceededError,
    ServiceUnavailableError,
    UnauthenticatedError,
)
from vertex_mm.index import FlatIndex  # noqa: E402
from vertex_mm.index.build import index_images  # noqa: E402
from vertex_mm.results import Embeddings, EmbeddingSpace  # noqa: E402
from vertex_mm.sample_data import sample_photos, sample_photos_dir  # noqa: E402
from vertex_mm.serve.app import create_app  # noqa: E402
from vertex_mm.testing import HashedEmbedder, InMemoryTransport  # noqa: E402
from vertex_mm.vertex import VertexEmbedder  # noqa: E402

SECRET = "my-secret-project"


class GatedTransport(InMemoryTransport):
    """The in-memory service, answering only once ``gate`` is set or ``parties`` calls wait
    together (a barrier that breaks when calls are made one at a time)."""

    def __init__(self, *, parties: int = 0) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.barrier = threading.Barrier(parties) if parties else None

    def predict(self, instance: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        self.entered.set()
        if self.barrier is not None:
            self.barrier.wait(timeout=5)  # BrokenBarrierError when the calls come one by one
        else:
            self.gate.wait(timeout=10)
        return super().predict(instance, parameters)


@pytest.fixture(scope="module")
def vertex_index():
    """A multimodalembedding@001 index (128-d) of three sample photos, built in memory."""
    with VertexEmbedder(SECRET, transport=InMemoryTransport()) as embedder:
        index, skipped = index_images(embedder, sample_photos()[:3], root=sample_photos_dir(), dimension=128)
    assert not skipped
    return index


def _embedder(transport: InMemoryTransport, **batch: Any) -> VertexEmbedder:
    return VertexEmbedder(SECRET, transport=transport, retry="none", **batch)


def _client(index, embedder, **options: Any) -> TestClient:
    return TestClient(create_app(index, embedder, **options), base_url="http://127.0.0.1")


@pytest.mark.parametrize("error, status, retry_after", [
    (QuotaExceededError("over quota at /v1/projects/" + SECRET, retry_after=2.5), 429, "3"),
    (ServiceUnavailableError("503 at /v1/projects/" + SECRET, retry_after=4), 503, "4"),
    (ServiceUnavailableError("503 at /v1/projects/" + SECRET), 503, None),
    (DeadlineExceededError("504 at /v1/projects/" + SECRET), 504, None),
    (UnauthenticatedError("401 at /v1/projects/" + SECRET), 502, None),
    (PermissionDeniedError("403 at /v1/projects/" + SECRET), 502, None),
    (InternalServerError("500 at /v1/projects/" + SECRET), 502, None),
])
def test_upstream_errors_get_their_own_status_and_no_internal_detail(vertex_index, error, status, retry_after):
    transport = InMemoryTransport()
    client = _client(vertex_index, _embedder(transport))
    transport.fail_with(error, times=2)
    r = client.get("/api/search", params={"q": "a cat"})
    assert r.status_code == status
    assert r.json()["error"]["type"] == type(error).__name__  # the public class name, to branch on
    assert SECRET not in r.text and "/v1/" not in r.text
    assert r.headers.get("Retry-After") == retry_after
    page = client.get("/search", params={"q": "a cat"})  # the HTML page answers the same way
    assert page.status_code == status and SECRET not in page.text


def test_an_emulator_503_and_an_unreachable_service_are_503s_without_the_request_url(vertex_index):
    with run_emulator(backend="hashed", fault_rate_503=1.0, retry_after=2) as emulator:
        with get_embedder("vertex", project=SECRET, api_endpoint=emulator.url, retry="none") as embedder:
            r = _client(vertex_index, embedder).get("/api/search", params={"q": "a cat"})
    assert (r.status_code, r.json()["error"]["type"], r.headers.get("Retry-After")) == (
        503, "ServiceUnavailableError", "2")
    assert SECRET not in r.text and "http" not in r.text
    with get_embedder("vertex", project=SECRET, api_endpoint="http://127.0.0.1:9", retry="none") as embedder:
        r = _client(vertex_index, embedder).get("/api/search", params={"q": "a cat"})
    assert (r.status_code, r.json()["error"]["type"]) == (503, "TransportError")
    assert SECRET not in r.text and "127.0.0.1" not in r.text


def test_a_query_past_the_deadline_is_a_504(vertex_index):
    transport = GatedTransport()  # never answers within the deadline
    client = _client(vertex_index, _embedder(transport), query_timeout=0.3)
    started = time.monotonic()
    r = client.get("/api/search", params={"q": "a cat"})
    transport.gate.set()
    assert time.monotonic() - started < 5
    assert (r.status_code, r.json()["error"]["type"]) == (504, "QueryTimeout")
    assert "0.3 s" in r.json()["error"]["message"]


def _concurrent_statuses(url: str, n: int) -> list[int]:
    """The statuses of ``n`` text queries sent to ``url`` all at once, one thread each."""
    codes: list[int] = []

    def query(i: int) -> None:
        codes.append(httpx.get(url + "/api/search", params={"q": f"query {i}"}, timeout=20).status_code)

    threads = [threading.Thread(target=query, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


class SlowTransport(InMemoryTransport):
    """The in-memory service taking ``seconds`` a call, noting when each call started."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.started = seconds, []

    def predict(self, instance: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        self.started.append(time.monotonic())
        time.sleep(self.seconds)
        return super().predict(instance, parameters)


def test_queries_given_up_behind_the_lock_never_run_and_the_server_recovers(vertex_index):
    # An embedder that is not thread-safe sees one call at a time. A burst the deadline cannot
    # serve used to leave every given-up query queued on the lock, run later for nobody, and the
    # next query timed out behind them.
    transport = SlowTransport(0.3)
    embedder = _embedder(transport, requests_per_minute=60_000)
    embedder.thread_safe = False  # as a local model
    with ServerThread(create_app(vertex_index, embedder, query_timeout=2.0)) as server:
        codes = _concurrent_statuses(server.url, 16)
        answered = time.monotonic()  # every query has its answer: each 504 was sent at its deadline
        assert 200 in codes and 504 in codes and set(codes) <= {200, 504}
        time.sleep(1.0)  # a call started in time ends within 0.3 s; queued ones started every 0.3 s
        late = [t - answered for t in transport.started if t > answered + 0.2]  # slack: a call checked in time
        assert late == []  # no given-up query ran after its deadline, for nobody
        r = httpx.get(server.url + "/api/search", params={"q": "after the burst"}, timeout=20)
    assert r.status_code == 200  # not queued behind the given-up ones


def test_queries_of_a_remote_embedder_run_in_parallel(vertex_index):
    # Three calls must be inside the service at once for any of them to be answered.
    transport = GatedTransport(parties=3)
    embedder = _embedder(transport, requests_per_minute=60_000)
    assert embedder.thread_safe
    with ServerThread(create_app(vertex_index, embedder)) as server:
        results = _concurrent_statuses(server.url, 3)
    assert results == [200, 200, 200]


def test_an_embedder_of_another_space_is_refused_at_construction():
    space = EmbeddingSpace("local", "some-model", 128)
    index = FlatIndex(space)
    index.add(["a.jpg"], Embeddings(np.eye(1, 128, dtype=np.float32), space))
    with pytest.raises(EmbeddingSpaceMismatchError, match="local/some-model/128"):
        create_app(index, HashedEmbedder())


def test_a_bad_k_is_reported_as_an_input_error_and_not_echoed_whole(hashed_photos):
    client = _client(*hashed_photos)
    r = client.get("/api/search", params={"q": "cat", "k": "1.5"})
    assert (r.status_code, r.json()["error"]["type"]) == (400, "InputError")
    r = client.get("/api/search", params={"q": "cat", "k": "9" * 5000})
    assert (r.status_code, r.json()["error"]["type"]) == (400, "InputError")
    assert len(r.json()["error"]["message"]) < 200
    r = client.get("/api/search", params={"q": "cat", "k": "9" * 4000})  # a number, out of range
    assert r.status_code == 400 and len(r.json()["error"]["message"]) < 200


def test_one_allowed_host_given_as_a_string_is_that_host(hashed_photos):
    index, embedder = hashed_photos
    client = TestClient(create_app(index, embedder, allowed_hosts="photos.lan"), base_url="http://photos.lan")
    assert client.get("/healthz").status_code == 200
    assert TestClient(create_app(index, embedder, allowed_hosts="photos.lan"),
                      base_url="http://p").get("/healthz").status_code == 400


def test_a_query_in_flight_at_shutdown_is_answered_503_and_still_counted(vertex_index):
    transport = GatedTransport()
    app = create_app(vertex_index, _embedder(transport))
    server = ServerThread(app, grace=0.2).start()
    answer: dict[str, Any] = {}

    def query() -> None:
        r = httpx.get(server.url + "/api/search", params={"q": "a cat"}, timeout=20)
        answer.update(status=r.status_code, type=r.json()["error"]["type"])

    thread = threading.Thread(target=query)
    thread.start()
    assert transport.entered.wait(5)  # the query waits inside the service now
    server.stop()
    thread.join(10)
    assert answer == {"status": 503, "type": "ShuttingDown"}
    # The embedder is still in use: whoever closes it waits (vertex-mm serve does).
    assert not app.state.in_flight.wait_idle(timeout=0.05)
    transport.gate.set()
    assert app.state.in_flight.wait_idle(timeout=5)


@pytest.mark.skipif(not __import__("socket").has_dualstack_ipv6(), reason="no dual-stack IPv6 here")
def test_listening_on_all_ipv6_interfaces_answers_ipv4_too(hashed_photos):
    with ServerThread(create_app(*hashed_photos), host="::") as server:
        assert server.loopback_url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.loopback_url + "/healthz", timeout=5).status_code == 200
        assert httpx.get(f"http://[::1]:{server.port}/healthz", timeout=5).status_code == 200
