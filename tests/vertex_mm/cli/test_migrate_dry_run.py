"""``vertex-mm migrate --dry-run``: what a migration would send, cost and fail on, with nothing
sent or written; the emulator is the service (@001 builds the old index)."""

from __future__ import annotations

import pytest
from factories import image_bytes, truncated
from old_indexes import save_001_index

from vertex_mm import get_embedder
from vertex_mm.cli import main
from vertex_mm.index.build import find_images
from vertex_mm.migrate import migrate_index, plan_migration


@pytest.fixture
def old_index(emulator, image_folder, tmp_path):
    """Six photos and a GIF indexed with @001; then one photo deleted and the GIF broken."""
    root = image_folder(6)
    (root / "anim.gif").write_bytes(image_bytes("GIF", color=(10, 200, 30)))
    (root / "broken.gif").write_bytes(image_bytes("GIF"))
    old = save_001_index(emulator.url, root, tmp_path / "old.idx")
    sorted(find_images(root))[0].unlink()
    (root / "broken.gif").write_bytes(truncated(image_bytes("GIF"), 0.3))
    return old


def _dry_run(emulator, old, out, *extra):
    return main(["migrate", str(old), "--out", str(out), "--api-endpoint", emulator.url, "--dimension", "768",
                 "--no-progress", "--dry-run", *map(str, extra)])


def test_a_dry_run_counts_prices_and_lists_what_would_fail_sending_and_writing_nothing(emulator, old_index, tmp_path,
                                                                                       capsys):
    emulator.reset_stats()
    code = _dry_run(emulator, old_index, tmp_path / "new.idx", "--rpm", 60)
    err = capsys.readouterr().err
    assert code == 0, err
    assert emulator.stats()["2xx"] == 0 and emulator.stats().get("4xx", 0) == 0  # nothing sent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "old.idx"]  # nothing written
    assert ("8 items: 0 already in the journal, 6 to embed, 1 would fail, 1 without a source; "
            "to re-encode as PNG: 1 GIF; at 60 requests per minute about 6 s") in err
    assert "cost estimate for 6 contents (gemini-embedding-2)" in err and "image" in err
    assert "would fail broken.gif: InvalidImageError" in err and "no source file for a/img_0000.jpg" in err
    assert "nothing was sent or written" in err


def test_after_a_partial_run_the_plan_counts_only_what_is_left(emulator, old_index, tmp_path, monkeypatch):
    gemini = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None, concurrency=1)
    real, calls = type(gemini)._predict, {"n": 0}

    def stop_after_two(self, request):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, request)

    monkeypatch.setattr(type(gemini), "_predict", stop_after_two)
    assert migrate_index(old_index, tmp_path / "new.idx", gemini, dimension=768).interrupted
    monkeypatch.setattr(type(gemini), "_predict", real)
    journal = tmp_path / "new.idx.journal.jsonl"
    before = journal.read_bytes()
    plan = plan_migration(old_index, tmp_path / "new.idx", gemini, dimension=768)
    gemini.close()
    assert (plan.items, plan.already_done, plan.to_send, len(plan.failures), len(plan.missing_source)) == (8, 2, 4, 1, 1)
    assert plan.estimate.contents == 4 and plan.estimate.usd(batch=False) > 0
    assert journal.read_bytes() == before


def test_a_dry_run_checks_out_like_the_run(emulator, old_index, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something.txt").write_text("not an index")
    assert _dry_run(emulator, old_index, tmp_path / "taken") == 2
    assert "is not this migration's output" in capsys.readouterr().err


@pytest.mark.parametrize(("to_send", "rpm", "says"), [(6, 60, "6 s"), (600, 120, "5 min"), (100_000, 600, "2.8 h")])
def test_the_plan_says_how_long_at_the_rate(to_send, rpm, says):
    from vertex_mm.migrate import MigrationPlan

    assert MigrationPlan("s", items=to_send, to_send=to_send).summary(rpm).endswith(f"about {says}")
    assert "requests per minute" not in MigrationPlan("s", items=to_send, to_send=to_send).summary(None)
