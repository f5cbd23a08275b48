"""Named local models, open_clip style: one JSON file per model in ``model_configs/``.

>>> from local_backend.models.registry import list_models, create_model
>>> list_models()                                   # doctest: +SKIP
['conse-effnet-minilm', 'default', 'efficientnet-lite0', 'minilm-l6', ...]
>>> model = create_model("efficientnet-lite0")      # doctest: +SKIP

A config names a factory (``"package.module:callable"``) that is imported only when the model
is created, so listing models never imports torch. Add your own with
:func:`register_model_config` (a JSON file, a folder of them, or a dict).

A config read from a JSON file may only name a factory in an allowed package: ``local_backend``
itself, the packages named in ``VERTEX_MM_FACTORY_MODULES`` (comma-separated), and those given
to :func:`allow_factory_modules`. A file cannot make vertex-mm call an arbitrary function
(``"os:system"``). Configs registered as dicts come from code and are not restricted.

A config of ``"kind": "pages"`` is a multi-vector page embedder (``regions``,
``colpali-engine``): :func:`create_page_embedder` builds it for page search, and
``get_embedder("local", model=...)`` refuses it.

``device`` is an override like any other (``create_model("efficientnet-lite0", device="cuda")``).
The built-in factories take it; for a factory that does not, ``device`` is dropped, with a
:class:`~local_backend.device.DeviceFallbackWarning` unless it named the CPU.
"""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from vertex_mm.errors import InputError

from ..device import DeviceFallbackWarning
from .base import KIND_ATTRIBUTES, LocalModel, ModelConfig
from .hf_checkpoints import WEIGHT_FILES

# What identifies a checkpoint folder's contents, for the shared-model cache.
_CHECKPOINT_FILES = ("config.json", *WEIGHT_FILES)

__all__ = [
    "CONFIG_DIR",
    "allow_factory_modules",
    "create_model",
    "create_page_embedder",
    "get_model_config",
    "get_shared_model",
    "list_models",
    "model_takes_device",
    "register_model_config",
]

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "model_configs"

_lock = threading.RLock()
_configs: dict[str, ModelConfig] = {}
_aliases: dict[str, str] = {}
_scanned = False
# (name, options) -> (identity of the files the options name, model): one model per option set.
_shared: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], LocalModel]] = {}
_allowed_factories: set[str] = {"local_backend"}


def _add(config: ModelConfig | tuple[str, str]) -> str:
    if isinstance(config, tuple):  # (alias, target)
        _aliases[config[0]] = config[1]
        return config[0]
    _configs[config.name] = config
    _aliases.pop(config.name, None)
    return config.name


def _parse(data: Any, source: str) -> ModelConfig | tuple[str, str]:
    if isinstance(data, Mapping) and "alias_of" in data:
        if not isinstance(data.get("name"), str) or not isinstance(data["alias_of"], str):
            raise ValueError(f"{source}: an alias needs string 'name' and 'alias_of'")
        return (data["name"], data["alias_of"])
    return ModelConfig.from_dict(data, source=source)


def allow_factory_modules(*packages: str) -> None:
    """Let config files name factories in ``packages`` (and their submodules)."""
    for package in packages:
        if not isinstance(package, str) or not package.strip(". "):
            raise InputError(f"a factory package must be a dotted module name, got {package!r}", input_name="packages")
        _allowed_factories.add(package.strip())


def _factory_allowed(factory: str) -> bool:
    module = factory.partition(":")[0]
    extra = {p.strip() for p in os.environ.get("VERTEX_MM_FACTORY_MODULES", "").split(",") if p.strip()}
    return any(module == p or module.startswith(p + ".") for p in _allowed_factories | extra)


def _load_file(path: pathlib.Path) -> ModelConfig | tuple[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    config = _parse(data, str(path))
    if isinstance(config, ModelConfig) and not _factory_allowed(config.factory):
        raise InputError(
            f"{path}: factory {config.factory!r} is not in an allowed package (local_backend, "
            "VERTEX_MM_FACTORY_MODULES, allow_factory_modules()); a config file cannot name any function",
            input_name=str(path))
    return config


def _ensure_scanned() -> None:
    global _scanned
    if _scanned:
        return
    with _lock:
        if _scanned:
            return
        # Files sorted by name so that a clash resolves the same way everywhere.
        for path in sorted(CONFIG_DIR.glob("*.json")):
            _add(_load_file(path))
        extra = os.environ.get("VERTEX_MM_MODEL_CONFIGS")
        if extra:
            for part in extra.split(os.pathsep):
                if part:
                    _register_path(pathlib.Path(part))
        _scanned = True


def _register_path(path: pathlib.Path) -> list[str]:
    if path.is_dir():
        configs = [_load_file(p) for p in sorted(path.glob("*.json"))]
    elif path.is_file():
        configs = [_load_file(path)]
    else:
        raise FileNotFoundError(f"model config {path} does not exist")
    return [_add(c) for c in configs]


def _resolve(name: str) -> str:
    _ensure_scanned()
    if name in _configs:
        return name
    if name in _aliases and _aliases[name] in _configs:
        return _aliases[name]
    raise InputError(f"unknown local model {name!r}; known: {', '.join(list_models())}", input_name="model")


def list_models() -> list[str]:
    """Every model name and alias, sorted."""
    _ensure_scanned()
    return sorted(set(_configs) | set(_aliases))


def get_model_config(name: str) -> dict[str, Any]:
    """The config of ``name`` (or an alias) as a dict; a deep copy, safe to edit."""
    return _configs[_resolve(name)].to_dict()


def register_model_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> list[str]:
    """Add configs from a JSON file, a folder of JSON files, or a dict; return their names.

    A config with the name of an existing one replaces it. The env var
    ``VERTEX_MM_MODEL_CONFIGS`` (paths joined by ``os.pathsep``) registers folders at first use.
    """
    _ensure_scanned()
    with _lock:
        if isinstance(source, Mapping):
            return [_add(_parse(source, "<dict>"))]
        return _register_path(pathlib.Path(source))


def _import_factory(config: ModelConfig) -> Any:
    module_name, _, attr = config.factory.partition(":")
    from vertex_mm._optional import require

    module = require("local", module_name, what=f"local model {config.name!r}")
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{config.source or config.name}: factory {config.factory!r} not found") from None


def model_takes_device(name: str) -> bool:
    """Whether the factory of model ``name`` has a ``device`` parameter (a plugin's may not)."""
    return _takes(_import_factory(_configs[_resolve(name)]), "device")


def create_model(name: str, **overrides: Any) -> LocalModel:
    """Build the model ``name``: its factory called with its params updated by ``overrides``.

    Each call builds a new model (weights loaded again); use :func:`get_shared_model` to reuse.
    """
    config = _configs[_resolve(name)]
    params = {**config.params, **overrides}
    factory = _import_factory(config)
    if "device" in params and not _takes(factory, "device"):
        device = params.pop("device")
        if str(device).strip().lower() != "cpu":
            warnings.warn(f"local model {config.name!r} ({config.factory}) takes no device argument; "
                          f"device={str(device)!r} ignored, it runs where its factory puts it (the CPU)",
                          DeviceFallbackWarning, stacklevel=2)
    _check_options(config, factory, params)
    model = factory(**params)
    missing = [a for a in KIND_ATTRIBUTES[config.kind] if not hasattr(model, a)]
    if missing:
        contract = "LocalModel" if config.kind == "embedding" else "MultiVectorEmbedder"
        raise TypeError(f"factory {config.factory} returned {type(model).__name__}, which lacks {missing} of {contract}")
    return model


def _check_options(config: ModelConfig, factory: Any, params: Mapping[str, Any]) -> None:
    """An :class:`InputError` naming the options the factory does not take (``dtype`` on ``clip``,
    a typo like ``chekpoint``) and those it does, instead of Python's TypeError about an internal
    function. A factory with ``**kwargs`` (or no signature) takes anything."""
    try:
        signature = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature):
        return
    takes = [p.name for p in signature if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    unknown = [k for k in params if k not in takes]
    if unknown:
        raise InputError(f"local model {config.name!r} takes no option {', '.join(map(repr, unknown))}; "
                         f"it takes: {', '.join(takes) or 'none'}", input_name=unknown[0])


def _takes(factory: Any, param: str) -> bool:
    """Whether ``factory`` accepts the keyword ``param`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return param in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _default_of(factory: Any, param: str) -> Any:
    try:
        p = inspect.signature(factory).parameters.get(param)
    except (TypeError, ValueError):
        return inspect.Parameter.empty
    return inspect.Parameter.empty if p is None else p.default


def model_kind(name: str) -> str:
    """``"embedding"`` or ``"pages"``: what the config ``name`` builds."""
    return _configs[_resolve(name)].kind


def require_kind(name: str, kind: str, *, use: str) -> None:
    """Raise :class:`InputError` when ``name`` is not a model of ``kind`` (``use`` says what
    the caller wanted it for)."""
    actual = model_kind(name)
    if actual != kind:
        of_kind = sorted(c.name for c in _configs.values() if c.kind == kind)
        raise InputError(f"local model {name!r} is a {actual!r} model; {use} needs a model of kind {kind!r}: "
                         f"{', '.join(of_kind)}", input_name=name)


def create_page_embedder(name: str, checkpoint: str | None = None, **overrides: Any) -> Any:
    """A multi-vector page embedder from a config of kind ``pages``; ``checkpoint`` is the local
    folder a checkpoint-based one loads (``colpali-engine``)."""
    require_kind(name, "pages", use="page search")
    if checkpoint is not None:
        overrides["checkpoint"] = checkpoint
    return create_model(name, **overrides)


def _files_identity(overrides: Mapping[str, Any]) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of the files the options point to: a heads file, or a checkpoint
    folder's config and weights. Retraining heads to the same path (or saving a checkpoint over
    its folder) kept the old model under the same option string for the rest of the process."""
    out: list[tuple[str, int, int]] = []
    for value in overrides.values():
        if not isinstance(value, (str, os.PathLike)):
            continue
        try:
            path = pathlib.Path(value).expanduser()
            files = [path] if path.is_file() else [path / n for n in _CHECKPOINT_FILES] if path.is_dir() else []
            for file in files:
                if file.is_file():
                    st = file.stat()
                    out.append((str(file), st.st_mtime_ns, st.st_size))
        except (OSError, ValueError):  # not a path at all (a device name, a repo id)
            continue
    return tuple(out)


def get_shared_model(name: str, **overrides: Any) -> LocalModel:
    """Like :func:`create_model`, but one instance per (name, overrides, the files they name) per
    process: a heads file or checkpoint rewritten in place gives a new model.

    Local models are read-only after loading, so embedders (and emulator workers) share them
    instead of holding several copies of the weights.
    """
    config = _configs[_resolve(name)]
    if "device" in overrides:
        # device="cpu" where the factory's default is the CPU is the same model as no device:
        # one shared instance, not two copies of the weights.
        factory = _import_factory(config)
        device = str(overrides["device"])
        if device == _default_of(factory, "device") or (device == "cpu" and not _takes(factory, "device")):
            overrides = {k: v for k, v in overrides.items() if k != "device"}
    key = (config.name, json.dumps(overrides, sort_keys=True, default=str))
    files = _files_identity(overrides)
    with _lock:
        cached = _shared.get(key)
        if cached is None or cached[0] != files:  # new, or its files were rewritten: the old model goes
            cached = _shared[key] = (files, create_model(key[0], **overrides))
        return cached[1]
