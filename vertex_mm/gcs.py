"""The one home of Cloud Storage access: ``gs://`` URIs, the client, bounded reads, writes and
listings. Used by batch prediction jobs (staging inputs, collecting outputs) and by the
emulator (reading ``gs://`` media, running batch jobs).

google-cloud-storage is imported when a client is made, never with :mod:`vertex_mm`. With
``STORAGE_EMULATOR_HOST`` set (``http://127.0.0.1:PORT``), ``storage.Client()`` talks to that
emulator with anonymous credentials; :mod:`vertex_mm.testing.storage` runs one in-process.

Errors are translated here: a missing object is an :class:`ObjectNotFoundError`, an object
over the caller's bound an :class:`ObjectTooLargeError`, both naming the URI; no credentials is
an :class:`~vertex_mm.errors.UnauthenticatedError` that says how to get some or how to use a
storage emulator. A ``gs://bucket/prefix`` given by a user is checked with the bucket naming
rule of ``Image(gcs_uri=...)`` (:func:`check_gs_prefix`) before any client is made.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import IO, Any

from ._optional import require
from .errors import (
    InputError,
    InputNotFoundError,
    InvalidURIError,
    UnauthenticatedError,
    VertexMMError,
    api_error_for_status,
)
from .limits.checks import check_gcs_uri

__all__ = [
    "EMULATOR_HOST_VAR",
    "ObjectNotFoundError",
    "ObjectTooLargeError",
    "check_gs_prefix",
    "did_you_mean_gs",
    "emulator_client",
    "join_gs",
    "list_objects",
    "make_client",
    "read_object",
    "split_gs_uri",
    "storage_error",
    "suggest_gs_uri",
    "write_object",
]

#: The variable google-cloud-storage reads to talk to a storage emulator.
EMULATOR_HOST_VAR = "STORAGE_EMULATOR_HOST"


class ObjectNotFoundError(InputNotFoundError):
    """Raised when a ``gs://`` object (or its bucket) does not exist."""


class ObjectTooLargeError(InputError):
    """Raised when a ``gs://`` object is larger than the reader's bound; nothing was downloaded."""


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``; the object part may be empty (a prefix)."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise InvalidURIError(f"{uri!r} is not a gs:// URI (expected gs://bucket/object)", input_name=str(uri))
    bucket, _, name = uri[len("gs://"):].partition("/")
    if not bucket:
        raise InvalidURIError(f"{uri}: no bucket name (expected gs://bucket/object)", input_name=uri)
    return bucket, name


def suggest_gs_uri(text: str) -> str | None:
    """The ``gs://`` URI a mistyped one looks like (``gs:/bucket/x`` a slash short, ``gs:bucket/x``,
    ``gs:///bucket/x``, ``GS://bucket/x``), or None when ``text`` is no near miss."""
    head, sep, rest = text.partition(":")
    if not sep or head.lower() != "gs":
        return None
    rest = rest.lstrip("/")
    fixed = f"gs://{rest}"
    return fixed if rest and fixed != text else None


def did_you_mean_gs(text: str) -> str:
    """``"; did you mean gs://bucket/x?"`` for a near miss of a ``gs://`` URI, else ``""``: the
    tail of a "no such file" message."""
    fixed = suggest_gs_uri(text)
    return f"; did you mean {fixed}?" if fixed else ""


def check_gs_prefix(uri: str, *, name: str = "source") -> tuple[str, str]:
    """``gs://bucket/prefix`` -> ``("bucket", "prefix")`` (the prefix may be empty), or an
    :class:`~vertex_mm.errors.InvalidURIError` naming ``name`` when the bucket breaks the naming
    rule that ``Image(gcs_uri=...)`` applies (:func:`~vertex_mm.limits.check_gcs_uri`)."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise InvalidURIError(f"{name}: {uri!r} is not a gs:// URI (expected gs://bucket/prefix)", input_name=name)
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    try:
        check_gcs_uri(f"gs://{bucket}/object", name=name)  # the one bucket rule; the object part is a stand-in
    except InvalidURIError:
        raise InvalidURIError(
            f"{name}: {uri!r} has no valid bucket name ({bucket!r}); expected gs://bucket/prefix, the bucket 3-222 "
            "characters of a-z 0-9 . _ - that start and end with a letter or digit", input_name=name) from None
    return bucket, prefix


def join_gs(prefix: str, *names: str) -> str:
    """``join_gs("gs://b/p/", "x", "y.jsonl")`` -> ``gs://b/p/x/y.jsonl`` (one slash between parts)."""
    out = prefix.rstrip("/")
    for name in names:
        out += "/" + name.strip("/")
    return out


def make_client(client: Any = None, *, what: str = "Cloud Storage") -> Any:
    """``client`` if given, else a new ``google.cloud.storage.Client()`` (which finds a storage
    emulator through ``STORAGE_EMULATOR_HOST``, and otherwise Application Default Credentials)."""
    if client is not None:
        return client
    storage = require("pkg:google-cloud-storage", "google.cloud.storage", what=what)
    import google.auth.exceptions as auth_exc

    try:
        return storage.Client()
    except auth_exc.DefaultCredentialsError as exc:
        raise UnauthenticatedError(
            f"{what}: no Google credentials for Cloud Storage ({exc}). Run `gcloud auth application-default login`, "
            f"or, to use a storage emulator, set {EMULATOR_HOST_VAR}=http://127.0.0.1:PORT for this command (and "
            "for the vertex-mm emulator, which reads the same objects), e.g. with `gcp-storage-emulator start "
            "--port PORT --in-memory`") from exc


def emulator_client() -> Any:
    """A client of the storage emulator named by ``STORAGE_EMULATOR_HOST``, or None when that
    variable is not set (the vertex-mm emulator then keeps its URI-only behaviour)."""
    if not os.environ.get(EMULATOR_HOST_VAR):
        return None
    return make_client(what="reading gs:// objects in the emulator")


def _not_found(uri: str, exc: BaseException | None = None) -> ObjectNotFoundError:
    detail = f" ({exc})" if exc is not None else ""
    return ObjectNotFoundError(f"{uri}: no such Cloud Storage object{detail}", input_name=uri)


def storage_error(exc: BaseException, uri: str, *, what: str = "reading") -> VertexMMError | None:
    """The :mod:`vertex_mm.errors` error for a Cloud Storage client exception about ``uri``
    (a missing bucket or object, a refusal, expired credentials, no connection); None for
    anything else, which must surface as itself."""
    from google.api_core import exceptions as gexc

    from .google_api import translate_error

    if isinstance(exc, gexc.NotFound):
        if what == "listing":  # a prefix with no objects is no error: only a missing bucket is
            return ObjectNotFoundError(f"{uri}: no such Cloud Storage bucket ({exc})", input_name=uri)
        return _not_found(uri, exc)
    if isinstance(exc, gexc.GoogleAPICallError):
        code = int(exc.code or 0)
        return api_error_for_status(code)(f"{uri}: Cloud Storage answered {code} {what} it: {exc.message}",
                                          status_code=code)
    return translate_error(exc)


def read_object(client: Any, uri: str, *, max_bytes: int) -> bytes:
    """The bytes of ``uri``, refused from its size (before downloading) beyond ``max_bytes``."""
    from google.api_core import exceptions as gexc

    bucket, name = split_gs_uri(uri)
    if not name:
        raise InvalidURIError(f"{uri}: names a bucket, not an object", input_name=uri)
    try:
        blob = client.bucket(bucket).get_blob(name)
        if blob is None:
            raise _not_found(uri)
        if blob.size is not None and blob.size > max_bytes:
            raise ObjectTooLargeError(f"{uri}: the object is {blob.size:,} bytes; at most {max_bytes:,} bytes are read",
                                      input_name=uri)
        # Bounded even if the object grew after the lookup: never more than max_bytes + 1.
        data: bytes = blob.download_as_bytes(start=0, end=max_bytes)
    except gexc.NotFound as exc:
        raise _not_found(uri, exc) from exc
    if len(data) > max_bytes:
        raise ObjectTooLargeError(f"{uri}: the object is larger than {max_bytes:,} bytes", input_name=uri)
    return data


def download_object(client: Any, uri: str, location: str | os.PathLike[str]) -> None:
    """Stream ``uri`` into the local file ``location``, whatever its size (a copy, not an
    input to embed: no embedding limit applies). It is written beside ``location`` and then
    renamed, so a failed download leaves neither a part file nor a changed ``location``."""
    from google.api_core import exceptions as gexc

    bucket, name = split_gs_uri(uri)
    if not name:
        raise InvalidURIError(f"{uri}: names a bucket, not an object", input_name=uri)
    target = pathlib.Path(location)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        client.bucket(bucket).blob(name).download_to_filename(str(tmp))
        os.replace(tmp, target)
    except gexc.NotFound as exc:
        raise _not_found(uri, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_object(client: Any, uri: str, data: bytes | IO[bytes], *, content_type: str = "application/jsonl") -> None:
    """Write ``data`` (bytes, or a binary file read from its current position) to ``uri``."""
    bucket, name = split_gs_uri(uri)
    blob = client.bucket(bucket).blob(name)
    if isinstance(data, (bytes, bytearray)):
        blob.upload_from_string(bytes(data), content_type=content_type)
    else:
        blob.upload_from_file(data, content_type=content_type)


def list_objects(client: Any, prefix_uri: str, *, suffix: str = "") -> Iterator[Any]:
    """The blobs under ``prefix_uri`` whose names end with ``suffix``, in name order."""
    from google.api_core import exceptions as gexc

    bucket, prefix = split_gs_uri(prefix_uri)
    try:
        blobs = sorted(client.list_blobs(bucket, prefix=prefix or None), key=lambda b: b.name)
    except gexc.NotFound as exc:
        raise _not_found(prefix_uri, exc) from exc
    for blob in blobs:
        if blob.name.endswith(suffix) and not blob.name.endswith("/"):
            yield blob
