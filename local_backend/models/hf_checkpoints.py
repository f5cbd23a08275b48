"""Find Hugging Face checkpoints on local disk, and say how to get them when they are missing.

Nothing here touches the network. A checkpoint is either

* a **folder** (what ``save_pretrained`` or ``huggingface-cli download REPO --local-dir DIR``
  writes): ``config.json`` plus weights (``model.safetensors``, ``pytorch_model.bin`` or a
  sharded index), usually ``preprocessor_config.json`` and tokenizer files; or
* a **repo id** such as ``openai/clip-vit-base-patch32``, looked up in the local Hugging Face
  cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``), in its
  ``models--ORG--NAME/snapshots/REVISION/`` layout. The revision ``refs/main`` points to is
  preferred; otherwise the most recently written snapshot.

Every loader in the local backend goes through :func:`resolve_checkpoint`, so a missing
checkpoint always fails the same way: a :class:`~vertex_mm.errors.WeightsNotFoundError` that
names every place looked in and the commands that fetch the weights on a machine with network.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from vertex_mm.errors import InputError, WeightsNotFoundError

__all__ = [
    "WEIGHT_FILES",
    "Checkpoint",
    "hash_file_ends",
    "hf_cache_dir",
    "resolve_checkpoint",
]

# Any one of these next to config.json means the folder holds weights.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

_END_BYTES = 1 << 20


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...


def hash_file_ends(h: _Hash, file: pathlib.Path, name: str) -> None:
    """Feed ``name``, the file's size and its first and last MiB to ``h``: enough to tell two
    checkpoints apart without reading gigabytes on every load (fingerprints of the weights)."""
    size = file.stat().st_size
    h.update(f"{name}:{size}".encode())
    with open(file, "rb") as f:
        h.update(f.read(_END_BYTES))
        f.seek(max(0, size - _END_BYTES))
        h.update(f.read(_END_BYTES))


# Any one of these is enough for AutoTokenizer to build the tokenizer offline.
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model")


@dataclass(frozen=True)
class Checkpoint:
    """A validated local checkpoint folder and what its ``config.json`` says."""

    path: pathlib.Path
    config: dict[str, Any]
    source: str  # what the caller passed (folder or repo id), for messages

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    @property
    def has_preprocessor_config(self) -> bool:
        return (self.path / "preprocessor_config.json").is_file()

    @property
    def has_tokenizer(self) -> bool:
        return any((self.path / name).is_file() for name in TOKENIZER_FILES)

    def read_json(self, name: str) -> dict[str, Any]:
        """A JSON file of the checkpoint; ``{}`` when absent."""
        file = self.path / name
        if not file.is_file():
            return {}
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}: not valid JSON ({exc}); the checkpoint is damaged", input_name=str(file)) from exc


def hf_cache_dir(environ: dict[str, str] | None = None) -> pathlib.Path:
    """The Hugging Face hub cache folder, from the environment as it is now (not at import)."""
    env = os.environ if environ is None else environ
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return pathlib.Path(env[var]).expanduser()
    if env.get("HF_HOME"):
        return pathlib.Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg).expanduser() if xdg else pathlib.Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text


def _cache_snapshots(repo_id: str, cache: pathlib.Path) -> list[pathlib.Path]:
    """Snapshot folders of ``repo_id`` in ``cache``, the preferred one first."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return []
    found = [p for p in snapshots.iterdir() if p.is_dir()]
    ref = repo_dir / "refs" / "main"
    main = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
    # refs/main first, then newest first: the revision a normal download would use.
    return sorted(found, key=lambda p: (p.name != main, -p.stat().st_mtime))


def _missing_weights_message(source: str, looked_in: Iterable[pathlib.Path], repo_id: str, model_name: str, why: str,
                             option: str = "checkpoint") -> str:
    places = "\n".join(f"  - {p}" for p in looked_in) or "  - (nowhere)"
    return (
        f"no usable {model_name} checkpoint for {source!r}: {why}.\n"
        f"Looked in:\n{places}\n"
        "Weights are never downloaded at run time. On a machine with network, run\n"
        f"  huggingface-cli download {repo_id} --local-dir DIR\n"
        "copy DIR here, then load it with\n"
        f'  get_embedder("local", model="{model_name}", {option}="DIR")\n'
        f"(or download into the Hugging Face cache, {hf_cache_dir()}, and pass {option}=\"{repo_id}\")."
    )


def _why_unusable(folder: pathlib.Path) -> str | None:
    if not folder.is_dir():
        return "the folder does not exist"
    if not (folder / "config.json").is_file():
        return "config.json is missing"
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return f"no weights file ({', '.join(WEIGHT_FILES)})"
    return None


def resolve_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    model_name: str,
    example_repo: str,
    model_types: Iterable[str] | None = None,
    need_tokenizer: bool = False,
    option: str = "checkpoint",
) -> Checkpoint:
    """Find and validate a checkpoint folder, offline.

    ``checkpoint`` is a folder or a repo id (looked up in the HF cache). ``model_name`` (the
    local registry name) and ``example_repo`` only shape the error message. ``model_types``
    restricts ``config.json``'s ``model_type``; ``need_tokenizer`` requires tokenizer files;
    ``option`` is the factory's keyword for the folder, for the message.

    Raises :class:`WeightsNotFoundError` when nothing usable is found, and
    :class:`~vertex_mm.errors.InputError` when the folder holds another kind of model.
    """
    text = os.fspath(checkpoint)
    folder = pathlib.Path(text).expanduser()
    looked_in = [folder]
    candidates = [folder]
    repo_id = example_repo
    if not folder.exists() and _looks_like_repo_id(text):
        repo_id = text
        cache = hf_cache_dir()
        snapshots = _cache_snapshots(text, cache)
        candidates = snapshots
        looked_in = snapshots or [cache / ("models--" + text.replace("/", "--")) / "snapshots"]
    why = "the folder does not exist"
    for candidate in candidates:
        why = _why_unusable(candidate) or ""
        if not why:
            return _validated(candidate, text, model_name, model_types, need_tokenizer)
    raise WeightsNotFoundError(_missing_weights_message(text, looked_in, repo_id, model_name, why, option))


def _validated(
    folder: pathlib.Path, source: str, model_name: str, model_types: Iterable[str] | None, need_tokenizer: bool
) -> Checkpoint:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{folder / 'config.json'}: not valid JSON ({exc})", input_name="checkpoint") from exc
    ckpt = Checkpoint(folder.resolve(), config, source)
    allowed = sorted(model_types) if model_types is not None else None
    if allowed is not None and ckpt.model_type not in allowed:
        raise InputError(
            f"{folder} holds a {ckpt.model_type or 'untyped'!r} model, but local model {model_name!r} "
            f"loads {', '.join(allowed)} checkpoints",
            input_name="checkpoint",
        )
    if need_tokenizer and not ckpt.has_tokenizer:
        raise WeightsNotFoundError(
            f"{folder} has weights but no tokenizer files ({', '.join(TOKENIZER_FILES)}); "
            f"download the whole repository (huggingface-cli download REPO --local-dir {folder})"
        )
    return ckpt
