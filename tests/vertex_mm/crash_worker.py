"""SIGKILL at every step of a save, a compaction or an export (run by test_crash_safety.py).

``python crash_worker.py SCENARIO FOLDER`` sets up the old state in FOLDER, then for N = 1, 2,
... forks a child that runs the operation and kills itself with SIGKILL just before its N-th
file-system step (an ``open`` for writing, ``fsync``, ``rename``, ``replace``, ``unlink``,
``rmdir``, ``mkdir``, ``ftruncate`` or the directory exchange), until a child gets through
every step. After each kill it checks what a reader finds (the old complete state or the new
one, never neither), lets a fresh writer run over what the kill left, checks again, and puts
the old state back. It prints one JSON line: steps, how often the old and the new state were
found, and the failures.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vertex_mm import Embeddings, EmbeddingSpace
from vertex_mm.index import FlatIndex, MultiVectorIndex, load_index, persist
from vertex_mm.index.manifest import TEMP_NAME

SPACE = EmbeddingSpace("test", "gaussian", 16)
_OS_STEPS = ("fsync", "rename", "replace", "unlink", "rmdir", "mkdir", "ftruncate")


def _vectors(n: int, seed: int) -> Embeddings:
    x = np.random.default_rng(seed).standard_normal((n, SPACE.dimension)).astype(np.float32)
    return Embeddings(x / np.linalg.norm(x, axis=1, keepdims=True), SPACE)


def _pages(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3 + i % 4, SPACE.dimension)).astype(np.float32) for i in range(n)]


def _kill_before_step(n: int) -> None:
    """Make the N-th file-system step of this process its last."""
    count = [0]

    def step() -> None:
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            step()
            return fn(*args, **kwargs)
        return wrapped

    for name in _OS_STEPS:
        setattr(os, name, wrap(getattr(os, name)))
    persist._exchange = wrap(persist._exchange)  # type: ignore[attr-defined]
    real_open = builtins.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+"):
            step()
        return real_open(file, mode, *args, **kwargs)

    builtins.open = io.open = open_  # type: ignore[assignment]  # io.open: what pathlib calls


def _leftovers(folder: Path) -> list[str]:
    """Temporary names left anywhere under ``folder`` (a crash's debris)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if TEMP_NAME.fullmatch(p.name) or p.name.startswith(".manifest.json.") or p.name.endswith(".tmp"))


# -- scenarios: (setup old state, operation, what a reader finds, a fresh writer) -------------


class FlatSave:
    """Saving a flat index over the old one (10 ids -> 15 ids)."""

    exchange = True

    def setup(self, root: Path) -> None:
        index = FlatIndex(SPACE)
        index.add([f"a{i}" for i in range(10)], _vectors(10, 1))
        index.save(root / "idx")

    def operation(self, root: Path) -> None:
        if not self.exchange:
            persist._exchange = lambda a, b: False  # type: ignore[attr-defined]
        index = FlatIndex.load(root / "idx")
        index.add([f"b{i}" for i in range(5)], _vectors(5, 2))
        index.save(root / "idx")

    def state(self, root: Path) -> str:
        index = load_index(root / "idx")
        ids = sorted(index.ids)
        return {10: "old", 15: "new"}.get(len(ids), f"?{ids}")

    def writer(self, root: Path) -> None:
        index = FlatIndex.load(root / "idx")
        index.add(["c0"], _vectors(1, 3))
        index.save(root / "idx")

    def after_writer(self, root: Path) -> bool:
        return len(load_index(root / "idx")) in (11, 16) and "c0" in load_index(root / "idx")


class FlatSaveTwoRenames(FlatSave):
    """The same where the directories cannot be exchanged (two renames and locate_index)."""

    exchange = False


class MultiVectorAppend:
    """Adding a document to a saved multi-vector index in place (a new segment + manifest)."""

    def setup(self, root: Path) -> None:
        index = MultiVectorIndex(SPACE, binary=True)
        index.add("A", _pages(3, 1))
        index.save(root / "mv")

    def operation(self, root: Path) -> None:
        index = MultiVectorIndex.load(root / "mv")
        index.add("B", _pages(2, 2))
        index.save()

    def state(self, root: Path) -> str:
        docs = MultiVectorIndex.load(root / "mv").doc_ids()
        return {("A",): "old", ("A", "B"): "new"}.get(tuple(docs), f"?{docs}")

    def writer(self, root: Path) -> None:
        index = MultiVectorIndex.load(root / "mv")
        index.add("C", _pages(1, 3), replace=True)
        index.save()

    def after_writer(self, root: Path) -> bool:
        return MultiVectorIndex.load(root / "mv").doc_ids() in (["A", "C"], ["A", "B", "C"])


class MultiVectorCompact:
    """Compacting in place: docs A, B, C in two segments with B deleted -> one segment."""

    def setup(self, root: Path) -> None:
        index = MultiVectorIndex(SPACE, binary=True)
        index.add("A", _pages(3, 1))
        index.add("B", _pages(2, 2))
        index.save(root / "mv")
        index.add("C", _pages(2, 3))
        index.delete("B")
        index.save()

    def operation(self, root: Path) -> None:
        MultiVectorIndex.load(root / "mv").compact()

    def state(self, root: Path) -> str:
        index = MultiVectorIndex.load(root / "mv")
        if index.doc_ids() != ["A", "C"]:
            return f"?{index.doc_ids()}"
        query = _pages(1, 9)[0]
        hits = [(h.page_id, round(float(h.score), 2)) for h in index.search([query], k=5)[0]]
        expected = [(h.page_id, round(float(h.score), 2)) for h in _reference().search([query], k=5)[0]]
        if hits != expected:
            return f"?hits {hits} != {expected}"
        return "new" if index.stats()["segments"] == 1 else "old"

    def writer(self, root: Path) -> None:
        MultiVectorIndex.load(root / "mv").compact()

    def after_writer(self, root: Path) -> bool:
        return self.state(root) == "new"


def _reference() -> MultiVectorIndex:
    index = MultiVectorIndex(SPACE, binary=True)
    index.add("A", _pages(3, 1))
    index.add("C", _pages(2, 3))
    return index


class JournalExport:
    """Exporting a journal to Parquet over an earlier export (3 rows -> 5 rows)."""

    def _journal(self, root: Path, n: int) -> None:
        from vertex_mm.jobs import Journal

        with Journal(root / "out.jsonl") as journal:
            for i in range(n):
                journal.write({"id": f"r{i}", "content_hash": "h", "space": SPACE.id, "embedding": [float(i), 1.0]})

    def setup(self, root: Path) -> None:
        from vertex_mm.jobs import export_parquet

        self._journal(root, 3)
        export_parquet(root / "out.jsonl", root / "out.parquet")
        self._journal(root, 5)

    def operation(self, root: Path) -> None:
        from vertex_mm.jobs import export_parquet

        export_parquet(root / "out.jsonl", root / "out.parquet", rows_per_group=2)

    def state(self, root: Path) -> str:
        import pyarrow.parquet as pq

        rows = pq.read_table(root / "out.parquet").to_pylist()
        return {3: "old", 5: "new"}.get(len(rows), f"?{len(rows)} rows")

    def writer(self, root: Path) -> None:
        self.operation(root)

    def after_writer(self, root: Path) -> bool:
        return self.state(root) == "new"


SCENARIOS: dict[str, Any] = {
    "flat-save": FlatSave, "flat-save-two-renames": FlatSaveTwoRenames,
    "multivector-append": MultiVectorAppend, "multivector-compact": MultiVectorCompact,
    "journal-export": JournalExport,
}


def main(name: str, folder: Path, max_steps: int = 400) -> dict[str, Any]:
    scenario = SCENARIOS[name]()
    pristine, root = folder / "pristine", folder / "work"
    pristine.mkdir(parents=True)
    scenario.setup(pristine)
    outcomes: dict[str, int] = {"old": 0, "new": 0}
    failures: list[str] = []
    for n in range(1, max_steps + 1):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root, symlinks=True)
        pid = os.fork()
        if pid == 0:  # the child: run the operation, killed before step n
            code = 0
            try:
                _kill_before_step(n)
                scenario.operation(root)
            except BaseException as exc:  # noqa: BLE001 - reported through the exit code
                sys.stderr.write(f"step {n}: {type(exc).__name__}: {exc}\n")
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            if os.WEXITSTATUS(status) != 0:
                failures.append(f"step {n}: the operation failed without a kill")
            found = _check(scenario, root, n, failures)
            return {"steps": n - 1, "outcomes": outcomes, "failures": failures, "final": found}
        if os.WTERMSIG(status) != signal.SIGKILL:
            failures.append(f"step {n}: child ended by signal {os.WTERMSIG(status)}")
            continue
        found = _check(scenario, root, n, failures)
        outcomes[found] = outcomes.get(found, 0) + 1
        try:
            scenario.writer(root)  # the next run, over whatever the kill left
            if not scenario.after_writer(root):
                failures.append(f"step {n}: the next writer's work is not what a reader finds")
            if _leftovers(root):
                failures.append(f"step {n}: the next writer left {_leftovers(root)}")
        except Exception as exc:  # noqa: BLE001
            failures.append(f"step {n}: the next writer failed: {type(exc).__name__}: {exc}")
    failures.append(f"no run got through {max_steps} steps")
    return {"steps": max_steps, "outcomes": outcomes, "failures": failures, "final": None}


def _check(scenario: Any, root: Path, n: int, failures: list[str]) -> str:
    try:
        found: str = scenario.state(root)
    except Exception as exc:  # noqa: BLE001
        found = f"?{type(exc).__name__}: {exc}"
    if found.startswith("?"):
        failures.append(f"step {n}: a reader found {found}")
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
