"""The book in a real browser: `make lab` served to headless Chromium, driven by Playwright.

Starts `make lab` (JupyterLab rooted at the repository, --allow-root when root) on a free
loopback port with a token, on a COPY of book/ and exercises/ with autosave off, so the
committed notebooks are never written. Then: the server opens the index; every link the
link test walks is served; a chapter with widgets runs top to bottom in the browser with
every widget a live control (no text fallback, no "Error displaying widget", no console
errors) and a moved slider redraws its figure; an exercise notebook opens. Last, a page of
the HTML edition (`make html`) displays from the file system with nothing from the network.

Run with `make test-browser` (excluded from `make test`). It drives Debian's chromium
(`apt-get install chromium`) through `executable_path`: never `playwright install`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from test_book_links import ROOT, internal_links, resolve

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDGET_CHAPTER = "book/07_nonuniform.ipynb"      # sliders and a dropdown; runs in ~5 s
EXERCISE = "exercises/01_why_quantize.ipynb"
# JupyterLab settings for the test server: no autosave, every cell in the page (no windowing),
# no calls home for news or updates.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"checkForUpdates": False, "fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fingerprint() -> dict[str, str]:
    files = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def sync_api():
    """playwright.sync_api, once Debian's chromium and playwright are known to be there."""
    # `make test-browser` sets QNN_LITE_BROWSER_REQUIRED: there a missing browser fails, not skips
    missing = pytest.fail if os.environ.get("QNN_LITE_BROWSER_REQUIRED") else pytest.skip
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} missing: apt-get install chromium")
    return sync_api


@pytest.fixture(scope="module")
def lab(tmp_path_factory, sync_api):
    """(base url, token, served folder) of a running `make lab`; stopped afterwards."""
    tmp = tmp_path_factory.mktemp("lab")
    site = tmp / "repo"
    for part in ("book", "exercises"):
        shutil.copytree(ROOT / part, site / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for name in ("README.md", "Makefile", "pyproject.toml", "requirements-lock.txt"):
        shutil.copy(ROOT / name, site / name)
    for name, value in SETTINGS.items():
        (tmp / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / name).write_text(json.dumps(value))
    port, token = free_port(), os.urandom(16).hex()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), PYTHONPATH=str(ROOT))
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 " \
           f"--IdentityProvider.token={token}"
    # INSTALL= : reuse this interpreter's environment instead of building .venv in the copy
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(["make", "-s", "-C", str(site), "lab", "INSTALL=", f"VENV={sys.prefix}",
                             f"LAB_ARGS={args}"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    before = fingerprint()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("make lab did not start:\n" + (tmp / "lab.log").read_text())
                time.sleep(0.5)
        yield base, token, site
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert fingerprint() == before, "the browser test modified a committed notebook"


@pytest.fixture(scope="module")
def browser(sync_api):
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def open_notebook(page, base, token, path):
    page.goto(f"{base}/lab/tree/{path}?token={token}&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)


def menu(page, name, item):
    page.click(f".lm-MenuBar-itemLabel:text-is('{name}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def test_the_server_opens_the_index(lab, page):
    base, token, _ = lab
    page.goto(f"{base}/?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    assert page.url.split("?")[0].endswith("/lab/tree/book/00_index.ipynb")
    assert page.locator(".jp-MarkdownCell h1").first.inner_text().strip()


def test_every_link_is_served(lab):
    base, token, site = lab
    missing = []
    for doc, link in internal_links():
        path, _ = resolve(doc, link)
        rel = path.relative_to(ROOT).as_posix()
        try:
            urllib.request.urlopen(f"{base}/api/contents/{quote(rel)}?content=0&token={token}", timeout=10)
        except OSError as e:
            missing.append(f"{doc.name}: {link} -> {rel} ({e})")
    assert not missing, "\n".join(missing)


def test_a_widget_chapter_runs_with_live_widgets(lab, page):
    base, token, site = lab
    open_notebook(page, base, token, WIDGET_CHAPTER)
    cells = json.loads((site / WIDGET_CHAPTER).read_text(encoding="utf-8"))["cells"]
    n_code = sum(c["cell_type"] == "code" for c in cells)
    menu(page, "Edit", "Clear Outputs of All Cells")       # so that every output below is new
    page.wait_for_function("() => !document.querySelector('.jp-OutputArea-output')")
    menu(page, "Run", "Run All Cells")
    # every code cell has run when every input prompt shows a number
    page.wait_for_function(
        """n => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
               .filter(p => /\\[\\d+\\]/.test(p.textContent)).length === n""", arg=n_code, timeout=180_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    text = page.locator(".jp-Notebook").inner_text()
    assert "Error displaying widget" not in text
    assert "Traceback" not in text
    widgets = page.locator(".jp-OutputArea-output .jupyter-widgets.widget-container")
    assert widgets.count() >= 1, "no live widget rendered"
    fallbacks = page.locator(".jp-OutputArea-output[data-mime-type='text/plain']").all_inner_texts()
    assert not [t for t in fallbacks if t.startswith(("VBox(", "HBox(", "IntSlider("))], "a widget fell back to text"
    # moving a slider with the keyboard redraws the figure shown under the controls
    cell = page.locator(".jp-CodeCell", has=page.locator(".widget-slider")).first
    figure = cell.locator(".jp-OutputArea-output img").last
    readout = cell.locator(".widget-slider .widget-readout").first
    src, value = figure.get_attribute("src"), readout.inner_text()
    handle = cell.locator(".widget-slider .noUi-handle").first
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    deadline = time.monotonic() + 30
    while figure.get_attribute("src") == src and time.monotonic() < deadline:
        time.sleep(0.25)
    assert readout.inner_text() != value, "the slider did not move"
    assert figure.get_attribute("src") != src, "moving the slider did not redraw the figure"
    assert not page.errors, page.errors


def test_an_exercise_notebook_opens(lab, page):
    base, token, site = lab
    open_notebook(page, base, token, EXERCISE)
    n_cells = len(json.loads((site / EXERCISE).read_text(encoding="utf-8"))["cells"])
    page.wait_for_function("n => document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length === n", arg=n_cells)
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    assert tab.inner_text().strip() == Path(EXERCISE).name
    assert not page.errors, page.errors


def test_the_html_edition_displays_offline(page, tmp_path):
    """A page of `make html`, opened from the file system: math typeset by the local MathJax,
    every figure decoded, nothing requested from the network."""
    sys.path.insert(0, str(ROOT / "tools"))
    import build_html
    chapter = ROOT / "book" / "03_uniform_quantization.ipynb"
    build_html.build(tmp_path / "html", [chapter])
    remote, failed = [], []
    page.on("request", lambda r: r.url.startswith(("http:", "https:")) and remote.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto((tmp_path / "html" / "book" / "03_uniform_quantization.html").as_uri())
    page.wait_for_function("() => document.querySelectorAll('.MathJax').length > 20", timeout=60_000)
    n_png = sum("image/png" in o.get("data", {}) for c in json.loads(chapter.read_text(encoding="utf-8"))["cells"]
                for o in c.get("outputs", []))
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) >= n_png and all(w > 0 for w in widths)
    assert "Interactive widget" in page.inner_text("body")
    assert not remote, remote
    # MathJax probes web-font loading with a blank font at about:blank, which file:// pages refuse;
    # that refusal (and only it) is expected
    assert set(failed) <= {"about:blank"}, failed
    errors = [e for e in page.errors if "about:blank" not in e and
              not (failed and e == "Failed to load resource: net::ERR_FAILED")]
    assert not errors, errors
