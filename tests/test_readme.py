"""The README opens with the two commands, and CI runs the second one word for word."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)][:2]


def test_readme_opens_with_setup_and_test_commands():
    main_job, tests = readme_commands()
    assert "pip install" in main_job and "examples/" in main_job
    assert "pip install" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def _python_block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]


def test_the_testing_section_runs_as_written():
    code = _python_block_after("## Testing your own code")
    namespace: dict = {}
    exec(compile(code, "README.md: Testing your own code", "exec"), namespace)
    assert len(namespace["transport"].calls) >= 2


def _run_python_block(heading: str, index: int, capsys) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[index]
    exec(compile(code, f"README.md: {heading} #{index}", "exec"), {})
    return capsys.readouterr().out


def test_the_langchain_snippet_runs_as_written(capsys):
    out = _run_python_block("## Use with LangChain / LlamaIndex", 0, capsys)
    assert out.strip().endswith("cat.jpg")


def test_the_llamaindex_snippet_runs_as_written(capsys):
    out = _run_python_block("## Use with LangChain / LlamaIndex", 1, capsys)
    assert out.strip().endswith("cat.jpg")


@pytest.mark.parametrize("index, expected", [(2, "report.pdf#2"), (3, "report.pdf#2"), (4, "denseVector")])
def test_the_store_snippets_run_as_written(index, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they write pages.qdrant/, pages.lancedb/, objects/
    out = _run_python_block("## Use with LangChain / LlamaIndex", index, capsys)
    assert expected in out


def test_the_muvera_snippet_runs_as_written(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it writes pages.idx/ and pages.parquet
    out = _run_python_block("### Multi-vector pages in single-vector engines: MUVERA", 0, capsys)
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "doc1#3" in lines[0] and "doc1#3" in lines[1] and lines[2] == "doc1#3"
