"""``read_qrels``: the BEIR qrels reader refuses malformed files with typed errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertex_mm.errors import InputError
from vertex_mm.evaluation.qrels import read_qrels, write_qrels

HEADER = b"query-id\tcorpus-id\tscore\n"


def _qrels(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "test.tsv"
    path.write_bytes(data)
    return path


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    """Excel writes one; the header was refused as ['\\ufeffquery-id', ...]."""
    assert read_qrels(_qrels(tmp_path, "\ufeff".encode() + HEADER + b"q1\td#1\t2\n")) == {"q1": {"d#1": 2}}


@pytest.mark.parametrize(("body", "message"), [
    (b"q1\td#1\t1\nq2\tcaf\xe9#1\t1\n", r"test\.tsv:3: not UTF-8 text \(byte 0xe9\)"),  # was a bare UnicodeDecodeError
    (b"q1\td#1\t2\nq1\td#1\t1\n", r"test\.tsv:3: query 'q1' and corpus item 'd#1' were already judged on line 2"),
    (b"\td#1\t1\n", r"test\.tsv:2: empty query-id"),
    (b"q1\t \t1\n", r"test\.tsv:2: empty corpus-id"),
])
def test_malformed_lines_are_input_errors_naming_the_line(tmp_path: Path, body: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_qrels(_qrels(tmp_path, HEADER + body))


def test_a_non_utf8_qrels_file_is_a_usage_error_of_pages_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI printed a traceback: UnicodeDecodeError is not an error it maps to exit 2."""
    from vertex_mm.cli import main

    ds = tmp_path / "ds"
    (ds / "qrels").mkdir(parents=True)
    _qrels(ds / "qrels", HEADER + b"q1\tcaf\xe9#1\t1\n")
    (ds / "queries.jsonl").write_text('{"_id": "q1", "text": "a cafe"}\n', encoding="utf-8")
    (ds / "corpus").mkdir()
    assert main(["pages", "eval", str(ds), "--no-ocr-baseline"]) == 2
    assert "test.tsv:2: not UTF-8 text" in capsys.readouterr().err


def test_written_grades_read_back(tmp_path: Path) -> None:
    write_qrels(tmp_path / "q.tsv", {"q1": {"a#1": 2, "b#1": 1}, "q2": ["c#3"]})
    assert read_qrels(tmp_path / "q.tsv") == {"q1": {"a#1": 2, "b#1": 1}, "q2": {"c#3": 1}}
