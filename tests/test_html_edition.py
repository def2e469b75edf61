"""`make html`: the static edition has every page, no broken internal link, nothing from the network."""
from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_html  # noqa: E402

pytest.importorskip("jupyter_server_mathjax")


class Links(HTMLParser):
    """The ids a page defines and the (tag, attribute value) of every href/src it uses."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name in ("href", "src") and value is not None:
                self.refs.append((tag, value))


def parse(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "site"
    report = build_html.build(out)
    return out, report


def test_every_chapter_and_exercise_has_a_page(site):
    out, report = site
    notebooks = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
    for nb in notebooks:
        assert (out / nb.relative_to(ROOT).with_suffix(".html")).is_file(), nb
    assert report["pages"] == len(notebooks) + 1
    toc = [v for _, v in parse(out / "index.html").refs]
    for nb in notebooks:
        assert nb.relative_to(ROOT).with_suffix(".html").as_posix() in toc


def test_no_internal_link_is_broken(site):
    out, _ = site
    pages = {p: parse(p) for p in out.rglob("*.html") if "_static" not in p.parts}
    broken, checked = [], 0
    for page, links in pages.items():
        for tag, ref in links.refs:
            url = urlsplit(ref)
            if url.scheme or ref.startswith("//"):
                continue                                   # data:, https: (links out of the book)
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            checked += 1
            if not target.exists():
                broken.append(f"{page.relative_to(out)}: {ref}")
            # a browser looks the fragment up as written, then percent-decoded (HTML standard)
            elif url.fragment and target.suffix == ".html" and \
                    not {url.fragment, unquote(url.fragment)} & pages[target].ids:
                broken.append(f"{page.relative_to(out)}: {ref} (no such anchor)")
    assert checked > 200 and not broken, "\n".join(broken)
    assert not any(ref.endswith(".ipynb") for links in pages.values() for _, ref in links.refs)


def test_pages_load_nothing_from_the_network(site):
    out, _ = site
    for page in out.rglob("*.html"):
        if "_static" in page.parts:
            continue
        loads = [ref for tag, ref in parse(page).refs if tag in ("script", "link", "img", "iframe")]
        assert not [r for r in loads if urlsplit(r).scheme in ("http", "https") or r.startswith("//")], page


def test_chapters_keep_their_figures_and_freeze_their_widgets(site):
    out, report = site
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
        text = (out / "book" / nb.with_suffix(".html").name).read_text(encoding="utf-8")
        n_png = sum("image/png" in o.get("data", {}) for o in outputs)
        assert text.count("data:image/png;base64") >= n_png, nb.name
        n_widgets = sum(build_html.WIDGET_VIEW in o.get("data", {}) for o in outputs)
        assert text.count("Interactive widget") == n_widgets, nb.name
        assert "widget-view+json" not in text, nb.name
    assert report["widgets"] >= 1


def test_controls_read_a_saved_widget_state():
    state = {"box": {"state": {"children": ["IPY_MODEL_s", "IPY_MODEL_d"]}},
             "s": {"state": {"description": "bits", "value": 4}},
             "d": {"state": {"description": "scheme", "index": 1, "_options_labels": ["affine", "symmetric"]}}}
    assert build_html.controls(state, "box") == ["bits = 4", "scheme = symmetric"]
