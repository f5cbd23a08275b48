"""``LocalEmbedder``: the whole vertex-mm Embedder interface over any local model, offline.

It accepts what ``multimodalembedding@001`` accepts (image, video, contextual_text, the four
dimensions, video segments) and answers in the same shapes, so code written against the
cloud runs unchanged. Differences, on purpose:

* Batches run as true batches: images of many requests decode and resize in parallel threads
  and go through one forward pass per ``batch_size``; texts are batched the same way.
* ``gs://`` inputs are refused with :class:`~vertex_mm.errors.InvalidURIError` (no network).
* Vectors are those of the local model (for ``"default"``: ConSE, which knows only the 1000
  ImageNet concepts), projected to the requested dimension by :mod:`local_backend.projection`.
  ``EmbeddingSpace.variant`` names the model options and the projection.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from vertex_mm.batch.progress import Progress
from vertex_mm.embedder import BaseEmbedder, ItemResult
from vertex_mm.errors import InputError, InvalidImageError, VertexMMError
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.results import MultiModalEmbeddingResponse, VideoEmbedding
from vertex_mm.wire import EmbedRequest

from .models.base import LocalModel
from .preprocess import decode_image, map_ordered, no_gcs
from .projection import DEFAULT_SEED, Projection, detail_projection, projection_for

__all__ = ["LocalEmbedder"]


class LocalEmbedder(BaseEmbedder):
    """Embeds with a :class:`~local_backend.models.base.LocalModel`; see the module docstring.

    ``batch_size`` bounds the images (or video frames) in one forward pass and so the memory;
    ``decode_workers`` the decode threads (default: the CPU count).
    """

    backend = "local"
    # Images are decoded for the model anyway, and a corrupt one still becomes that item's
    # InvalidImageError there, so request building skips the extra decode.
    decode_check = False
    # Contents follow gemini-embedding-2's limits, so code written for it runs here unchanged.
    content_limits = GEMINI_EMBEDDING_2
    #: Part kinds it has a model for (no audio: see local_backend.contents).
    content_kinds = frozenset({"text", "image", "video", "document"})

    def __init__(self, model: LocalModel, *, batch_size: int = 32, decode_workers: int | None = None,
                 projection_seed: int = DEFAULT_SEED, video_fps: float = 1.0, max_frames_per_segment: int = 16) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.local_model = model
        self.model = model.name
        self.batch_size = int(batch_size)
        self.decode_workers = decode_workers
        self.projection_seed = int(projection_seed)
        self.video_fps = float(video_fps)
        self.max_frames_per_segment = int(max_frames_per_segment)
        self._projections: dict[int, Projection] = {}
        self._lock = threading.Lock()

    # -- spaces and projections ---------------------------------------------------------------
    def projection(self, dimension: int) -> Projection:
        """The fixed map from the model's native vectors to ``dimension``."""
        with self._lock:
            proj = self._projections.get(dimension)
            blocks_fn = getattr(self.local_model, "projection_blocks", None)  # a [joint ; detail] model
            blocks = blocks_fn() if proj is None and blocks_fn is not None else None
            if blocks is not None:
                joint, detail, weight = blocks
                proj = self._projections[dimension] = detail_projection(joint, detail, weight, dimension, self.projection_seed)
            if proj is None:
                basis_fn = getattr(self.local_model, "projection_basis", None)
                basis = basis_fn() if basis_fn is not None and dimension < self.local_model.native_dim else None
                proj = projection_for(self.local_model.native_dim, dimension, basis, self.projection_seed)
                self._projections[dimension] = proj
            return proj

    def _space_variant(self, dimension: int) -> str:
        tag = getattr(self.local_model, "space_tag", "")
        return "_".join(p for p in (tag, self.projection(dimension).id) if p)

    # -- the Embedder backend calls -----------------------------------------------------------
    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        result = self._predict_many([request])[0]
        if isinstance(result, VertexMMError):
            raise result
        return result

    def _predict_many(self, requests: Sequence[EmbedRequest], *, progress: bool = False) -> list[ItemResult]:
        if any(r.content is not None for r in requests):
            return self._predict_mixed(requests, progress)
        n = len(requests)
        errors: dict[int, VertexMMError] = {}
        with Progress(n, enabled=progress, desc="local embed") as bar:
            image_vecs = self._embed_request_images(requests, errors, bar)
            text_vecs = self._embed_request_texts(requests, errors)
            video_vecs = self._embed_request_videos(requests, errors)
            results = self._assemble(requests, errors, image_vecs, text_vecs, video_vecs)
            # Images dominate the time: the bar advances per image chunk, the rest at the end.
            for i in range(n):
                if i not in image_vecs and not (i in errors and _image_failed(requests[i], errors[i])):
                    bar.item_done(i not in errors)
        return results

    def _predict_mixed(self, requests: Sequence[EmbedRequest], progress: bool) -> list[ItemResult]:
        """Content requests (:mod:`local_backend.contents`) beside vision_models ones."""
        from .contents import embed_content_requests

        contents = [i for i, r in enumerate(requests) if r.content is not None]
        others = [i for i, r in enumerate(requests) if r.content is None]
        results: list[ItemResult | None] = [None] * len(requests)
        for i, result in zip(contents, embed_content_requests(self, [requests[i] for i in contents])):
            results[i] = result
        if others:
            for i, result in zip(others, self._predict_many([requests[i] for i in others], progress=progress)):
                results[i] = result
        return [r for r in results if r is not None]

    # -- images -------------------------------------------------------------------------------
    def _embed_request_images(self, requests: Sequence[EmbedRequest], errors: dict[int, VertexMMError],
                              bar: Progress) -> dict[int, np.ndarray]:
        todo = []
        for i, r in enumerate(requests):
            if r.image is None:
                continue
            if r.image.data is None:
                errors[i] = no_gcs(r.image.gcs_uri, "image")
            else:
                todo.append(i)
        out: dict[int, np.ndarray] = {}
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            images = [requests[i].image for i in chunk]
            vecs, errs = self.encode_image_bytes([(im.data, im.name) for im in images if im is not None and im.data is not None])
            for j, i in enumerate(chunk):
                if errs[j] is not None:
                    errors[i] = errs[j]  # type: ignore[assignment]
                else:
                    out[i] = vecs[j]
            for i in chunk:
                bar.item_done(i not in errors)
        return out

    def encode_image_bytes(self, items: Sequence[tuple[bytes, str]]) -> tuple[np.ndarray, list[VertexMMError | None]]:
        """Decode and embed (bytes, name) pairs in one batch; native vectors, NaN rows for failures.

        Decoding and resizing run in threads; a corrupt image gives its own typed error and the
        rest of the batch goes on.
        """
        model = self.local_model
        draft = getattr(model, "draft_size", None)
        prepare = getattr(model, "prepare_image", None)

        def load(item: tuple[bytes, str]) -> Any:
            img = decode_image(item[0], item[1], draft_size=draft)
            return prepare(img) if prepare is not None and hasattr(model, "encode_prepared") else img

        loaded = map_ordered(load, list(items), workers=self.decode_workers)
        errs: list[VertexMMError | None] = [x if isinstance(x, VertexMMError) else None for x in loaded]
        good = [k for k, e in enumerate(errs) if e is None]
        out = np.full((len(items), model.native_dim), np.nan, np.float32)
        if good:
            batch = [loaded[k] for k in good]
            if hasattr(model, "encode_prepared") and prepare is not None:
                out[good] = model.encode_prepared(np.stack([np.asarray(b) for b in batch]))
            else:
                out[good] = model.encode_images(batch)
        return out, errs

    # -- texts --------------------------------------------------------------------------------
    def _embed_request_texts(self, requests: Sequence[EmbedRequest], errors: dict[int, VertexMMError]) -> dict[int, np.ndarray]:
        todo = [i for i, r in enumerate(requests) if r.text is not None and i not in errors]
        if not todo:
            return {}
        try:
            vecs = self.local_model.encode_texts([requests[i].text for i in todo])  # type: ignore[misc]
        except InputError as exc:  # e.g. an image-only model: every text item gets the reason
            for i in todo:
                errors[i] = exc
            return {}
        return {i: vecs[j] for j, i in enumerate(todo)}

    # -- videos -------------------------------------------------------------------------------
    def _embed_request_videos(self, requests: Sequence[EmbedRequest],
                              errors: dict[int, VertexMMError]) -> dict[int, list[tuple[float, float, np.ndarray]]]:
        out: dict[int, list[tuple[float, float, np.ndarray]]] = {}
        for i, r in enumerate(requests):
            if r.video is None or i in errors:
                continue
            if r.video.data is None:
                errors[i] = no_gcs(r.video.gcs_uri, "video")
                continue
            from .video import embed_video

            try:
                out[i] = embed_video(self, r.video.data, r.video.name, r.video_segment_config)
            except VertexMMError as exc:
                errors[i] = exc
        return out

    # -- assembling responses -----------------------------------------------------------------
    def _assemble(self, requests: Sequence[EmbedRequest], errors: dict[int, VertexMMError],
                  image_vecs: dict[int, np.ndarray], text_vecs: dict[int, np.ndarray],
                  video_vecs: dict[int, list[tuple[float, float, np.ndarray]]]) -> list[ItemResult]:
        projected: dict[tuple[str, int], list[float]] = {}
        # One matrix product per (kind, dimension), not one per request.
        for kind, vecs in (("image", image_vecs), ("text", text_vecs)):
            by_dim: dict[int, list[int]] = {}
            for i in vecs:
                if i not in errors:
                    by_dim.setdefault(requests[i].dimension, []).append(i)
            for dim, idx in by_dim.items():
                rows = self.projection(dim).apply(np.stack([vecs[i] for i in idx]))
                for i, row in zip(idx, rows):
                    projected[(kind, i)] = row.tolist()
        results: list[ItemResult] = []
        for i, r in enumerate(requests):
            if i in errors:
                results.append(errors[i])
                continue
            videos = []
            if i in video_vecs and video_vecs[i]:
                segs = video_vecs[i]
                rows = self.projection(r.dimension).apply(np.stack([v for _, _, v in segs]))
                videos = [VideoEmbedding(s, e, row.tolist()) for (s, e, _), row in zip(segs, rows)]
            results.append(MultiModalEmbeddingResponse(
                image_embedding=projected.get(("image", i)),
                text_embedding=projected.get(("text", i)),
                video_embeddings=videos,
                space=self.space(r.dimension),
            ))
        return results

    # -- extras beyond the Vertex interface ---------------------------------------------------
    def embed_image_regions(self, image: Any, *, dimension: int | None = None) -> np.ndarray:
        """Region vectors of one image, (regions, dimension), in the same space as
        :meth:`embed_images` (for the CNN models: the 7 x 7 cells of the last feature map)."""
        fn = getattr(self.local_model, "encode_image_regions", None)
        if fn is None:
            raise InputError(f"local model {self.model!r} has no region vectors", input_name="image")
        req = self.build_request(image=image, dimension=dimension)
        if req.image is None or req.image.data is None:
            raise no_gcs(getattr(req.image, "gcs_uri", None), "image")
        img = decode_image(req.image.data, req.image.name, draft_size=getattr(self.local_model, "draft_size", None))
        return self.projection(req.dimension).apply(fn([img])[0])

    def __repr__(self) -> str:
        return f"LocalEmbedder(model={self.model!r}, native_dim={self.local_model.native_dim}, batch_size={self.batch_size})"


def _image_failed(request: EmbedRequest, error: VertexMMError) -> bool:
    """Whether ``error`` came from decoding the request's image (already counted by the bar)."""
    return request.image is not None and request.image.data is not None and isinstance(error, InvalidImageError)
