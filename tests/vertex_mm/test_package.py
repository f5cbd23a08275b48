"""The public surface: exports, lazy backends, and an import that never pulls torch."""

from __future__ import annotations

import subprocess
import sys

import vertex_mm


def test_all_lists_real_names():
    for name in vertex_mm.__all__:
        assert getattr(vertex_mm, name) is not None, name


def test_import_does_not_load_torch_or_google_sdks():
    code = (
        "import sys, vertex_mm; "
        "bad = [m for m in ('torch', 'transformers', 'google.cloud.aiplatform_v1', 'google.genai') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_backend_names_the_choices():
    import pytest

    with pytest.raises(ValueError, match="choose one of gemini, local, vertex"):
        vertex_mm.get_embedder("nope")


def test_cli_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "vertex_mm", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "vertex-mm" in proc.stdout
