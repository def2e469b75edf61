"""Every link in the book, the exercise notebooks and the READMEs resolves from `make lab`.

`make lab` roots JupyterLab at the repository, so a relative link works there exactly when
its target exists inside the repository; a link to a heading (``file.ipynb#Some-heading``)
works when that notebook has the heading (JupyterLab's anchor: the heading text, spaces
as dashes). The browser test asks the running server for the same targets.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=\"([^\"]+)\"")


def documents() -> list[Path]:
    return (sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
            + [ROOT / "README.md", ROOT / "exercises" / "README.md"])


def markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def links_of(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", markdown_of(path), flags=re.S)   # code blocks hold no links
    return [a or b for a, b in LINK.findall(text)]


def heading_anchors(path: Path) -> set[str]:
    """The anchors JupyterLab (notebooks) or GitHub (markdown) gives the headings of ``path``."""
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown_of(path), flags=re.M)
    if path.suffix == ".ipynb":
        return {h.replace(" ", "-") for h in heads}
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def internal_links() -> list[tuple[Path, str]]:
    return [(doc, link) for doc in documents() for link in links_of(doc)
            if not re.match(r"[a-z][a-z0-9+.-]*:", link)]          # http:, https:, mailto: ...


def resolve(doc: Path, link: str) -> tuple[Path, str]:
    target, _, anchor = link.partition("#")
    path = (doc.parent / unquote(target)).resolve() if target else doc
    return path, unquote(anchor)


def test_the_documents_have_links_to_check():
    pairs = internal_links()
    # the index links every chapter and every exercise; each chapter its exercise and neighbours
    assert len(pairs) >= 2 * 10 + 3 * 10
    assert any(link.startswith("../exercises/") for doc, link in pairs if doc.name == "00_index.ipynb")


@pytest.mark.parametrize("doc,link", internal_links(),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_link_resolves_inside_the_lab_root(doc, link):
    path, anchor = resolve(doc, link)
    assert path.is_relative_to(ROOT), f"{doc.name}: {link!r} leaves the repository, so JupyterLab cannot open it"
    assert path.exists(), f"{doc.relative_to(ROOT)}: {link!r} points to a missing file {path}"
    if anchor and path.suffix in (".ipynb", ".md"):
        assert anchor in heading_anchors(path), f"{doc.name}: no heading {anchor!r} in {path.name}"


def test_a_broken_link_is_caught(tmp_path):
    doc = tmp_path / "x.ipynb"
    doc.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["# Top here\n[a](missing.ipynb) [b](#Top-here) [c](https://x.org)"]}]}))
    assert links_of(doc) == ["missing.ipynb", "#Top-here", "https://x.org"]
    assert not resolve(doc, "missing.ipynb")[0].exists()
    assert resolve(doc, "#Top-here") == (doc, "Top-here") and "Top-here" in heading_anchors(doc)
