"""The web app in a real browser: Debian's chromium driven by Playwright for Python.

The project never downloads a browser: Playwright launches the system's ``chromium``
(``apt-get install chromium``; .ci/run does it when it is missing). Without chromium or
Playwright these tests skip and say how to enable them.

STYLELAB_SCREENSHOT=docs/serve.png also runs a longer job on the built-in examples
before the screenshot, for the README and docs/serve.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.serve_helpers import live_server, png_bytes, style_bytes

pytestmark = pytest.mark.browser

HOW = "install chromium (apt-get install chromium) and Playwright (pip install playwright)"
#: Set by .ci/run once chromium is installed: then a browser test that cannot run fails
#: instead of skipping, so CI cannot pass without it.
REQUIRED = os.environ.get("STYLELAB_REQUIRE_BROWSER") == "1"


def cannot_run(reason: str) -> None:
    """Skip, saying how to enable the test; or fail when the browser tests are required."""
    message = f"{reason}: {HOW} to run the browser tests"
    if REQUIRED:
        pytest.fail(f"STYLELAB_REQUIRE_BROWSER=1, but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")  # session: set up before the session's tiny_model
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        cannot_run("no chromium on PATH")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        cannot_run("Playwright for Python is missing")
    assert path is not None
    return path


def test_the_page_end_to_end_in_chromium(
    tmp_path: Path, chromium_path: str, tiny_model: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from stylelab.serve.app import Settings

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    content.write_bytes(png_bytes())
    style.write_bytes(style_bytes())
    screenshot = tmp_path / "serve.png"
    readme_shot = os.environ.get("STYLELAB_SCREENSHOT")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_model, models / "tiny.safetensors")
    settings = Settings(workdir=tmp_path / "work", models=models)
    with live_server(settings) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 680}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready=yes]", timeout=60_000)
            page.set_input_files("#content-file", str(content))
            page.wait_for_selector(".picker[data-role=content][data-ready=yes]")
            page.set_input_files("#style-file", str(style))
            page.wait_for_selector(".picker[data-role=style][data-ready=yes]")

            # A bad option is refused on the page, in one line.
            _refused(page, "style_weight", "-1", "--style-weight must be a finite number >= 0")
            page.fill("#options [name=style_weight]", "30")

            # A 64 px job: watch the preview change, stop it, download the PNG.
            page.fill("#options [name=size]", "64")
            page.fill("#options [name=steps]", "2000")
            page.select_option("#options [name=weights]", "random")
            page.click("#start")
            page.wait_for_function(
                "Number(document.querySelector('#live').dataset.previews) >= 3", timeout=90_000
            )
            page.click("#stop")
            page.wait_for_selector("body[data-last-status=stopped]", timeout=60_000)
            assert "stopped after" in page.inner_text("#status")
            with page.expect_download() as download:
                page.click("#download-png")
            saved = tmp_path / "downloaded.png"
            download.value.save_as(saved)
            assert saved.read_bytes().startswith(b"\x89PNG")
            with Image.open(saved) as image:
                assert max(image.size) == 64
            page.wait_for_selector(".card[data-status=stopped] img[src]")

            _instant_job(page)
            _fast_tab(page)
            if readme_shot:
                _finished_example_job(page)
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"screenshot: {screenshot}")
            if readme_shot:
                shutil.copy(screenshot, readme_shot)
            assert not errors, errors
        finally:
            browser.close()


def _refused(page, field: str, value: str, message: str) -> None:
    """Start with ``value`` in ``field``: the page shows the server's one-line refusal."""
    page.evaluate("document.querySelector('#error').hidden = true")
    page.fill(f"#options [name={field}]", value)
    page.click("#start")
    page.wait_for_selector("#error:not([hidden])")
    assert message in page.inner_text("#error")


def _fast_tab(page) -> None:
    """The trained model applies at once, and again when a style slider moves."""
    # The tab shows once /api/models has loaded the model: slow on a loaded machine.
    page.wait_for_selector("#tab-fast", state="visible", timeout=120_000)
    page.click("#tab-fast")
    page.select_option(".picker[data-role=fast] select", "example:chelsea")
    page.wait_for_function("document.querySelector('#fast-status').textContent.includes('ms')")
    first = page.get_attribute("#fast-result", "src")
    assert first and first.startswith("blob:")
    page.eval_on_selector_all(
        "#fast-sliders input",
        "(sliders) => { sliders[1].value = '100'; sliders[1].dispatchEvent(new Event('input')); }",
    )
    assert page.inner_text("#fast-sliders").count("50%") == 2
    page.wait_for_function(f"document.querySelector('#fast-result').src !== {first!r}")
    page.click("#tab-stylize")


def _instant_job(page) -> None:
    """Instant: the fields only the optimizer takes hide, a bad strength is refused in one
    line, and a 64 px result comes from the shipped model."""
    page.check("#method-instant")
    assert page.is_hidden("#options [name=steps]") and page.is_visible("#options [name=size]")
    _refused(page, "strength", "2", "--strength must be at most 1, got 2")
    page.fill("#options [name=strength]", "0.7")
    page.fill("#options [name=size]", "64")
    page.evaluate("document.body.dataset.lastStatus = ''")
    page.click("#start")
    page.wait_for_selector("body[data-last-status=done]", timeout=180_000)
    assert page.inner_text("#status").startswith("done: instant in")
    page.wait_for_function(
        "(() => { const live = document.querySelector('#live');"
        " return live.src.includes('/files/image.png') && live.complete"
        " && Math.max(live.naturalWidth, live.naturalHeight) === 64; })()"
    )
    page.wait_for_selector(".card[data-status=done] img[src]")
    assert "instant, strength 0.7" in page.inner_text(".card.current .meta")
    page.check("#method-gatys")
    assert page.is_visible("#options [name=steps]")


def _finished_example_job(page) -> None:
    """A job on the built-in examples that runs to the end, ticked for comparison."""
    page.select_option(".picker[data-role=content] select", "example:chelsea")
    page.select_option(".picker[data-role=style] select", "example:strokes")
    page.fill("#options [name=size]", "128")
    page.fill("#options [name=steps]", "60")
    page.select_option("#options [name=weights]", "pretrained")
    page.evaluate("document.body.dataset.lastStatus = ''")
    page.click("#start")
    page.wait_for_selector("body[data-last-status=done]", timeout=600_000)
    page.wait_for_selector(".card[data-status=done] img[src]")
    for box in page.query_selector_all(".card input[type=checkbox]"):
        box.click()
