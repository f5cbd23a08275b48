"""End to end in a real browser: headless Chromium types a query into the search page served by
uvicorn on 127.0.0.1 and sees the right photo first. Screenshots are saved as test artifacts
($VERTEX_MM_TEST_ARTIFACTS, default ./artifacts). `.ci/install_browser.sh` installs
Debian's chromium and playwright's Python package; `playwright install` is never needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium at /usr/bin/chromium: run .ci/install_browser.sh"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright's Python package: .ci/install_browser.sh")
pytest.importorskip("multipart", reason="uploads need python-multipart (vertex-mm[serve])")

from vertex_mm._server import ServerThread  # noqa: E402
from vertex_mm.sample_data import sample_query_images_dir  # noqa: E402
from vertex_mm.serve.app import create_app  # noqa: E402

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def server_url(local_photos):
    index, embedder = local_photos
    with ServerThread(create_app(index, embedder)) as server:
        url = server.url
        assert url.startswith("http://127.0.0.1:")
        yield url


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)  # a query embeds text on a shared CPU
            yield page
        finally:
            browser.close()


def first_hit(page) -> str:
    page.wait_for_selector("li.hit")
    return page.locator("li.hit").first.get_attribute("data-id")


def test_typing_a_query_shows_the_right_photo_first(server_url, page, artifacts_dir):
    page.goto(server_url)
    page.fill("#q", "a cat")
    page.click("#go")
    assert first_hit(page) == "cat.jpg"
    assert page.locator("li.hit").count() == 10
    # The thumbnail really loads (the browser decodes the JPEG the app serves). Waited for, not
    # read at once: on a busy CI machine the hits can appear before their first thumbnail has
    # arrived. Times out (fails) after the page's 60 s if it never loads.
    page.wait_for_function("() => { const img = document.querySelector('li.hit img');"
                           " return img !== null && img.complete && img.naturalWidth > 0; }")
    page.screenshot(path=str(artifacts_dir / "browser_search_a_cat.png"), full_page=True)


def test_another_query_from_the_results_page(server_url, page, artifacts_dir):
    page.goto(server_url)
    page.fill("#q", "a cup of espresso on a saucer")
    page.press("#q", "Enter")
    assert first_hit(page) == "coffee_cup.jpg"
    page.fill("#q", "a motorcycle")
    page.click("#go")
    page.wait_for_function("document.querySelector('li.hit').dataset.id === 'motorcycle.jpg'")
    page.screenshot(path=str(artifacts_dir / "browser_search_motorcycle.png"), full_page=True)


def test_uploading_an_image_query(server_url, page, artifacts_dir):
    page.goto(server_url)
    page.set_input_files("#image", str(sample_query_images_dir() / "motorcycle_other_view.jpg"))
    page.click("#go")
    assert first_hit(page) == "motorcycle.jpg"
    page.screenshot(path=str(artifacts_dir / "browser_search_image_upload.png"), full_page=True)
