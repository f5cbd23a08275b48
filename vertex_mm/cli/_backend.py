"""The embedder flags every embedding command shares (--backend, --api-endpoint, --project,
--location), and their translation into ``get_embedder`` options."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_backend_arguments", "backend_options"]


def add_backend_arguments(p: argparse.ArgumentParser, *, default: str | None) -> None:
    """The embedder flags shared by embed, index, search, serve and eval-images."""
    default_text = f"default {default}" if default else "default: the backend that built the index"
    p.add_argument("--backend", default=default, help=f"embedding backend: local, vertex or gemini ({default_text})")
    p.add_argument("--api-endpoint", metavar="URL", help="service endpoint, e.g. the emulator's http://127.0.0.1:PORT")
    p.add_argument("--project", help="Google Cloud project (vertex backend)")
    p.add_argument("--location", help="region (vertex backend; default us-central1)")


def backend_options(args: argparse.Namespace, backend: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.project:
        options["project"] = args.project
    if args.location:
        options["location"] = args.location
    if args.api_endpoint:
        options["base_url" if (backend or args.backend) == "gemini" else "api_endpoint"] = args.api_endpoint
    return options
