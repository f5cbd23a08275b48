"""The one cache writer (OCR results, class matrices, SVDs): atomic, and readable as the user's umask allows."""

from __future__ import annotations

import os
import stat

import pytest

from vertex_mm._paths import write_cache_file


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_cache_files_follow_the_umask(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        write_cache_file(tmp_path / "sub" / "a.bin", lambda f: f.write(b"x" * 10))
    finally:
        os.umask(before)
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "a.bin").st_mode) == mode
    assert (tmp_path / "sub" / "a.bin").read_bytes() == b"x" * 10


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    write_cache_file(target, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_cache_file(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
