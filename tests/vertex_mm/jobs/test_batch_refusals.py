"""What a refused batch job creation says: the model card's "batch not supported" hint only
where the refusal is about the model or batch prediction, not for a bad bucket."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import errors as genai_errors

from vertex_mm.jobs.batch_client import BatchJobs
from vertex_mm.jobs.batch_errors import BatchJobRefusedError


class _Refusing:
    """``client.batches`` answering every create with the service's 400 (a boundary double: the
    SDK's own ClientError, as google-genai raises it for the REST answer)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def create(self, **_: Any) -> Any:
        body = {"error": {"code": 400, "message": self.message, "status": "INVALID_ARGUMENT"}}
        raise genai_errors.ClientError(400, body)


class _Client:
    def __init__(self, message: str) -> None:
        self.batches = _Refusing(message)


def _create(message: str) -> str:
    jobs = BatchJobs(_Client(message), "gemini-embedding-2", sleep=lambda _s: None)
    with pytest.raises(BatchJobRefusedError) as info:
        jobs.create(display_name="d", inputs=["gs://b/in.jsonl"], output_prefix="gs://b/out")
    return str(info.value)


def test_a_refusal_about_the_model_suggests_the_online_path() -> None:
    text = _create("Batch prediction is not supported for gemini-embedding-2.")
    assert "not supported for gemini-embedding-2" in text and "--mode online" in text


def test_a_refusal_about_the_bucket_is_the_services_message_alone() -> None:
    text = _create("Bucket gs://b does not exist or the caller lacks storage.objects.create on it.")
    assert "Bucket gs://b does not exist" in text and "--mode online" not in text and "model card" not in text


def test_a_refusal_about_the_bucket_region_gets_no_hint_and_one_full_stop() -> None:
    text = _create("The bucket must be in the same region as the batch prediction job.")
    assert "model card" not in text and text.endswith("as the batch prediction job.") and ".." not in text
