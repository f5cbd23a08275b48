"""Fault decisions, settings and counters as plain values (no server)."""

from __future__ import annotations

import collections
import json

import httpx
import pytest

from vertex_mm.emulator import EmulatorSettings, FaultInjector, FaultSettings, SettingsError, Stats
from vertex_mm.emulator.faults import Outcome
from vertex_mm.limits import MULTIMODAL_EMBEDDING_001


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outcomes(injector: FaultInjector, n: int) -> list[Outcome]:
    return [injector.decide().outcome for _ in range(n)]


def test_quota_admits_its_share_of_a_window_then_answers_with_the_wait():
    clock = FakeClock()
    injector = FaultInjector(FaultSettings(quota_rpm=180, quota_window=1.0), clock=clock)  # 3 per second
    assert _outcomes(injector, 3) == [Outcome.PASS] * 3
    clock.now += 0.25
    d = injector.decide()
    assert d.outcome is Outcome.QUOTA
    assert d.retry_after == pytest.approx(0.75)


def test_quota_refills_as_the_window_slides():
    clock = FakeClock()
    injector = FaultInjector(FaultSettings(quota_rpm=120, quota_window=1.0), clock=clock)  # 2 per second
    injector.decide()
    clock.now += 0.5
    injector.decide()
    assert injector.decide().outcome is Outcome.QUOTA
    clock.now += 0.5  # the first admitted request leaves the window
    assert injector.decide().outcome is Outcome.PASS
    assert injector.decide().outcome is Outcome.QUOTA


def test_each_base_model_has_its_own_quota_window():
    # "requests per base model": gemini calls used up multimodalembedding's window.
    injector = FaultInjector(FaultSettings(quota_rpm=60, quota_window=1.0), clock=FakeClock())  # 1 per second
    assert injector.decide("gemini-embedding-2").outcome is Outcome.PASS
    assert injector.decide("gemini-embedding-2").outcome is Outcome.QUOTA
    assert injector.decide("multimodalembedding").outcome is Outcome.PASS


def test_rejected_requests_do_not_use_quota():
    clock = FakeClock()
    injector = FaultInjector(FaultSettings(quota_rpm=60, quota_window=1.0), clock=clock)  # 1 per second
    assert injector.decide().outcome is Outcome.PASS
    for _ in range(5):
        assert injector.decide().outcome is Outcome.QUOTA
    clock.now += 1.0
    assert injector.decide().outcome is Outcome.PASS


def test_per_minute_quota_over_the_default_window():
    assert FaultSettings(quota_rpm=600).quota_per_window == 600
    assert FaultSettings(quota_rpm=600, quota_window=1.0).quota_per_window == 10
    assert FaultSettings(quota_rpm=1, quota_window=1.0).quota_per_window == 1  # never zero


def test_a_seed_fixes_the_sequence_of_random_faults():
    settings = FaultSettings(fault_rate_503=0.2, fault_rate_429=0.1, drop_rate=0.1, seed=7)
    first = _outcomes(FaultInjector(settings), 300)
    second = _outcomes(FaultInjector(settings), 300)
    assert first == second
    assert first != _outcomes(FaultInjector(FaultSettings(fault_rate_503=0.2, fault_rate_429=0.1, drop_rate=0.1, seed=8)), 300)


def test_random_faults_come_at_their_rates():
    injector = FaultInjector(FaultSettings(fault_rate_503=0.2, fault_rate_429=0.1, drop_rate=0.05, seed=1))
    counts = collections.Counter(_outcomes(injector, 4000))
    assert counts[Outcome.RANDOM_503] / 4000 == pytest.approx(0.2, abs=0.03)
    assert counts[Outcome.RANDOM_429] / 4000 == pytest.approx(0.1, abs=0.03)
    assert counts[Outcome.DROP] / 4000 == pytest.approx(0.05, abs=0.02)
    assert injector.decide().retry_after in (0.0, 1.0)


def test_reconfiguring_restarts_the_sequence_and_the_quota():
    clock = FakeClock()
    injector = FaultInjector(FaultSettings(quota_rpm=60, quota_window=1.0, seed=3), clock=clock)
    injector.decide()
    assert injector.decide().outcome is Outcome.QUOTA
    injector.configure(injector.settings.updated({"quota_rpm": None}))
    assert _outcomes(injector, 5) == [Outcome.PASS] * 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fault_rate_503": 1.5}, "fault_rate_503 must be within"),
        ({"drop_rate": -0.1}, "drop_rate must be within"),
        ({"fault_rate_503": 0.6, "fault_rate_429": 0.6}, "must be <= 1"),
        ({"quota_rpm": 0}, "quota_rpm must be a positive int"),
        ({"latency": -1}, "latency must be within"),
        ({"quota_window": 0}, "quota_window must be within"),
    ],
)
def test_bad_fault_settings_name_the_setting(kwargs, match):
    with pytest.raises(SettingsError, match=match):
        FaultSettings(**kwargs)


def test_updating_with_an_unknown_setting_is_refused():
    with pytest.raises(SettingsError, match=r"unknown fault settings \['latency_s'\]"):
        FaultSettings().updated({"latency_s": 1})


def test_settings_come_from_prefixed_environment_variables():
    env = {
        "VERTEX_MM_EMULATOR_PORT": "8123",
        "VERTEX_MM_EMULATOR_LATENCY_MS": "150",
        "VERTEX_MM_EMULATOR_QUOTA_RPM": "600",
        "VERTEX_MM_EMULATOR_FAULT_RATE_503": "0.05",
        "VERTEX_MM_EMULATOR_SEED": "42",
        "VERTEX_MM_EMULATOR_BACKEND": "hashed",
    }
    s = EmulatorSettings.from_environ(env)
    assert (s.host, s.port, s.backend) == ("127.0.0.1", 8123, "hashed")
    assert s.faults == FaultSettings(latency=0.15, quota_rpm=600, fault_rate_503=0.05, seed=42)
    assert s.max_request_bytes == MULTIMODAL_EMBEDDING_001.max_request_bytes
    assert EmulatorSettings.from_environ(env, port=9000, host=None).port == 9000


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(SettingsError, match="VERTEX_MM_EMULATOR_QUOTA_RPM='lots' is not a valid int"):
        EmulatorSettings.from_environ({"VERTEX_MM_EMULATOR_QUOTA_RPM": "lots"})
    with pytest.raises(SettingsError, match="backend must be one of auto, local, hashed"):
        EmulatorSettings.from_environ({"VERTEX_MM_EMULATOR_BACKEND": "cuda"})


def test_stats_count_answers_by_class():
    stats = Stats()
    for status in (200, 200, 400, 429, 503, None):
        stats.started()
        stats.answered(status)
        stats.finished()
    snap = stats.snapshot()
    assert snap == {
        "requests": 6, "2xx": 2, "4xx": 2, "429": 1, "5xx": 1, "503": 1, "dropped": 1,
        "in_flight": 0, "max_in_flight": 1, "quota_429": 0, "injected": 0,
    }
    stats.reset()
    assert stats.snapshot()["requests"] == 0


@pytest.mark.parametrize("changes", [{"latency": float("inf")}, {"latency": float("nan")}, {"latency_ms": 1e12},
                                     {"retry_after": float("inf")}, {"latency": "1"}, {"fault_rate_503": True},
                                     {"seed": 1.5}])
def test_fault_values_that_would_hang_or_break_the_emulator_are_refused_and_nothing_sticks(changes):
    from vertex_mm import get_embedder
    from vertex_mm.emulator import run_emulator

    with run_emulator(backend="hashed") as emu, httpx.Client(base_url=emu.url) as http:
        before = http.get("/emulator/faults").json()
        # Sent as Python writes JSON: Infinity and NaN included, as a careless client would.
        r = http.post("/emulator/faults", content=json.dumps(changes), headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert http.get("/emulator/faults").json() == before
        emb = get_embedder("vertex", api_endpoint=emu.url, retry="none", timeout=10)
        assert len(emb.get_embeddings(contextual_text="still answers", dimension=128).text_embedding) == 128
        emb.close()


def test_a_too_large_body_is_drained_only_so_far_then_the_connection_is_dropped():
    """Issue 11 L4: the emulator answered a too-large body only after reading all of it."""
    import select
    import socket
    from urllib.parse import urlsplit

    from vertex_mm.emulator import run_emulator

    limit, chunk, offered = 1 << 20, b"x" * 65536, 200 << 20
    path = "/v1/projects/p/locations/us-central1/publishers/google/models/multimodalembedding@001:predict"
    with run_emulator(backend="hashed", max_request_bytes=limit) as emu:
        where = urlsplit(emu.url)
        sock = socket.create_connection((where.hostname, where.port), timeout=10)
        sent, answer = 0, b""
        try:
            # Chunked: no Content-Length, so only reading tells the server that the body is too large.
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n".encode())
            while sent < offered:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered (or closed) before taking everything
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            else:
                sock.sendall(b"0\r\n\r\n")  # it took everything: end the body, read the answer
            answer = sock.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            sock.close()
    # 2x the limit read, plus what the socket buffers held; far from the 200 MiB offered.
    assert sent < 40 << 20, f"the server took {sent >> 20} MiB of a too-large body"
    assert not answer or answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_a_model_the_emulator_does_not_serve_is_a_404_that_uses_no_quota():
    """With the quota used up, a request to an unknown model got the quota's 429 before its 404."""
    from vertex_mm.emulator import run_emulator

    body = {"instances": [{"text": "a"}]}
    path = "/v1/projects/p/locations/us-central1/publishers/google/models/{}:predict"
    with run_emulator(backend="hashed", quota_rpm=1) as emu, httpx.Client(base_url=emu.url) as http:
        assert http.post(path.format("multimodalembedding@001"), json=body).status_code == 200
        assert http.post(path.format("multimodalembedding@001"), json=body).status_code == 429  # used up
        unknown = http.post(path.format("multimodalembedding@999"), json=body)
        assert unknown.status_code == 404, unknown.text
        assert "not found" in unknown.json()["error"]["message"]
