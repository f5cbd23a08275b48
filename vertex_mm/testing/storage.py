"""A Cloud Storage emulator in this process, for tests: ``gcp-storage-emulator`` on 127.0.0.1.

>>> from vertex_mm.testing.storage import storage_emulator
>>> with storage_emulator(buckets=["my-bucket"]) as gcs:                      # doctest: +SKIP
...     client = gcs.client()                 # google.cloud.storage.Client against it
...     client.bucket("my-bucket").blob("a.jpg").upload_from_string(jpeg_bytes)
...     # STORAGE_EMULATOR_HOST points at it for the block, so storage.Client() finds it too,
...     # and so does a vertex-mm emulator started inside the block (gs:// media, batch jobs).

The variable is put back as it was when the block ends. Objects live in memory and are gone
when the emulator stops. Needs ``gcp-storage-emulator`` (pure Python; in the ``dev`` extra).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from .._optional import require
from ..gcs import EMULATOR_HOST_VAR

__all__ = ["StorageEmulator", "storage_emulator"]


class StorageEmulator:
    """One in-memory ``gcp-storage-emulator`` server on ``host`` and a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        server_module = require("pkg:gcp-storage-emulator", "gcp_storage_emulator.server", what="the storage emulator")
        self._server: Any = server_module.create_server(host, port, in_memory=True)
        # Its API thread is not a daemon: a test that fails before stop() would hang the
        # interpreter at exit. (The server keeps the thread in a private attribute.)
        self._server._api.daemon = True
        self._host = host
        self._started = False

    def start(self) -> "StorageEmulator":
        self._server.start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False

    @property
    def port(self) -> int:
        """The port it listens on. gcp-storage-emulator exposes it only through its private
        HTTP server object; this is the one place that reaches in."""
        if not self._started:
            raise RuntimeError("the storage emulator is not started; its port is not known yet")
        port: int = self._server._api._httpd.server_address[1]
        return port

    @property
    def url(self) -> str:
        """The value for ``STORAGE_EMULATOR_HOST``."""
        return f"http://{self._host}:{self.port}"

    def client(self) -> Any:
        """A ``google.cloud.storage.Client`` of this emulator (anonymous, project ``test``)."""
        from google.auth.credentials import AnonymousCredentials

        storage = require("pkg:google-cloud-storage", "google.cloud.storage", what="the storage emulator's client")
        return storage.Client(project="test", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                              client_options={"api_endpoint": self.url})

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name)

    def wipe(self) -> None:
        """Delete every object and bucket."""
        self._server.wipe(keep_buckets=False)

    def reset(self, buckets: Iterable[str] = ()) -> "StorageEmulator":
        """Empty it and create ``buckets``: one server can serve a whole test session (stopping
        one takes half a second), each test starting from nothing."""
        self.wipe()
        for name in buckets:
            self.create_bucket(name)
        return self

    def __enter__(self) -> "StorageEmulator":
        return self if self._started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"StorageEmulator({self.url if self._started else 'not started'})"


@contextlib.contextmanager
def storage_emulator(*, buckets: Iterable[str] = (), set_env: bool = True) -> Iterator[StorageEmulator]:
    """Run a storage emulator for a ``with`` block, with ``buckets`` created, and (unless
    ``set_env=False``) ``STORAGE_EMULATOR_HOST`` pointing at it; the variable is restored after."""
    previous = os.environ.get(EMULATOR_HOST_VAR)
    with StorageEmulator() as server:
        for name in buckets:
            server.create_bucket(name)
        if set_env:
            os.environ[EMULATOR_HOST_VAR] = server.url
        try:
            yield server
        finally:
            if set_env:
                if previous is None:
                    os.environ.pop(EMULATOR_HOST_VAR, None)
                else:
                    os.environ[EMULATOR_HOST_VAR] = previous
