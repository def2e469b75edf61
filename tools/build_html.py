"""Build the static HTML edition of the book from the committed notebooks, without running them.

    python tools/build_html.py [OUT] [--only book/03_uniform_quantization.ipynb ...]

Writes OUT (default build/html): index.html (the table of contents), book/NN_*.html (every
chapter with its saved outputs and figures) and exercises/NN_*.html (the exercise notebooks),
with every link to a notebook rewritten to its page. It is nbconvert's "lab" template plus
this script (tools/html_offline.html.j2 drops the template's CDN scripts), so it builds offline. The pages work offline
too: the math is typeset by a copy of MathJax 2 in OUT/_static (from the jupyter-server-mathjax
package, without its translations) and no page loads anything from the network. A widget cannot move in a static page:
its output becomes a note naming its controls at their saved values; the figure it drew with
those values stays under it.
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX = "../_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
TEMPLATE = Path(__file__).with_name("html_offline.html.j2")   # the lab page without CDN scripts
NOTEBOOK_LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:)([^"#]*?)\.ipynb(#[^"]*)?"')


def controls(state: dict, model_id: str) -> list[str]:
    """``description = value`` of every control under the widget ``model_id`` in the saved state."""
    model = state.get(model_id, {}).get("state", {})
    found = []
    labels, index = model.get("_options_labels"), model.get("index")
    if labels and isinstance(index, int) and 0 <= index < len(labels):    # Dropdown, SelectionSlider
        found.append(f"{model.get('description') or 'choice'} = {labels[index]}")
    elif model.get("description") and "value" in model:                  # sliders, checkboxes
        found.append(f"{model['description']} = {model['value']}")
    for child in model.get("children", []):
        found += controls(state, str(child).removeprefix("IPY_MODEL_"))
    return found


def freeze_widgets(nb) -> int:
    """Replace each widget output by a note with its saved control values; drop the widget state."""
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            shown = controls(state, view["model_id"])
            note = ("<p class='qnn-static-widget'><b>Interactive widget</b> (it moves in JupyterLab: "
                    "<code>make lab</code>). Saved settings: "
                    + html.escape(", ".join(shown) or "none") + ". The figure below was drawn with them.</p>")
            out["data"] = {"text/html": note, "text/plain": "[interactive widget]"}
            count += 1
    return count


def title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        m = re.search(r"^#\s+(.+)$", cell.source, flags=re.M) if cell.cell_type == "markdown" else None
        if m:
            return m.group(1).strip()
    return fallback


def page(exporter: HTMLExporter, src: Path, out: Path) -> tuple[str, int]:
    nb = nbformat.read(src, as_version=4)
    n_widgets = freeze_widgets(nb)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title_of(nb, src.stem)}})
    body = NOTEBOOK_LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', body)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return title_of(nb, src.stem), n_widgets


def index(chapters: list[tuple[str, str]], exercises: list[tuple[str, str]]) -> str:
    items = "\n".join(f"<li><a href='{href}'>{html.escape(t)}</a></li>" for href, t in chapters)
    ex = "\n".join(f"<li><a href='{href}'>{html.escape(t)}</a></li>" for href, t in exercises)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qnn_lite: the book</title>
<style>body {{ font-family: sans-serif; max-width: 46em; margin: 2em auto; line-height: 1.5 }}</style>
</head><body>
<h1>qnn_lite: learn neural-network quantization by running it</h1>
<p>The static edition: every chapter with the outputs and figures of its committed run. Widgets do
not move here; run the book with <code>make lab</code> to move them and to change the code.</p>
<h2>Chapters</h2>
<ol start="0">
{items}
</ol>
<h2>Exercises</h2>
<p>The student notebooks, to read; to solve them, open them in JupyterLab (<code>make lab</code>).</p>
<ul>
{ex}
</ul>
</body></html>
"""


def build(out: Path, only: list[Path] | None = None) -> dict:
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    mathjax = Path(__import__("jupyter_server_mathjax").__file__).parent / "static"
    shutil.copytree(mathjax, out / "_static" / "mathjax", ignore=shutil.ignore_patterns("localization"))
    exporter = HTMLExporter(template_name="lab", template_file=str(TEMPLATE), mathjax_url=MATHJAX)
    sources = only or sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
    listed = {"book": [], "exercises": []}
    widgets = 0
    for src in sources:
        rel = src.resolve().relative_to(ROOT).with_suffix(".html")
        title, n = page(exporter, src, out / rel)
        widgets += n
        listed[rel.parts[0]].append((rel.as_posix(), title))
    (out / "index.html").write_text(index(listed["book"], listed["exercises"]), encoding="utf-8")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"pages": len(sources) + 1, "widgets": widgets, "bytes": size,
            "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="?", default=str(ROOT / "build" / "html"))
    p.add_argument("--only", nargs="+", type=Path, help="notebooks to convert (default: book/ and exercises/)")
    args = p.parse_args(argv)
    r = build(Path(args.out), [q.resolve() for q in args.only] if args.only else None)
    print(f"{r['pages']} pages ({r['widgets']} widgets frozen), {r['bytes'] / 2**20:.1f} MB, "
          f"{r['seconds']:.1f} s -> {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
