"""``vertex-mm pages`` edges a new user met: nothing to index is refused and writes nothing,
and the help pages say what each action does."""

from __future__ import annotations

import pytest

from vertex_mm.cli import main


def test_an_empty_folder_is_refused_and_no_index_is_written(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    idx = tmp_path / "pe.idx"
    assert main(["pages", "index", str(tmp_path / "empty"), "--index", str(idx)]) == 2
    assert f"no PDFs or page images under {tmp_path / 'empty'}" in capsys.readouterr().err
    assert not idx.exists()


def test_a_folder_of_unreadable_pdfs_is_refused_naming_them(tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fake.pdf").write_text("<html>not a pdf</html>\n")
    idx = tmp_path / "pe.idx"
    assert main(["pages", "index", str(tmp_path / "bad"), "--index", str(idx)]) == 2
    err = capsys.readouterr().err
    assert "no readable PDFs or page images in" in err and "fake.pdf" in err and not idx.exists()


def test_a_missing_source_is_named_before_an_existing_index_is_mentioned(tmp_path, capsys):
    idx = tmp_path / "pe.idx"
    idx.mkdir()
    (idx / "manifest.json").write_text("{}")  # whatever is there, the missing file is the error to show
    assert main(["pages", "index", str(tmp_path / "nope.pdf"), "--index", str(idx)]) == 2
    assert "nope.pdf: no such file or folder" in capsys.readouterr().err


@pytest.mark.parametrize(("action", "says"), [("index", "Index the pages of PDFs"), ("search", "Answer text queries")])
def test_each_pages_action_has_a_description_and_exit_codes(action, says, capsys):
    with pytest.raises(SystemExit) as info:
        main(["pages", action, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and says in out and "Exit status:" in out and f"vertex-mm pages {action} " in out


def test_pages_search_k_and_pages_per_vector_say_what_they_take(capsys):
    with pytest.raises(SystemExit):
        main(["pages", "search", "--help"])
    assert "pages per query (default 5)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["pages", "index", "--help"])
    assert "(1..6)" in " ".join(capsys.readouterr().out.split())  # what ContentPageRetriever accepts
