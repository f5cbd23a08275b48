"""The one JSON Lines reader: objects with their file:line, typed errors for anything else."""

from __future__ import annotations

import pytest

from vertex_mm._jsonl import json_objects
from vertex_mm.errors import InputError, VertexMMError


def test_objects_come_with_file_and_line_and_blank_or_comment_lines_are_skipped(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"a": 1}\n\n# a comment\n{"b": 2}\n', encoding="utf-8")
    rows = list(json_objects(path, comments=True))
    assert rows == [(f"{path}:1", 1, {"a": 1}), (f"{path}:4", 4, {"b": 2})]


@pytest.mark.parametrize("text, message", [
    ('{"a": 1}\n{"a": \n', ":2: not JSON"),
    ("[1, 2]\n", ":1: expected a JSON object, got list"),
    ("# comments are not allowed here\n", ":1: not JSON"),
    (b"\xff\xfe not utf-8", "cannot read"),
])
def test_a_bad_line_or_file_is_a_typed_error_naming_where(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=message):
        list(json_objects(path))


def test_the_caller_chooses_the_error_type(tmp_path):
    class DataError(VertexMMError):
        pass

    missing = tmp_path / "missing.jsonl"
    with pytest.raises(DataError, match="missing.jsonl: cannot read"):
        list(json_objects(missing, error=lambda message, _where: DataError(message)))
