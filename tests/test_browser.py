"""Chapter 1 in a real browser: JupyterLab on 127.0.0.1, Chromium driven by
Playwright, every cell run, the ipywidgets slider rendered and responding,
figures drawn. A screenshot is saved to test-results/.

Needs Debian's ``chromium`` (``.ci/run`` installs it). Without it the test is
skipped, unless ``COURSE_REQUIRE_BROWSER=1`` (set by CI) makes that a failure.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course_lib.tools.nbtools import NOTEBOOK_ENV

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "test-results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"


def _missing(reason):
    if REQUIRED:
        pytest.fail(f"{reason} (COURSE_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if CHROMIUM is None:
        _missing("Chromium is not installed: apt-get install chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("playwright is not installed: pip install playwright")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    home = tmp_path_factory.mktemp("home")
    # Serve a copy: JupyterLab autosaves, and the course's stored outputs must not change.
    served = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "notebooks" / "01_perceptron.ipynb", served / "01_perceptron.ipynb")
    # User settings of this lab only: no "get notified about Jupyter news?" toast over the screenshot.
    settings = home / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}')
    env = {**os.environ, **NOTEBOOK_ENV, "JUPYTER_CONFIG_DIR": str(home / "config"), "COURSE_HEADLESS": "0",
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    log = open(home / "lab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={served}",
            "--LabApp.news_url=",
            "--LabServerApp.workspaces_dir=" + str(home / "workspaces"),
        ]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                log.close()
                pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield base, token, home
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_chapter_1_runs_and_its_widget_responds(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, home = lab
    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/lab/tree/01_perceptron.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_be_visible(timeout=60_000)

        try:
            _run_all_and_move_the_slider(page)
        except Exception:
            page.screenshot(path=str(RESULTS / "browser-failure.png"))
            status = page.locator(".jp-StatusBar-Widget").all_inner_texts()
            dialogs = page.locator(".jp-Dialog").all_inner_texts()
            print("status bar:", status, "dialogs:", dialogs)
            print("JupyterLab log:\n" + (home / "lab.log").read_text()[-3000:])
            raise
        browser.close()


def _run_all_and_move_the_slider(page):
    """Run every cell from the menu, wait for the figures and the slider, move it."""
    from playwright.sync_api import expect

    first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
    for attempt in range(3):  # a click that lands while the page is still settling can be lost
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            expect(first_prompt).to_contain_text(re.compile(r"\[(\*|\d+)\]"), timeout=60_000)
            break
        except AssertionError:
            if attempt == 2:
                raise

    slider = page.locator(".widget-slider").first
    slider.wait_for(state="visible", timeout=240_000)
    widget_image = page.locator(".jupyter-widgets .jp-OutputArea-output img").first
    widget_image.wait_for(state="visible", timeout=60_000)
    assert page.locator(".jp-OutputArea-output img").count() >= 5, "the chapter's figures did not appear"

    before = widget_image.get_attribute("src")
    readout = page.locator(".widget-readout").nth(2)  # the bias slider's editable readout
    readout.scroll_into_view_if_needed()
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("-3")
    page.keyboard.press("Enter")
    expect(page.locator(".jupyter-widgets .jp-OutputArea-output img").first).not_to_have_attribute(
        "src", before, timeout=30_000
    )
    page.locator(".jupyter-widgets").first.scroll_into_view_if_needed()
    page.screenshot(path=str(RESULTS / "browser-chapter1-widget.png"))
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def test_exported_slides_work_offline(tmp_path):
    """Chapter 1's exported slides, opened from disk with the network off:
    reveal.js starts, MathJax draws the equations, a tall slide scrolls, and
    nothing is requested from anywhere but the export folder."""
    if CHROMIUM is None:
        _missing("Chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    from course_lib.tools.nbtools import export_slides

    html = export_slides(ROOT / "notebooks" / "01_perceptron.ipynb", tmp_path / "slides")
    RESULTS.mkdir(exist_ok=True)
    outside, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        local = (html.parent.as_uri(), "data:")
        page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
        page.on("requestfailed", lambda r: errors.append(f"{r.url}: {r.failure}"))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        page.wait_for_selector(".reveal.ready", timeout=30_000)
        page.wait_for_selector("mjx-container svg", timeout=30_000)
        assert page.locator(".reveal .slides > section").count() >= 9
        page.keyboard.press("ArrowRight")  # section 1: taller than the screen
        page.wait_for_timeout(1000)
        scrolls = page.evaluate(
            "() => Array.from(document.querySelectorAll('section.present'))"
            ".some(s => s.style.overflowY === 'scroll' && s.scrollHeight > s.clientHeight)"
        )
        page.screenshot(path=str(RESULTS / "slides-chapter1.png"))
        browser.close()
    assert outside == [] and errors == [], f"requests outside the export: {outside}; errors: {errors}"
    assert scrolls, "the tall slide neither fits nor scrolls"
