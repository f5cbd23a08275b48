"""The drop-in's errors beside the real SDK's: the unmodified ``vertexai.vision_models`` and
``vertex_mm.MultiModalEmbeddingModel`` make the same failing calls on one emulator; ours must be
an instance of the Google class the SDK raised AND of vertex-mm's typed error."""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest
from google.api_core import exceptions as gexc

import vertex_mm
from vertex_mm import errors
from vertex_mm.vertex.sdk_errors import as_sdk_error, sdk_error_class


@pytest.fixture
def ours(emulator) -> Any:
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained(
        "multimodalembedding@001", api_endpoint=emulator.url, project="test-project", retry="none")
    yield model
    model.embedder.close()


def _raised(call: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


def _both(real: Any, ours: Any, **kwargs: Any) -> tuple[BaseException, BaseException]:
    return _raised(lambda: real.get_embeddings(**kwargs)), _raised(lambda: ours.get_embeddings(**kwargs))


@pytest.mark.parametrize("faults, google, mine", [
    ({"fault_rate_503": 1.0}, gexc.ServiceUnavailable, errors.ServiceUnavailableError),
    ({"fault_rate_429": 1.0}, gexc.TooManyRequests, errors.QuotaExceededError),
])
def test_service_errors_are_the_sdks_class_and_ours(real, ours, emulator, faults, google, mine):
    emulator.set_faults(**faults)
    theirs, mine_exc = _both(real, ours, contextual_text="a cat")
    assert type(theirs) is google
    assert isinstance(mine_exc, type(theirs)) and isinstance(mine_exc, mine)
    assert isinstance(mine_exc, gexc.GoogleAPICallError) and mine_exc.retryable
    assert mine_exc.code == theirs.code == google.code
    assert theirs.message in mine_exc.message and str(mine_exc) == mine_exc.message
    assert mine_exc.errors == theirs.errors and mine_exc.details == theirs.details
    assert mine_exc.response is not None and mine_exc.response.status_code == theirs.response.status_code
    assert mine_exc.retry_after == 1.0  # ours still reads Retry-After


@pytest.mark.parametrize("kwargs, mine", [
    ({"contextual_text": "a cat", "dimension": 100}, errors.InvalidDimensionError),
    ({"image": b"not an image"}, errors.InvalidImageError),
    ({"video": "mp4", "video_segment_config": (0, 8, 2)}, errors.InvalidVideoError),
    ({"video": "mp4", "dimension": 512}, errors.InvalidDimensionError),
])
def test_client_side_400s_are_invalid_argument_and_value_errors(real, ours, emulator, mp4_10s, kwargs, mine):
    from vertexai.vision_models import Image, Video, VideoSegmentConfig

    sdk_kwargs = dict(kwargs)
    if "image" in kwargs:
        sdk_kwargs["image"] = Image(kwargs["image"])
    if "video" in kwargs:
        sdk_kwargs["video"] = Video(mp4_10s)
    if "video_segment_config" in kwargs:
        sdk_kwargs["video_segment_config"] = VideoSegmentConfig(*kwargs["video_segment_config"])
    theirs = _raised(lambda: real.get_embeddings(**sdk_kwargs))
    emulator.reset_stats()
    mine_exc = _raised(lambda: ours.get_embeddings(**sdk_kwargs))
    assert isinstance(theirs, gexc.BadRequest)
    assert isinstance(mine_exc, gexc.InvalidArgument) and isinstance(mine_exc, gexc.BadRequest)
    assert isinstance(mine_exc, mine) and isinstance(mine_exc, ValueError)
    assert mine_exc.code == 400 and mine_exc.message == str(mine_exc) and mine_exc.response is None
    assert mine_exc.errors == [] and mine_exc.details == []
    assert emulator.stats()["requests"] == 0  # refused before sending, as before


def test_nothing_to_embed_stays_a_plain_value_error_as_the_sdks(real, ours):
    theirs, mine_exc = _both(real, ours, contextual_text="")
    assert type(theirs) is ValueError
    assert isinstance(mine_exc, errors.InputError) and not isinstance(mine_exc, gexc.GoogleAPICallError)


def test_an_unknown_model_is_not_found_as_the_sdks(real, emulator):
    from vertexai.vision_models import MultiModalEmbeddingModel

    with pytest.raises(gexc.NotFound):
        MultiModalEmbeddingModel.from_pretrained("imagen-embedding@999")
    mine_exc = _raised(lambda: vertex_mm.MultiModalEmbeddingModel.from_pretrained(
        "imagen-embedding@999", api_endpoint=emulator.url))
    assert isinstance(mine_exc, gexc.NotFound) and isinstance(mine_exc, errors.NotFoundError)
    for name in ("'imagen-embedding@999'", "'multimodalembedding@001'", "'gemini-embedding-2'"):
        assert name in str(mine_exc)


def test_the_embedder_itself_keeps_raising_vertex_mm_errors_only(ours, emulator):
    with pytest.raises(errors.InvalidDimensionError) as info:
        ours.embedder.get_embeddings(contextual_text="a cat", dimension=100)
    assert not isinstance(info.value, gexc.GoogleAPICallError)
    emulator.set_faults(fault_rate_503=1.0)
    with pytest.raises(errors.ServiceUnavailableError) as failed:
        ours.embedder.get_embeddings(contextual_text="a cat")
    assert not isinstance(failed.value, gexc.GoogleAPICallError)


@pytest.mark.parametrize("faults, google, mine", [
    ({"fault_rate_503": 1.0}, gexc.ServiceUnavailable, errors.ServiceUnavailableError),
    ({"fault_rate_429": 1.0}, gexc.TooManyRequests, errors.QuotaExceededError),
    ({"drop_rate": 1.0}, gexc.ServiceUnavailable, errors.TransportError),
])
def test_the_gemini_backend_raises_the_same_pairs(emulator, faults, google, mine):
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2", api_endpoint=emulator.url,
                                                               retry="none")
    try:
        emulator.set_faults(**faults)
        exc = _raised(lambda: model.get_embeddings(contextual_text="a cat", dimension=128))
        assert isinstance(exc, google) and isinstance(exc, mine)
        emulator.set_faults(fault_rate_503=0.0, fault_rate_429=0.0, drop_rate=0.0)
        bad = _raised(lambda: model.get_embeddings(contextual_text="a cat", dimension=5000))
        assert isinstance(bad, gexc.InvalidArgument) and isinstance(bad, errors.InvalidDimensionError)
    finally:
        model.embedder.close()


def test_a_combined_class_is_made_once_and_survives_pickling():
    cls = sdk_error_class(errors.ServiceUnavailableError, gexc.ServiceUnavailable)
    assert sdk_error_class(errors.ServiceUnavailableError, gexc.ServiceUnavailable) is cls
    exc = as_sdk_error(errors.ServiceUnavailableError("Vertex AI answered 503 UNAVAILABLE: busy", retry_after=2.0))
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is cls and str(back) == str(exc) and back.retry_after == 2.0 and back.code == 503


def test_without_google_api_core_ours_is_raised_unchanged(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.api_core.exceptions", None)
    exc = errors.InvalidDimensionError("dimension 100 is not one of 128, 256, 512, 1408")
    assert as_sdk_error(exc) is exc


def test_an_error_from_google_auth_keeps_its_class_as_the_sdk_raises_it():
    from google.auth.exceptions import DefaultCredentialsError

    exc = errors.UnauthenticatedError("no Google credentials found (File x was not found.)")
    exc.__cause__ = DefaultCredentialsError("File x was not found.")
    mine = as_sdk_error(exc)
    assert isinstance(mine, DefaultCredentialsError) and isinstance(mine, errors.UnauthenticatedError)
    assert str(mine) == str(exc) and mine.__cause__ is exc.__cause__ and mine.retryable is False


@pytest.mark.parametrize("exc, google", [
    (errors.DeadlineExceededError("gave up waiting"), gexc.DeadlineExceeded),
    (errors.APIError("Vertex AI answered 409 ABORTED: busy", status_code=409, status="ABORTED"), gexc.Aborted),
    (errors.APIError("answered 409 ALREADY_EXISTS", status_code=409, status="ALREADY_EXISTS"), gexc.AlreadyExists),
    (errors.APIError("answered 501 UNIMPLEMENTED", status_code=501, status="UNIMPLEMENTED"), gexc.MethodNotImplemented),
    (errors.APIError("answered 500 DATA_LOSS", status_code=500, status="DATA_LOSS"), gexc.DataLoss),
    (errors.APIError("answered 500 UNKNOWN", status_code=500, status="UNKNOWN"), gexc.Unknown),
    (errors.APIError("answered 418", status_code=418), gexc.GoogleAPICallError),  # as from_http_status(418)
    (errors.InvalidURIError("gs:/bucket: not a gs:// URI"), gexc.InvalidArgument),
])
def test_other_errors_get_the_matching_google_class(exc, google):
    mine = as_sdk_error(exc)
    assert isinstance(mine, google) and isinstance(mine, type(exc)) and str(mine) == str(exc)
    assert mine.code == (exc.status_code if isinstance(exc, errors.APIError) else 400)


def test_local_file_errors_stay_the_builtins_the_sdk_raises():
    missing = errors.InputNotFoundError("cat.jpg: no such file", input_name="cat.jpg")
    assert as_sdk_error(missing) is missing
