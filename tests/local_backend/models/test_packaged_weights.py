"""Weights shipped in pip packages: found through the package, overridden by an environment
variable, and a missing package is a WeightsNotFoundError that says what to install."""

from __future__ import annotations

import pathlib

import pytest

from local_backend.models.base import packaged_weights
from vertex_mm.errors import WeightsNotFoundError


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("VMM_TEST_WEIGHTS", str(tmp_path / "w.pth"))
    found = packaged_weights("VMM_TEST_WEIGHTS", "no_such_module_xyz", lambda m: "never", what="w", package="p",
                             instead="a .pth file")
    assert found == tmp_path / "w.pth"


def test_the_package_says_where_its_files_are(monkeypatch):
    monkeypatch.delenv("VMM_TEST_WEIGHTS", raising=False)
    found = packaged_weights("VMM_TEST_WEIGHTS", "json", lambda m: m.__file__, what="w", package="p", instead="x")
    assert found == pathlib.Path(__import__("json").__file__)


def test_a_missing_package_names_what_to_install(monkeypatch):
    monkeypatch.delenv("VMM_TEST_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match=r"Foo weights not found: install the package foo-weights .*"
                                                   r"vertex-mm\[local\].* or set VMM_TEST_WEIGHTS to a folder"):
        packaged_weights("VMM_TEST_WEIGHTS", "no_such_module_xyz", lambda m: "", what="Foo weights",
                         package="foo-weights", instead="a folder")
