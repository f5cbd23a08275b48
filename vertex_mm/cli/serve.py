"""``vertex-mm serve``: search an index from the browser (query box, image upload, results grid).

    vertex-mm serve photos.idx                 # http://127.0.0.1:8000
    vertex-mm serve photos.idx --port 0        # a free port, printed at start

Binds 127.0.0.1 (this machine only) unless ``--host`` says otherwise. Queries are embedded by
the backend that built the index; for a vertex or gemini index, Google credentials are checked at
start (or pass --api-endpoint). Needs the ``serve`` extra: pip install "vertex-mm[serve]".
Prints ``vertex-mm serve listening on http://HOST:PORT`` once it answers; stops on Ctrl-C.

Each query has ``--query-timeout`` seconds (default 20), retries included: a remote backend
retries at most 3 times with waits under a second, and the page or the JSON API answers 503/504
(429 over quota) when the service does not come back in time. Queries of the vertex and gemini
backends run in parallel, under the ``--rpm`` rate limit (default 120 per minute).
"""

from __future__ import annotations

import argparse

from ..serve.budget import DEFAULT_QUERY_TIMEOUT
from ..serve.render import MAX_K
from ._backend import _positive, add_backend_arguments, backend_options, check_credentials
from .search import load_vector_index

__all__ = ["HELP", "add_arguments", "run"]


HELP = "serve a search page for an index on 127.0.0.1"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("index", metavar="IDX", help="index directory written by `vertex-mm index`")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("-k", type=_default_k, default=10, help=f"results per query shown by default (default 10, at most {MAX_K})")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name to answer besides this machine's (repeatable; '*' for any). Requests naming "
                        "another host are refused, which keeps web pages elsewhere from reaching the server")
    add_backend_arguments(p, default=None)
    p.add_argument("--rpm", type=_positive(float), metavar="N",
                   help="vertex/gemini: queries per minute sent to the service, the client-side rate limit: set it "
                        "to your project's quota (default 120, the documented floor)")
    p.add_argument("--query-timeout", type=_positive(float), default=DEFAULT_QUERY_TIMEOUT, metavar="SECONDS",
                   help=f"seconds a query may take, retries included, before it is answered 503/504 "
                        f"(default {DEFAULT_QUERY_TIMEOUT:g})")


def _port(text: str) -> int:
    value = _integer(text, "--port")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {value}")
    return value


def _default_k(text: str) -> int:
    value = _integer(text, "-k")
    if not 1 <= value <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be 1-{MAX_K} (the search page's cap), got {value}")
    return value


def _integer(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from .._optional import require
    from ..index.build import embedder_for_index

    require("serve", "starlette", what="vertex-mm serve")
    require("serve", "multipart", what="vertex-mm serve")
    from .._server import ServerThread, run_until_signal
    from ..serve.app import LOOPBACK_HOSTS, create_app
    from ..serve.budget import interactive_options

    index = load_vector_index(args.index, note=", which serve does not show")
    backend = args.backend or index.space.backend
    options = backend_options(args, backend)
    check_credentials(backend, options)  # at start: not one failed query after another
    # A query's retries and request timeout fit in its budget (not a batch job's 15 minutes).
    options.update(interactive_options(backend, args.query_timeout))
    if args.rpm is not None:
        options["requests_per_minute"] = args.rpm
    embedder = embedder_for_index(index, args.backend, **options)

    hosts = [*LOOPBACK_HOSTS, *args.allowed_host]
    if args.host not in ("0.0.0.0", "::", "127.0.0.1", "localhost"):
        hosts.append(args.host)  # the name it was asked to listen on
    app = create_app(index, embedder, default_k=args.k, allowed_hosts=hosts, query_timeout=args.query_timeout)

    wildcard = args.host in ("0.0.0.0", "::", "")

    def ready(server: ServerThread) -> None:
        if not wildcard:
            print(f"vertex-mm serve listening on {server.url}", flush=True)
            return
        # http://0.0.0.0:PORT is no address a browser sends as Host: the host check refused it.
        print(f"vertex-mm serve listening on all interfaces; open {server.loopback_url}", flush=True)
        if args.allowed_host:
            print(f"  other machines: http://{args.allowed_host[0]}:{server.port}", flush=True)
        else:
            print("  other machines are answered under the names given with --allowed-host NAME (this machine's "
                  "name or address as they type it); without one, only this machine is", flush=True)

    try:
        return run_until_signal(ServerThread(app, host=args.host, port=args.port, name="vertex-mm-serve"),
                                on_ready=ready)
    finally:
        # A query the server gave up on at shutdown may still be inside the embedder: closing its
        # connections under it would fail it noisily. It ends within its budget; the process exits
        # first, and the system closes what is left.
        if app.state.in_flight.wait_idle(timeout=1.0):
            embedder.close()

