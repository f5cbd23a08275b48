"""Finding checkpoints offline: folders, the Hugging Face cache layout, and the errors that say
where we looked and how to get the weights. No torch needed: these are files and JSON."""

from __future__ import annotations

import json
import os
import time

import pytest

from local_backend.models.hf_checkpoints import hf_cache_dir, resolve_checkpoint
from vertex_mm.errors import InputError, WeightsNotFoundError

ARGS = dict(model_name="clip", example_repo="openai/clip-vit-base-patch32")


def _folder(path, model_type="clip", weights="model.safetensors", tokenizer=True):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    if weights:
        (path / weights).write_bytes(b"\0" * 16)
    if tokenizer:
        (path / "tokenizer.json").write_text("{}")
    return path


def _snapshot(cache, repo, revision, **kw):
    return _folder(cache / ("models--" + repo.replace("/", "--")) / "snapshots" / revision, **kw)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf" / "hub"


def test_a_complete_folder_resolves_with_its_config(tmp_path):
    folder = _folder(tmp_path / "ckpt")
    ckpt = resolve_checkpoint(folder, **ARGS, model_types=["clip"])
    assert ckpt.path == folder.resolve() and ckpt.model_type == "clip" and ckpt.has_tokenizer


def test_sharded_weights_count_as_weights(tmp_path):
    folder = _folder(tmp_path / "ckpt", weights="model.safetensors.index.json")
    assert resolve_checkpoint(folder, **ARGS).path == folder.resolve()


def test_missing_folder_error_names_folder_and_download_command(tmp_path):
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_checkpoint(tmp_path / "nothing-here", **ARGS)
    text = str(info.value)
    assert str(tmp_path / "nothing-here") in text and "does not exist" in text
    assert "huggingface-cli download openai/clip-vit-base-patch32 --local-dir DIR" in text
    assert isinstance(info.value, FileNotFoundError)  # catchable the builtin way too


def test_folder_without_weights_is_refused_with_the_reason(tmp_path):
    folder = _folder(tmp_path / "ckpt", weights=None)
    with pytest.raises(WeightsNotFoundError, match="no weights file"):
        resolve_checkpoint(folder, **ARGS)


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(WeightsNotFoundError, match="config.json is missing"):
        resolve_checkpoint(tmp_path / "ckpt", **ARGS)


def test_another_kind_of_model_is_an_input_error(tmp_path):
    folder = _folder(tmp_path / "ckpt", model_type="bert")
    with pytest.raises(InputError, match="holds a 'bert' model.*loads clip"):
        resolve_checkpoint(folder, **ARGS, model_types=["clip"])


def test_damaged_config_json_is_an_input_error(tmp_path):
    folder = _folder(tmp_path / "ckpt")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        resolve_checkpoint(folder, **ARGS)


def test_tokenizer_required_for_joint_models(tmp_path):
    folder = _folder(tmp_path / "ckpt", tokenizer=False)
    with pytest.raises(WeightsNotFoundError, match="no tokenizer files"):
        resolve_checkpoint(folder, **ARGS, need_tokenizer=True)


def test_repo_id_is_found_in_the_hf_cache(cache):
    snap = _snapshot(cache, "openai/clip-vit-base-patch32", "abc123")
    assert resolve_checkpoint("openai/clip-vit-base-patch32", **ARGS).path == snap.resolve()


def test_the_revision_refs_main_names_wins_over_a_newer_snapshot(cache):
    pinned = _snapshot(cache, "org/model", "aaa")
    newer = _snapshot(cache, "org/model", "bbb")
    os.utime(newer, (time.time() + 100, time.time() + 100))
    refs = cache / "models--org--model" / "refs"
    refs.mkdir()
    (refs / "main").write_text("aaa\n")
    assert resolve_checkpoint("org/model", **ARGS).path == pinned.resolve()


def test_without_refs_the_newest_complete_snapshot_is_used(cache):
    old = _snapshot(cache, "org/model", "old")
    os.utime(old, (time.time() - 100, time.time() - 100))
    new = _snapshot(cache, "org/model", "new")
    _snapshot(cache, "org/model", "broken", weights=None)  # an interrupted download is skipped
    assert resolve_checkpoint("org/model", **ARGS).path == new.resolve()


def test_repo_id_missing_from_cache_names_the_cache_path(cache):
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_checkpoint("org/absent", **ARGS)
    text = str(info.value)
    assert str(cache / "models--org--absent" / "snapshots") in text
    assert "huggingface-cli download org/absent --local-dir DIR" in text


def test_an_existing_folder_wins_over_a_repo_id_of_the_same_name(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _folder(tmp_path / "org" / "model")
    _snapshot(cache, "org/model", "rev")
    assert resolve_checkpoint("org/model", **ARGS).path == (tmp_path / "org" / "model").resolve()


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"HF_HUB_CACHE": "/a/hub", "HF_HOME": "/b"}, "/a/hub"),
        ({"HUGGINGFACE_HUB_CACHE": "/c"}, "/c"),
        ({"HF_HOME": "/b"}, "/b/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
    ],
)
def test_cache_dir_follows_the_hugging_face_environment_variables(env, expected):
    assert str(hf_cache_dir(env)) == expected


def test_cache_dir_defaults_to_the_home_cache():
    assert str(hf_cache_dir({})).endswith(os.path.join(".cache", "huggingface", "hub"))


def test_two_sharded_fine_tunes_of_one_architecture_get_different_fingerprints(tmp_path):
    # Their config.json and shard index are the same word for word; only the shards differ. The
    # fingerprint hashed the index alone, so CLIP/SigLIP/ViT fine-tunes shared one embedding space.
    pytest.importorskip("torch")
    from local_backend.models.vit import checkpoint_fingerprint

    index = json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
    prints = []
    for run, fill in (("run1", b"\1"), ("run2", b"\2")):
        folder = _folder(tmp_path / run, weights=None)
        (folder / "model.safetensors.index.json").write_text(index)
        for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
            (folder / shard).write_bytes(fill * 4096)
        prints.append(checkpoint_fingerprint(resolve_checkpoint(folder, **ARGS)))
    assert prints[0] != prints[1]
    (tmp_path / "run2" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match="shard model-00002-of-00002.safetensors listed in "
                                                    "model.safetensors.index.json is missing"):
        checkpoint_fingerprint(resolve_checkpoint(tmp_path / "run2", **ARGS))
