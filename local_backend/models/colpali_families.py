"""The ColPali family table: which transformers classes load which checkpoint, and how to tell.

Three families of late-interaction page retrievers ship in transformers (5.x) as native
classes, with no colpali-engine and no torchvision (their image processors run on PIL):

* ``colpali``: ``ColPaliForRetrieval`` + ``ColPaliProcessor``. PaliGemma-3B (SigLIP at 448 px
  + Gemma-2B): 1024 patch vectors + 6 prompt vectors per page. ``vidore/colpali-v1.3-hf``.
* ``colqwen2``: ``ColQwen2ForRetrieval`` + ``ColQwen2Processor``. Qwen2-VL-2B: one vector per
  28x28 px at the page's own aspect ratio (capped, see :func:`cap_visual_tokens`).
  ``vidore/colqwen2-v1.0-hf``.
* ``colmodernvbert``: ``ColModernVBertForRetrieval`` + ``ColModernVBertProcessor``. ModernBERT-150M
  + SigLIP2 (~250M params): 64 vectors per 512 px crop, up to 16 crops + 1 global view.
  ``ModernVBERT/colmodernvbert-merged``.

The same models also exist as colpali-engine checkpoints (``vidore/colqwen2-v1.0`` is a LoRA
adapter, ``vidore/colqwen2-v1.0-merged`` has ``model_type: qwen2_vl``); transformers' classes
cannot load those, and :func:`resolve_colpali_checkpoint` says which repository to fetch instead.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any

from vertex_mm.errors import InputError, WeightsNotFoundError

from .hf_checkpoints import Checkpoint, resolve_checkpoint
from .vit import checkpoint_fingerprint

__all__ = [
    "DEFAULT_MAX_VISUAL_TOKENS",
    "FAMILIES",
    "Family",
    "cap_visual_tokens",
    "family_named",
    "resolve_colpali_checkpoint",
    "weights_fingerprint",
]

# colpali-engine's ColQwen2Processor caps a page at 768 visual tokens (max_pixels = 768 * 28 * 28,
# min_pixels = 4 * 28 * 28), and ColQwen2 was trained that way. transformers' ColQwen2Processor
# keeps the hub's Qwen2-VL range instead (up to 12.8 Mpx: 2772 tokens for an A4 page at 150 dpi).
DEFAULT_MAX_VISUAL_TOKENS = 768


@dataclass(frozen=True)
class Family:
    """One ColPali family: its transformers classes and where its weights come from."""

    name: str
    model_class: str  # in the top-level ``transformers`` namespace
    processor_class: str
    model_type: str  # config.json "model_type" of a transformers-native checkpoint
    default_repo: str  # the released transformers-native checkpoint
    engine_model_types: tuple[str, ...]  # model_type of the same family's colpali-engine checkpoints
    description: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("colpali", "ColPaliForRetrieval", "ColPaliProcessor", "colpali", "vidore/colpali-v1.3-hf",
               ("paligemma",), "ColPali v1.3: PaliGemma-3B, 1024 patch vectors + 6 prompt vectors per page"),
        Family("colqwen2", "ColQwen2ForRetrieval", "ColQwen2Processor", "colqwen2", "vidore/colqwen2-v1.0-hf",
               ("qwen2_vl",), "ColQwen2 v1.0: Qwen2-VL-2B, one vector per 28x28 px, at most 768 per page by default"),
        Family("colmodernvbert", "ColModernVBertForRetrieval", "ColModernVBertProcessor", "colmodernvbert",
               "ModernVBERT/colmodernvbert-merged", ("modernvbert",),
               "ColModernVBert: ModernBERT + SigLIP2, ~250M params, 64 vectors per 512 px crop"),
    )
}


def family_named(name: str) -> Family:
    """The :class:`Family` called ``name``; :class:`~vertex_mm.errors.InputError` otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown ColPali family {name!r}; known: {', '.join(FAMILIES)}", input_name="family") from None


def _family_of(ckpt: Checkpoint) -> Family:
    for family in FAMILIES.values():
        if ckpt.model_type == family.model_type:
            return family
    for family in FAMILIES.values():
        if ckpt.model_type in family.engine_model_types:
            raise InputError(
                f"{ckpt.path} holds a {ckpt.model_type!r} model: a colpali-engine {family.name} checkpoint or its base "
                f"VLM, which transformers' {family.model_class} cannot load. Use the transformers-native checkpoint: "
                f"huggingface-cli download {family.default_repo} --local-dir DIR",
                input_name="checkpoint",
            )
    raise InputError(
        f"{ckpt.path} holds a {ckpt.model_type or 'untyped'!r} model, not a ColPali-family retriever "
        f"(model_type one of {', '.join(f.model_type for f in FAMILIES.values())})",
        input_name="checkpoint",
    )


def _pages_hint(family: Family) -> str:
    name = family.name
    return f"  vertex-mm pages index DOCS --embedder {name}:DIR   (or create_{name}(checkpoint=\"DIR\"))\n"


def resolve_colpali_checkpoint(
    checkpoint: str | os.PathLike[str], family: str | None = None, *, hint_family: str = "colqwen2"
) -> tuple[Checkpoint, Family]:
    """Find a ColPali-family checkpoint offline (folder or repo id in the HF cache) and its family.

    ``family`` (a key of :data:`FAMILIES`) must then match ``config.json``; without it the family
    comes from ``config.json``'s ``model_type``. Raises
    :class:`~vertex_mm.errors.WeightsNotFoundError` (where it looked, the download command) when
    nothing usable is there, and :class:`~vertex_mm.errors.InputError` for another kind of model.
    ``hint_family`` names the family whose download command the error shows when ``family`` is
    ``None`` (the spec ``colpali:DIR`` accepts any family but suggests ColPali's own weights).
    """
    wanted = family_named(family) if family is not None else None
    hinted = wanted or family_named(hint_family)
    folder = pathlib.Path(os.fspath(checkpoint)).expanduser()
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        repo = hinted.default_repo
        raise WeightsNotFoundError(
            f"{folder} holds a LoRA adapter (adapter_config.json), the colpali-engine format; transformers' "
            f"classes need merged transformers-native weights: huggingface-cli download {repo} --local-dir DIR"
        )
    name = hinted.name
    repo = hinted.default_repo
    try:
        ckpt = resolve_checkpoint(checkpoint, model_name=name, example_repo=repo, need_tokenizer=True)
    except WeightsNotFoundError as exc:
        # resolve_checkpoint's message ends with the get_embedder() call that loads an image/text
        # model; a page retriever is loaded by the pages CLI or the factory instead.
        image_text_hint = f'  get_embedder("local", model="{name}", checkpoint="DIR")\n'
        raise WeightsNotFoundError(str(exc).replace(image_text_hint, _pages_hint(hinted))) from exc
    found = _family_of(ckpt)
    if wanted is not None and found is not wanted:
        raise InputError(
            f"{ckpt.path} holds a {found.name} checkpoint (model_type {ckpt.model_type!r}), not {wanted.name}; "
            f"load it with family={found.name!r}",
            input_name="checkpoint",
        )
    return ckpt, found


def cap_visual_tokens(family: Family, processor: Any, max_visual_tokens: int | None) -> int | None:
    """Lower a ColQwen2 processor's pixel budget to ``max_visual_tokens`` per page; return the cap in force.

    Qwen2-VL emits one visual token per ``(patch_size * merge_size)**2`` pixels (28x28 for the real
    model), so the cap is ``longest_edge = max_visual_tokens * 28 * 28`` pixels, the way
    colpali-engine sets ``max_pixels``. The cap only ever lowers the checkpoint's own budget. ColPali
    (fixed 1024 patches) and ColModernVBert (at most 17 crops of 64 tokens) have no dynamic budget:
    for them this does nothing and returns ``None``. ``None`` keeps the checkpoint's setting.
    """
    if family.name != "colqwen2" or max_visual_tokens is None:
        return None
    if isinstance(max_visual_tokens, bool) or not isinstance(max_visual_tokens, int) or max_visual_tokens < 4:
        raise InputError(f"max_visual_tokens must be an int >= 4 or None, got {max_visual_tokens!r}",
                         input_name="max_visual_tokens")
    images = processor.image_processor
    pixels_per_token = (int(images.patch_size) * int(images.merge_size)) ** 2
    size = dict(images.size)  # a dict or transformers' SizeDict (whose dict() drops unset keys)
    cap = max_visual_tokens * pixels_per_token
    if int(size.get("longest_edge", cap + 1)) > cap:
        size["longest_edge"] = cap
        size["shortest_edge"] = min(int(size.get("shortest_edge", cap)), cap)
        images.size = type(images.size)(**size)
    return int(size["longest_edge"]) // pixels_per_token


def weights_fingerprint(ckpt: Checkpoint) -> str:
    """A short id of the checkpoint's weights, for the embedding space: every shard's bytes
    count (:func:`~local_backend.models.vit.checkpoint_fingerprint`, which every local
    checkpoint loader shares; ColPali's spaces are named as before)."""
    return checkpoint_fingerprint(ckpt)
