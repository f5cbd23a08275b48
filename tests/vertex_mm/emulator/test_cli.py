"""``vertex-mm emulator`` as a real subprocess: prints its URL, answers, stops on SIGINT."""

from __future__ import annotations

import os
import pathlib
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from vertex_mm import get_embedder
from vertex_mm.errors import QuotaExceededError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _command() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("vertex-mm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vertex_mm"]


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*_command(), "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _first_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        proc.kill()
        pytest.fail(f"no output within {timeout} s; stderr: {proc.stderr.read()}")
    return proc.stdout.readline()


@pytest.fixture
def cli_emulator() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = _start("--port", "0", "--backend", "hashed", "--latency-ms", "20", "--fault-rate-429", "0.1", "--seed", "3")
    try:
        line = _first_line(proc)
        assert line.startswith("vertex-mm emulator listening on http://127.0.0.1:"), line
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes the pipes


def test_it_prints_its_url_answers_and_stops_on_sigint(cli_emulator):
    proc, url = cli_emulator
    emb = get_embedder("vertex", api_endpoint=url, retry="none")
    with httpx.Client(base_url=url) as http:
        assert http.post("/emulator/faults", json={"fault_rate_429": 0.0}).status_code == 200
        assert len(emb.get_embeddings(contextual_text="hello", dimension=128).text_embedding) == 128
        assert http.get("/emulator/stats").json()["2xx"] == 1
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert "vertex-mm emulator stopped" in proc.stderr.read()


def test_flags_set_the_faults(cli_emulator):
    proc, url = cli_emulator
    faults = httpx.get(url + "/emulator/faults").json()
    assert (faults["latency"], faults["fault_rate_429"], faults["seed"]) == (0.02, 0.1, 3)
    assert httpx.get(url + "/emulator/info").json()["backend"] == "hashed"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_settings_come_from_the_environment_too():
    proc = _start("--backend", "hashed", env={"VERTEX_MM_EMULATOR_QUOTA_RPM": "1", "VERTEX_MM_EMULATOR_PORT": "0"})
    try:
        url = _first_line(proc).split()[-1]
        emb = get_embedder("vertex", api_endpoint=url, retry="none")
        emb.get_embeddings(contextual_text="one")
        with pytest.raises(QuotaExceededError):
            emb.get_embeddings(contextual_text="two")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_a_bad_flag_value_exits_2_naming_it():
    result = subprocess.run([*_command(), "emulator", "--fault-rate-503", "1.5"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "fault_rate_503 must be within [0, 1]" in result.stderr


def test_a_taken_port_exits_2_with_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*_command(), "emulator", "--port", str(port), "--backend", "hashed"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
