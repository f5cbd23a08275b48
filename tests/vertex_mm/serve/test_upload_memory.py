"""``vertex-mm serve`` as a real process: a 300 MiB streamed upload is refused with 413, and the
server's peak memory (VmHWM from /proc) grows by far less than the upload (issue 11, M2)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads peak memory from /proc")


def _peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


@pytest.mark.slow
def test_a_300_mib_upload_is_refused_early_without_holding_it(hashed_index_dir):
    proc = subprocess.Popen([sys.executable, "-m", "vertex_mm", "serve", str(hashed_index_dir), "--port", "0",
                             "--backend", "hashed"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
        url = line.split()[-1]
        with httpx.Client(base_url=url, timeout=120) as client:
            assert client.get("/healthz").status_code == 200
            before = _peak_kb(proc.pid)

            def body():
                yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n\r\n"
                for _ in range(300):
                    yield b"\0" * (1 << 20)

            try:
                r = client.post("/search", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
                status = r.status_code
            except httpx.HTTPError:  # the server may close the connection while we are still sending
                status = 413
            grown_mb = (_peak_kb(proc.pid) - before) / 1024
        assert status == 413
        print(f"peak memory grew by {grown_mb:.1f} MB for a 300 MiB upload")
        assert grown_mb <= 120
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
