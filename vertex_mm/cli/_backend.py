"""The embedder flags every embedding command shares (--backend, --device, --api-endpoint,
--project, --location), and their translation into ``get_embedder`` options."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_backend_arguments", "add_page_content_arguments", "add_service_arguments", "backend_options",
           "check_credentials", "content_options"]


def add_backend_arguments(p: argparse.ArgumentParser, *, default: str | None,
                          dimension: str | None = None) -> None:
    """The embedder flags shared by embed, index, search, serve, migrate and eval-images; with
    ``dimension`` (its help text) also ``--dimension``."""
    default_text = f"default {default}" if default else "default: the backend that built the index"
    p.add_argument("--backend", default=default, help=f"embedding backend: local, vertex or gemini ({default_text})")
    p.add_argument("--device", metavar="DEVICE",
                   help="local backend: where the model runs: auto (default: a CUDA GPU when torch sees one), cpu, "
                        "cuda or cuda:N (the CPU, with a warning, when there is no GPU)")
    add_service_arguments(p)
    if dimension is not None:
        p.add_argument("--dimension", type=int, help=dimension)


def add_service_arguments(p: argparse.ArgumentParser) -> None:
    """Where a cloud backend is reached (also for ``pages --embedder gemini``)."""
    p.add_argument("--api-endpoint", metavar="URL", help="service endpoint, e.g. the emulator's http://127.0.0.1:PORT")
    p.add_argument("--project", help="Google Cloud project (default: from the environment / ADC)")
    p.add_argument("--location", help="region (vertex default: GOOGLE_CLOUD_REGION, else us-central1; gemini default global)")
    p.add_argument("--document-ocr", action="store_true",
                   help="gemini: the service also reads the text of PDF parts (scanned pages; extra tokens)")


def backend_options(args: argparse.Namespace, backend: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    device = getattr(args, "device", None)
    if device is not None:
        from .._device import check_device
        from ._errors import UsageError

        if (backend or args.backend) != "local":
            raise UsageError(f"--device applies to the local backend only, not {backend or args.backend!r}")
        options["device"] = check_device(device)  # InputError naming the value and the allowed ones
    name = backend or args.backend
    if name in ("local", "hashed"):
        given = [flag for flag, value in (("--api-endpoint", args.api_endpoint), ("--project", args.project),
                                          ("--location", args.location)) if value]
        if given:
            from ._errors import UsageError

            raise UsageError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to the vertex and gemini "
                             f"backends, not {name!r}, which runs on this machine")
    if getattr(args, "document_ocr", False):
        if name != "gemini":
            from ._errors import UsageError

            raise UsageError(f"--document-ocr applies to the gemini backend only, not {name!r}")
        options["document_ocr"] = True
    if args.project:
        options["project"] = args.project
    if args.location:
        options["location"] = args.location
    if args.api_endpoint:
        options["base_url" if (backend or args.backend) == "gemini" else "api_endpoint"] = args.api_endpoint
    return options


def add_page_content_arguments(p: argparse.ArgumentParser, *, new_index: bool) -> None:
    """``--embedder gemini``: where the service is, and (for a new index) its vectors."""
    add_service_arguments(p)
    if new_index:
        p.add_argument("--dimension", type=int, default=768, help="gemini: vector size, 128..3072 (default 768)")
        p.add_argument("--pages-per-vector", type=int, default=1, metavar="N",
                       help="gemini: embed N consecutive PDF pages (1..6) as one content (default 1: each page)")


def content_options(args: argparse.Namespace, *, new_index: bool) -> dict[str, Any]:
    """The ``get_page_retriever`` / ``load_page_retriever`` options of ``--embedder gemini``."""
    options: dict[str, Any] = {"embedder_options": backend_options(args, "gemini")}
    if new_index:
        options.update(dimension=args.dimension, pages_per_vector=args.pages_per_vector)
    return options



def check_credentials(backend: str, options: dict[str, Any]) -> None:
    """Look for Application Default Credentials now when ``backend`` is a cloud one reached
    without an endpoint override: a server (``serve``) that started without them would fail
    every query. Raises :class:`UnauthenticatedError` (the CLI's clean message, exit 2)."""
    if backend not in ("vertex", "gemini") or options.get("api_endpoint") or options.get("base_url"):
        return
    try:
        import google.auth

        google.auth.default()
    except Exception as exc:  # DefaultCredentialsError and friends
        from ..google_api import raise_translated

        raise_translated(exc)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:  # NaN too
            raise argparse.ArgumentTypeError(f"{text} must be more than 0")
        if value == float("inf"):  # a rate or a deadline of inf broke the rate limiter and the timeouts
            raise argparse.ArgumentTypeError(f"{text} must be a finite number")
        return value
    return parse


def add_rate_arguments(p: argparse.ArgumentParser) -> None:
    """``--rpm`` and ``--concurrency``: the client-side rate limit of a remote backend."""
    p.add_argument("--rpm", type=_positive(float), metavar="N",
                   help="requests per minute, the client-side rate limit: set it to your project's quota "
                        "(remote default 120, the documented floor)")
    p.add_argument("--concurrency", type=_positive(int), metavar="N", help="requests in flight (remote default 10)")


def rate_options(args: argparse.Namespace) -> dict[str, Any]:
    """The batch options of :func:`add_rate_arguments`' flags that were given."""
    return {key: value for key, value in (("requests_per_minute", args.rpm), ("concurrency", args.concurrency))
            if value is not None}
