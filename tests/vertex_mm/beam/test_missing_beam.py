"""Without Apache Beam, the pure parts of vertex_mm.beam work and the transforms name the extra."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_transforms_without_beam_names_the_extra():
    code = (
        "import sys; sys.modules['apache_beam'] = None\n"
        "import vertex_mm.beam as vb\n"
        "assert vb.WorkerQuota(600).per_process_rpm == 600  # the pure parts still work\n"
        "try:\n"
        "    from vertex_mm.beam import EmbedImages\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.startswith("MissingDependencyError") and 'pip install "vertex-mm[beam]"' in out
