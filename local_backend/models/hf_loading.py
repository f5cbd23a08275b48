"""Load the parts of a local Hugging Face checkpoint (weights, tokenizer, processor) so that a
damaged or mismatched folder fails as :class:`~vertex_mm.errors.WeightsNotFoundError`.

Weights reach an offline machine by copying a download; an interrupted copy leaves a truncated
``model.safetensors`` or ``tokenizer.json``, and transformers then raises whatever its parser
raises (``SafetensorError``, ``JSONDecodeError``, ``KeyError``, ``OSError``), naming neither the
folder nor the way to get the files again. Every HF loader in the local backend goes through
:func:`load_part` and :func:`check_loading_info`, so all of them fail one way, which
``except VertexMMError`` and the CLI's one-line error handling catch.
"""

from __future__ import annotations

import pathlib
import pickle
from collections.abc import Callable
from typing import Any, TypeVar

from vertex_mm.errors import VertexMMError, WeightsNotFoundError

from .hf_checkpoints import Checkpoint
from .quiet_loading import quiet_weight_loading

__all__ = ["check_loading_info", "download_line", "load_part"]

T = TypeVar("T")


def _damage_types() -> tuple[type[BaseException], ...]:
    # What a truncated, empty or garbled file makes transformers / safetensors / tokenizers raise.
    # Not Exception as a whole: a TypeError from a bug of ours must not read as a bad download.
    # ImportError (a missing optional package) is no damage either, and VertexMMError is already typed.
    found: list[type[BaseException]] = [OSError, ValueError, RuntimeError, KeyError, EOFError, pickle.UnpicklingError]
    try:
        from safetensors import SafetensorError

        found.append(SafetensorError)
    except ImportError:  # pragma: no cover - safetensors comes with transformers
        pass
    return tuple(found)


def download_line(ckpt: Checkpoint, example_repo: str) -> str:
    """The command that fetches the checkpoint again: its own repo id when it was given as one."""
    source = ckpt.source
    parts = source.split("/")
    is_repo_id = len(parts) == 2 and all(parts) and not pathlib.Path(source).expanduser().exists()
    return f"huggingface-cli download {source if is_repo_id else example_repo} --local-dir DIR"


def _get_again(ckpt: Checkpoint, example_repo: str) -> str:
    return (f"Weights are never downloaded at run time: on a machine with network run "
            f"`{download_line(ckpt, example_repo)}` and copy DIR over {ckpt.path}.")


def load_part(ckpt: Checkpoint, load: Callable[[str], T], *, what: str, example_repo: str) -> T:
    """``load(folder)`` (a transformers ``from_pretrained``), without its progress bar; a file it
    cannot parse becomes a :class:`WeightsNotFoundError` naming the folder, ``what`` was being
    loaded ("weights", "tokenizer", ...) and how to download it again. The original error is
    chained (``__cause__``)."""
    try:
        with quiet_weight_loading():
            return load(str(ckpt.path))
    except (ImportError, VertexMMError, MemoryError):
        raise
    except _damage_types() as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise WeightsNotFoundError(
            f"{ckpt.path}: the checkpoint's {what} cannot be loaded; its files are damaged, incomplete or of "
            f"another model ({detail}). {_get_again(ckpt, example_repo)}"
        ) from exc


def check_loading_info(ckpt: Checkpoint, info: dict[str, Any], *, example_repo: str) -> None:
    """Refuse weights that do not fit ``config.json`` (``output_loading_info=True``'s report).

    transformers fills missing tensors with random values and only logs it, so a folder of another
    model gave vectors that change on every load under one space id. A ViT classification
    checkpoint has no pooler: that is fine unless the head is used, which ViTImageModel checks.
    """
    missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
    if missing or info.get("mismatched_keys"):
        raise WeightsNotFoundError(
            f"{ckpt.path}: weights do not match config.json (missing {sorted(missing)[:5]}, "
            f"mismatched {list(info.get('mismatched_keys', []))[:5]}); the checkpoint is incomplete or damaged, or "
            f"holds another model. {_get_again(ckpt, example_repo)}"
        )
