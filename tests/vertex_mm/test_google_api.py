"""What the Vertex and Gemini backends share about Google: plain-HTTP detection in any letter
case, never a credential over plain HTTP to another machine, Retry-After parsing."""

from __future__ import annotations

import pytest

from vertex_mm import get_embedder
from vertex_mm.errors import InputError
from vertex_mm.google_api import is_loopback, is_plain_http, retry_after


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "HTTP://127.0.0.1:8080", "Http://localhost"])
def test_plain_http_is_recognised_in_any_letter_case(url):
    assert is_plain_http(url) and is_loopback(url)


@pytest.mark.parametrize("url", ["https://aiplatform.googleapis.com", "127.0.0.1:8080", None, ""])
def test_other_urls_are_not_plain_http(url):
    assert not is_plain_http(url)


def test_an_upper_case_http_emulator_url_never_looks_up_the_machines_credentials(emulator, monkeypatch):
    import google.auth

    def no_adc(*args, **kwargs):
        raise AssertionError("Application Default Credentials were looked up for a plain-HTTP endpoint")

    monkeypatch.setattr(google.auth, "default", no_adc)
    emb = get_embedder("gemini", base_url=emulator.url.replace("http://", "HTTP://"), retry="none")
    try:
        assert emb.project == "local-project"
        assert emb.embed_content("hello", dimension=128).shape == (128,)
    finally:
        emb.close()


def test_real_credentials_are_refused_over_plain_http_to_another_host():
    import google.oauth2.credentials

    creds = google.oauth2.credentials.Credentials(token="secret")
    with pytest.raises(InputError, match="refusing to send credentials"):
        get_embedder("gemini", base_url="HTTP://10.1.2.3:8080", credentials=creds)
    with pytest.raises(InputError, match="refusing to send credentials"):
        get_embedder("gemini", base_url="http://example.com", api_key="k")
    with pytest.raises(InputError, match="refusing to send credentials"):
        get_embedder("vertex", api_endpoint="http://10.1.2.3:8080", credentials=creds, project="p")


@pytest.mark.parametrize("value, expected", [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("inf", None), ("nan", None),
                                             ("soon", None), (None, None)])
def test_retry_after_takes_seconds_and_refuses_nonsense(value, expected):
    assert retry_after({"Retry-After": value} if value is not None else {}) == expected


def test_the_project_comes_from_the_environment_in_aiplatforms_order(monkeypatch):
    from vertex_mm.google_api import default_project

    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT", "CLOUD_ML_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    assert default_project() is None
    monkeypatch.setenv("CLOUD_ML_PROJECT_ID", "123456789")  # set by Vertex AI in its jobs: a project number
    assert default_project() == "123456789"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    assert default_project() == "my-proj"
