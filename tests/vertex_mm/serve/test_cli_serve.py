"""``vertex-mm serve`` over a remote backend, as a user runs it: each query has a budget of
seconds (not a batch job's 15 minutes of retries), so an outage is answered 503 at once; and
``--rpm`` sets the rate limit, as on ``index``, ``embed`` and ``migrate``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from served_process import served

pytest.importorskip("starlette")
pytest.importorskip("multipart", reason="uploads need python-multipart (vertex-mm[serve])")
httpx = pytest.importorskip("httpx")

from vertex_mm.cli import main  # noqa: E402
from vertex_mm.emulator import run_emulator  # noqa: E402
from vertex_mm.index.build import index_images  # noqa: E402
from vertex_mm.sample_data import sample_photos, sample_photos_dir  # noqa: E402
from vertex_mm.serve.budget import interactive_options  # noqa: E402
from vertex_mm.testing import InMemoryTransport  # noqa: E402
from vertex_mm.vertex import VertexEmbedder  # noqa: E402


@pytest.fixture(scope="module")
def vertex_index_dir(tmp_path_factory) -> Path:
    with VertexEmbedder("p", transport=InMemoryTransport()) as embedder:
        index, _ = index_images(embedder, sample_photos()[:2], root=sample_photos_dir(), dimension=128)
    return index.save(tmp_path_factory.mktemp("served") / "photos.idx")


def test_an_outage_is_a_prompt_503_not_minutes_of_retries(vertex_index_dir, tmp_path):
    # The service asks for 30 s between tries: a batch job waits; a search page cannot.
    with run_emulator(backend="hashed", fault_rate_503=1.0, retry_after=30) as emulator:
        with served(["serve", str(vertex_index_dir), "--api-endpoint", emulator.url, "--port", "0", "--rpm", "6000",
                     "--query-timeout", "8"], tmp_path, timeout=60) as url:
            started = time.monotonic()
            r = httpx.get(url + "/api/search", params={"q": "a cat"}, timeout=30)
            took = time.monotonic() - started
    assert (r.status_code, r.json()["error"]["type"]) == (503, "ServiceUnavailableError")
    assert r.headers["Retry-After"] == "30"
    assert took < 8, f"answered after {took:.1f} s"


@pytest.mark.parametrize(("argv", "says"), [(["--rpm", "0"], "must be more than 0"), (["--rpm", "nan"], "must be more than 0"),
                                            (["--query-timeout", "-1"], "must be more than 0"),
                                            (["--query-timeout", "inf"], "must be a finite number"),
                                            (["--rpm", "inf"], "must be a finite number")])
def test_serve_refuses_a_rate_or_budget_that_is_not_positive(tmp_path, capsys, argv, says):
    with pytest.raises(SystemExit) as exc:
        main(["serve", str(tmp_path / "p.idx"), *argv])
    assert exc.value.code == 2
    assert says in capsys.readouterr().err


def test_the_interactive_budget_fits_retries_and_request_timeouts_into_the_query_time():
    options = interactive_options("vertex", 20)
    retry = options["retry"]
    assert retry.max_attempts <= 3 and retry.max_retry_after <= 1
    # The last attempt starts before give_up_after plus one wait, and lasts at most a request timeout.
    assert retry.give_up_after + retry.max_backoff + options["timeout"] <= 20
    assert interactive_options("local", 20) == {}
    with pytest.raises(ValueError):
        interactive_options("gemini", 0)


def test_serve_on_a_page_index_names_the_command_that_searches_it(tmp_path, capsys):
    from vertex_mm.index import MultiVectorIndex
    from vertex_mm.results import EmbeddingSpace

    index = MultiVectorIndex(EmbeddingSpace("test", "mv", 4))
    index.add("a", [np.eye(2, 4, dtype=np.float32)])
    path = index.save(tmp_path / "pages.idx")
    assert main(["serve", str(path), "--port", "0"]) == 2
    assert f"vertex-mm pages search --index {path}" in capsys.readouterr().err
