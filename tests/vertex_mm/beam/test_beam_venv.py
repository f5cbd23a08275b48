"""vertex-mm co-installs with apache-beam[gcp], and its Vertex client works on google-cloud-aiplatform 1.x.

The main venv has google-cloud-aiplatform 2.x and no Beam. This test builds (once, cached) a venv
with ``apache-beam[gcp]==2.77.0``, whose resolver caps aiplatform below 2, and runs there the
Beam tests and the Vertex client's tests against the emulator: the 1.x end of the supported
range. It is bounded to 10 minutes: 5 for a cold build (about 2.5 here), 5 for the tests (about 4).
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from vmm_beam_venv import REPO, beam_venv_python

BUILD_TIMEOUT_S = 300
TESTS_TIMEOUT_S = 300
IN_VENV = "VERTEX_MM_IN_BEAM_VENV"


def _already_such_an_env() -> bool:
    """This interpreter has Beam and aiplatform 1.x: the other tests here already cover it."""
    import importlib.metadata as md
    import importlib.util

    try:
        return importlib.util.find_spec("apache_beam") is not None and md.version("google-cloud-aiplatform").startswith("1.")
    except md.PackageNotFoundError:
        return False


# The client's tests that talk to the emulator through the gapic client and the vertexai SDK.
CLIENT_TESTS = (
    "tests/vertex_mm/vertex/test_transport.py",
    "tests/vertex_mm/emulator/test_vertexai_sdk.py",
    "tests/vertex_mm/batch/test_emulator_e2e.py",
)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S + TESTS_TIMEOUT_S + 30)
@pytest.mark.skipif(bool(os.environ.get(IN_VENV)) or _already_such_an_env(),
                    reason="this interpreter already has apache-beam and google-cloud-aiplatform 1.x")
def test_beam_tests_and_client_tests_pass_with_apache_beam_gcp_and_aiplatform_1x():
    python = str(beam_venv_python(timeout=BUILD_TIMEOUT_S))
    versions = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('apache-beam'), m.version('google-cloud-aiplatform'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    assert versions[0] == "2.77.0"
    assert versions[1].startswith("1."), f"apache-beam[gcp] resolved google-cloud-aiplatform {versions[1]}, expected 1.x"

    tests = ["tests/vertex_mm/beam", *(t for t in CLIENT_TESTS if (REPO / t).exists())]
    env = {**os.environ, IN_VENV: "1"}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=TESTS_TIMEOUT_S,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, (f"in the Beam venv (aiplatform {versions[1]}): {summary}\n"
                                  f"{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
    skipped = re.search(r"(\d+) skipped", summary)
    # Only this test itself may skip in there; any other skip means something was missing.
    assert " passed" in summary and (skipped is None or skipped.group(1) == "1"), summary
