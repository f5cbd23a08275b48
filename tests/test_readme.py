"""The README opens with the two commands, and CI runs the second one word for word."""

from __future__ import annotations

import pathlib
import re

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
