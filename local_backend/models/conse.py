"""The offline joint image-text model: ConSE over EfficientNet-Lite0 and all-MiniLM-L6-v2.

ConSE (Norouzi et al., 2014, "Zero-Shot Learning by Convex Combination of Semantic
Embeddings") puts images into a text embedding space without any joint training:

* text  -> its MiniLM embedding (384-d, L2-normalised);
* image -> the CNN's top-k ImageNet classes, their softmax probabilities at temperature T
  renormalised to sum to one, and the L2-normalised probability-weighted mean of those
  classes' text vectors.

The default ``k = 20, T = 2`` was calibrated on the dev split of the project's held-out photo
set (``vertex-mm eval-data build photos``): the CNN's softmax is over-confident on photos
outside ImageNet, and flattening it over more classes raised dev text->image R@5 from 0.504
(k = 10, T = 1) to 0.590 and near-duplicate R@1 from 0.82 to 0.89; the test split, run once
after that choice, went from 0.544 to 0.618 and from 0.89 to 0.95. Symmetric ConSE (the text
also mapped onto the classes, ``text_mix``), WordNet hypernyms of the class names, 7 x 7
region evidence and other crops changed dev R@5 by less than its standard error (0.03) and
are not in the default; ``vertex-mm eval-images --split dev --ablations`` re-measures them.

Each class's text vector is the normalised mean of MiniLM embeddings of prompts ("a photo of
a {}.", ...) over its name, its first WordNet synonyms and, for breeds and species, "a {}, a
type of dog." and the like. The 1000 x 384 class matrix is computed once and cached on disk
(:func:`vertex_mm._paths.cache_dir`), keyed by a hash of the text weights,
the prompts and the class names.

Near-duplicates: the CNN-detail block (``detail_weight = w``, 0.9 in the default). ConSE squeezes
a photo through 1000 class scores, so two photos of the same kind of thing look alike to it
(dev near-duplicate R@1 0.885). The default therefore joins it with the CNN's own features:

* image -> ``[sqrt(1 - w^2) * ConSE ; w * unit(sqrt(pooled))]``, the pooled 1280-d
  EfficientNet-Lite0 features after a signed square root (power normalisation);
* text  -> ``[text ; 0]``.

Text -> image cosine is the ConSE cosine times the constant ``sqrt(1 - w^2)`` (0.44), so text
rankings are ConSE's; image <-> image similarity is ``(1 - w^2) ConSE + w^2 CNN``. Native vectors
are 1664-d; :func:`local_backend.projection.detail_projection` maps them to each Vertex
dimension block by block: the ConSE block whole (1408) or on the leading right singular vectors
of the class text matrix (uncentred PCA: centring, the generic rule, shifts every text by the
class mean and cost 0.12 of dev text R@5), the CNN block on the principal axes of the
classifier's centred weight rows, whitened (each axis divided by its singular value, at least
the 128th). Nothing is fitted on photos. Measured on the dev split (``vertex-mm eval-images
--split dev --ablations``; 119 photos, 256 text queries, 714 near-duplicates):

=========  =============  ===================  ============================  ===========
dimension  layout         near-dup R@1         text R@5 (R@1)                top-5 same
=========  =============  ===================  ============================  ===========
1408       384 + 1024 *   0.885 -> **0.983**   0.590 (0.332), unchanged      100 %
512        320 + 192      0.885 -> **0.983**   0.590 -> 0.586 (0.332)        98.4 %
256        128 + 128      0.892 -> **0.976**   0.473 -> **0.586** (0.328)    (new rule)
128        64 + 64        0.889 -> **0.948**   0.480 -> **0.582** (0.324)    (new rule)
=========  =============  ===================  ============================  ===========

(* the classifier's 1000 centred rows span 999 axes: the last 25 CNN columns are zero.) "Top-5
same": share of text queries whose top 5 photos are the same set as in the previous space. At
512 a layout of 384 + 128 would keep text rankings exactly but reached only 0.976; at 256 and
128 the previous space was a centred PCA of ConSE alone, and the new one is better for text too.
The test split, run once after this was frozen (193 photos, 408 queries, 1158 near-duplicates):
near-duplicate R@1 0.952 -> 1.000 at 1408, 0.999 at 512 and 256, 0.997 at 128; text R@5 0.618
at 1408 (unchanged), 0.615 at 512, 0.605 at 256, 0.588 at 128. The shipped photos keep text
R@5 0.865 and near-duplicate R@1 1.000 at 1408. Regions
(``encode_image_regions``) carry the same two blocks; the ``regions`` page embedder is built with
``detail_weight = 0`` and stays in the 384-d ConSE space.

What it knows: the 1000 ImageNet-1k concepts (animals, everyday objects, foods, vehicles, a
few scenes) and nothing else. It cannot read text in images (no OCR), tell people or products
apart (no fine-grained identity), or place abstract ideas ("freedom", "a sad mood"). Use it
to develop and test pipelines offline, not to judge retrieval quality.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from vertex_mm._paths import cache_dir, write_cache_file

from .base import l2_normalize

__all__ = ["ConSEModel", "TEMPLATES", "class_prompts", "conse_variants", "create_conse", "load_imagenet_classes"]

DATA_FILE = pathlib.Path(__file__).resolve().parent.parent / "data" / "imagenet_classes.json"

# A short ensemble in the spirit of CLIP's ImageNet prompts. MiniLM gains little from more,
# and each template costs 1000-2000 text encodings the first time the matrix is built.
TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a close-up photo of a {}.",
    "{}",
)
KIND_TEMPLATE = "a photo of a {}, a type of {}."
MAX_SYNONYMS = 1  # WordNet lemmas past the first are mostly Latin binomials or rare spellings.
_CACHE_VERSION = "1"
SYM_K, SYM_TEMPERATURE = 10, 0.05  # symmetric ConSE's text side (best of a small dev grid)
#: Images per CNN pass in encode_image_regions (its activations, not its speed, set the size).
REGION_CHUNK = 16


@lru_cache(maxsize=1)
def load_imagenet_classes() -> dict[str, Any]:
    """The packaged class data: ``classes`` (1000 x {name, wordnet}) and ``kinds``."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    if len(data["classes"]) != 1000:
        raise ValueError(f"{DATA_FILE}: expected 1000 classes, found {len(data['classes'])}")
    return data


def class_names() -> list[str]:
    """The 1000 plain English class names, in model output order."""
    return [c["name"] for c in load_imagenet_classes()["classes"]]


def _kind_of(index: int, kinds: dict[str, list[list[int]]]) -> str | None:
    for kind, ranges in kinds.items():
        if any(lo <= index <= hi for lo, hi in ranges):
            return kind
    return None


def class_prompts(index: int, templates: Sequence[str] = TEMPLATES) -> list[str]:
    """Every prompt whose embeddings are averaged into class ``index``'s text vector."""
    data = load_imagenet_classes()
    entry = data["classes"][index]
    names = [entry["name"]]
    for lemma in entry["wordnet"]:
        if len(names) > MAX_SYNONYMS:
            break
        if lemma.lower() not in {n.lower() for n in names}:
            names.append(lemma)
    prompts = [t.format(n) for n in names for t in templates]
    kind = _kind_of(index, data["kinds"])
    if kind:
        prompts += [KIND_TEMPLATE.format(n, kind) for n in names]
    return prompts


@lru_cache(maxsize=8)
def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _text_weights_id(text_model: Any) -> str:
    folder = getattr(text_model, "model_dir", None)
    files = sorted(pathlib.Path(folder).glob("*.safetensors")) if folder else []
    if not files:
        return f"{text_model.name}:{getattr(text_model, 'space_tag', '')}"
    return ",".join(_file_sha256(str(f)) for f in files) + f":{getattr(text_model, 'max_tokens', '')}"


def class_matrix(text_model: Any, templates: Sequence[str] = TEMPLATES, *, use_cache: bool = True) -> np.ndarray:
    """The (1000, text dim) matrix of class text vectors, from the disk cache when present."""
    prompts = [class_prompts(i, templates) for i in range(1000)]
    key = hashlib.sha256(
        json.dumps([_CACHE_VERSION, _text_weights_id(text_model), list(templates), prompts]).encode()
    ).hexdigest()[:20]
    path = cache_dir() / f"conse-classes-{key}.npy"
    if use_cache and path.is_file():
        try:
            mat = np.load(path)
            if mat.shape == (1000, text_model.native_dim):
                return mat
        except Exception:  # an empty, torn or foreign file (EOFError, ValueError, ...): recompute and overwrite
            pass
    flat = [p for ps in prompts for p in ps]
    vecs = text_model.encode_texts(flat)
    mat = np.empty((1000, vecs.shape[1]), np.float32)
    start = 0
    for i, ps in enumerate(prompts):
        mat[i] = vecs[start : start + len(ps)].mean(axis=0)
        start += len(ps)
    mat = l2_normalize(mat)
    if use_cache:
        _atomic_save(path, mat)
    return mat


def _atomic_save(path: pathlib.Path, arr: np.ndarray) -> None:
    try:
        write_cache_file(path, lambda f: np.save(f, arr))  # readers never see a half-written file
    except OSError:
        pass  # a read-only home only costs the recomputation next time


class ConSEModel:
    """Joint image-text :class:`~local_backend.models.base.LocalModel`: 384-d, or 384 + 1280 with
    the CNN-detail block (``detail_weight > 0``; see the module docstring)."""

    modalities = frozenset({"image", "text"})

    def __init__(self, image_model: Any, text_model: Any, *, top_k: int = 10, temperature: float = 1.0,
                 text_mix: float = 1.0, detail_weight: float = 0.0, templates: Sequence[str] = TEMPLATES,
                 name: str = "conse-effnet-minilm", use_cache: bool = True) -> None:
        if not 1 <= int(top_k) <= 1000:
            raise ValueError(f"top_k must be in 1..1000, got {top_k}")
        if not 0.05 <= float(temperature) <= 100:
            raise ValueError(f"temperature must be in 0.05..100, got {temperature}")
        if not 0.0 <= float(text_mix) <= 1.0:
            raise ValueError(f"text_mix must be in 0..1, got {text_mix}")
        if not 0.0 <= float(detail_weight) < 1.0:
            raise ValueError(f"detail_weight must be in [0, 1), got {detail_weight}")
        self.image_model = image_model
        self.text_model = text_model
        self.top_k = int(top_k)
        self.temperature = float(temperature)
        self.text_mix = float(text_mix)
        self.templates = tuple(templates)
        self.name = name
        self.detail_weight = float(detail_weight)
        self.joint_dim = int(text_model.native_dim)
        self.detail_dim = int(image_model.net.fc.in_features) if self.detail_weight else 0
        self.native_dim = self.joint_dim + self.detail_dim
        self.classes = class_matrix(text_model, self.templates, use_cache=use_cache)
        tag = f"k{self.top_k}"
        if self.temperature != 1.0:
            tag += f"T{self.temperature:g}".replace(".", "p")
        if self.text_mix != 1.0:
            tag += f"sym{self.text_mix:g}".replace(".", "p")
        if self.detail_weight:
            tag += f"nd{self.detail_weight:g}".replace(".", "p")
        if self.templates != TEMPLATES:
            tag += "-t" + hashlib.sha256(json.dumps(self.templates).encode()).hexdigest()[:6]
        text_tag = getattr(text_model, "space_tag", "")
        self.space_tag = f"{tag}-{text_tag}" if text_tag else tag
        self.draft_size = getattr(image_model, "draft_size", None)

    # -- images --------------------------------------------------------------------------------
    def prepare_image(self, img: Any) -> np.ndarray:
        return self.image_model.prepare_image(img)

    def combine(self, logits: np.ndarray) -> np.ndarray:
        """ConSE: (n, 1000) logits -> (n, dim) L2-normalised convex combinations of class vectors."""
        scores = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
        top_logits, top_idx = scores.topk(self.top_k, dim=-1)
        # Softmax over the top k equals the full softmax renormalised over the top k.
        weights = torch.softmax(top_logits / self.temperature, dim=-1).numpy()
        vecs = np.einsum("nk,nkd->nd", weights, self.classes[top_idx.numpy()])
        return l2_normalize(vecs)

    def with_detail(self, joint: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """``[sqrt(1 - w^2) joint ; w unit(sqrt(pooled))]`` (unit rows), or ``joint`` when w = 0."""
        if not self.detail_weight:
            return joint
        w = self.detail_weight
        detail = l2_normalize(np.sqrt(np.maximum(pooled, 0.0)))
        return np.concatenate([np.float32(np.sqrt(1.0 - w * w)) * joint, np.float32(w) * detail], axis=-1)

    def encode_prepared(self, batch: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        if not self.detail_weight:
            return self.combine(self.image_model.logits_prepared(batch))
        fn = getattr(self.image_model, "pooled_and_logits", None)
        pooled, logits = fn(batch) if fn is not None else pooled_and_logits(self.image_model, batch)
        return self.with_detail(self.combine(logits), pooled)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.native_dim), np.float32)
        return self.encode_prepared(self.image_model._prepare_all(images))

    def encode_image_regions(self, images: Sequence[Any]) -> list[np.ndarray]:
        """ConSE per cell of the CNN's 7 x 7 feature map: (49, dim) per image, ``REGION_CHUNK``
        images per CNN pass: a tall page is cut into hundreds of tiles, and all of a batch's
        tiles in one pass held ~15-27 MB of activations each (a 1280 x 20000 page: 2 GiB)."""
        net = self.image_model.net
        out: list[np.ndarray] = []
        for start in range(0, len(images), REGION_CHUNK):
            with torch.inference_mode():
                x = self.image_model.to_tensor(self.image_model._prepare_all(images[start:start + REGION_CHUNK]))
                cells = net.features(x).flatten(2).transpose(1, 2)  # (n, 49, 1280)
                logits = net.fc(cells).float().cpu().numpy()
                cells_np = cells.float().cpu().numpy()
            out.extend(self.with_detail(self.combine(row), c) for row, c in zip(logits, cells_np))
        return out

    def top_classes(self, images: Sequence[Any], k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable ImageNet classes of each image, with probabilities."""
        probs = self.image_model.classify(images)
        names = class_names()
        return [[(names[j], float(p[j])) for j in np.argsort(-p)[:k]] for p in probs]

    # -- text ----------------------------------------------------------------------------------
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Text vectors; with CNN detail, ``[text ; 0]`` (the detail block of a text is zero)."""
        vecs = self.text_model.encode_texts(texts)
        if self.text_mix != 1.0 and len(vecs):
            vecs = l2_normalize(self.text_mix * vecs + (1.0 - self.text_mix) * self.text_onto_classes(vecs))
        if self.detail_dim:
            vecs = np.concatenate([vecs, np.zeros((len(vecs), self.detail_dim), np.float32)], axis=-1)
        return vecs

    def text_onto_classes(self, vecs: np.ndarray) -> np.ndarray:
        """Symmetric ConSE: each text vector as the mixture of its ``SYM_K`` nearest class
        vectors, weighted by a softmax of their cosines at ``SYM_TEMPERATURE``."""
        sims = torch.from_numpy(np.ascontiguousarray(vecs @ self.classes.T, dtype=np.float32))
        top, idx = sims.topk(SYM_K, dim=-1)
        weights = torch.softmax(top / SYM_TEMPERATURE, dim=-1).numpy()
        return l2_normalize(np.einsum("nk,nkd->nd", weights, self.classes[idx.numpy()]))

    def projection_basis(self) -> np.ndarray:
        """The class text matrix: PCA to 128/256 dimensions is fitted on it (without detail)."""
        return self.classes

    def projection_blocks(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        """With CNN detail: ``(class text matrix, classifier weight rows, detail weight)``, from
        which :func:`local_backend.projection.detail_projection` maps native vectors to each
        dimension block by block; without it, None (the generic rule, on :meth:`projection_basis`)."""
        if not self.detail_weight:
            return None
        weights = self.image_model.net.fc.weight.detach().float().cpu().numpy()
        return self.classes, weights, self.detail_weight


def create_conse(image_model: str = "efficientnet-lite0", text_model: str = "minilm-l6", top_k: int = 10,
                 temperature: float = 1.0, text_mix: float = 1.0, detail_weight: float = 0.0,
                 templates: Sequence[str] | None = None, use_cache: bool = True, device: str = "cpu") -> ConSEModel:
    """Registry factory for ``conse-effnet-minilm`` (alias ``default``). The towers are the
    registry's shared instances, so the CNN path and the joint model hold one copy of each."""
    from .registry import get_shared_model

    image = get_shared_model(image_model, device=device)
    if not hasattr(image, "logits_prepared"):
        raise ValueError(f"ConSE needs an ImageNet classifier as image model; {image_model!r} has no class scores")
    return ConSEModel(image, get_shared_model(text_model, device=device), top_k=top_k, temperature=temperature, text_mix=text_mix,
                      detail_weight=detail_weight, templates=tuple(templates) if templates else TEMPLATES,
                      use_cache=use_cache)


def pooled_and_logits(image_model: Any, batch: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One CNN pass: the pooled features (n, 1280) and the class scores computed from them."""
    with torch.inference_mode():
        pooled = image_model.forward_features(image_model.to_tensor(batch)).mean((2, 3))
        logits = image_model.net.fc(pooled)
    return pooled.float().cpu().numpy(), logits.float().cpu().numpy()


class _MemoLogits:
    """An ImageNet classifier whose pooled features and class scores are kept per image (by
    pixel digest), so that ConSE variants over the same photos run the CNN once."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._memo: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def pooled_and_logits(self, batch: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        arrays = [np.ascontiguousarray(a) for a in batch]
        keys = [hashlib.blake2b(a.tobytes(), digest_size=16).digest() for a in arrays]
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        if todo:
            pooled, logits = pooled_and_logits(self._model, np.stack([arrays[i] for i in todo]))
            for j, i in enumerate(todo):
                self._memo[keys[i]] = (pooled[j], logits[j])
        return np.stack([self._memo[k][0] for k in keys]), np.stack([self._memo[k][1] for k in keys])

    def logits_prepared(self, batch: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        return self.pooled_and_logits(batch)[1]


def conse_variants(overrides: Sequence[dict[str, Any]], name: str = "conse-effnet-minilm", *,
                   device: str | None = None) -> list[ConSEModel]:
    """Variants of the registry model ``name``, each its params updated by one ``overrides``
    dict, sharing one CNN whose class scores are memoised: for ablations over the same photos.
    ``device`` places the CNN and the text model as ``get_embedder("local", device=...)`` does."""
    from .registry import get_model_config, get_shared_model

    params = dict(get_model_config(name)["params"])
    where = {} if device is None else {"device": device}
    image = _MemoLogits(get_shared_model(params.pop("image_model"), **where))
    text = get_shared_model(params.pop("text_model"), **where)
    return [ConSEModel(image, text, name=get_model_config(name)["name"], **{**params, **o}) for o in overrides]
