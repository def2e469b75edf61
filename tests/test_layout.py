"""The layout the docs describe is the layout on disk, and the layers import only downward.

* The package docstrings of ``qnn_lite``, ``quantizers``, ``transforms`` and ``recipes`` and the
  README's "Layout" list every module, one line each, and nothing else.
* ``quantizers`` imports no ``transforms`` / ``recipes`` / ``train`` / ``data`` / ``optim`` / ``zoo``;
  ``transforms`` imports no ``recipes`` / ``train`` / ``data``; no library module imports ``viz``
  (except ``viz`` itself) or ``exercises``.
* No import cycle between modules, except ``autograd.tensor`` <-> ``autograd.ops``.
"""
import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import qnn_lite

ROOT = Path(qnn_lite.__file__).parent
README = ROOT.parent / "README.md"
PACKAGES = ["qnn_lite", "qnn_lite.quantizers", "qnn_lite.transforms", "qnn_lite.recipes"]


def _tree(package: str) -> set:
    path = ROOT.parent / package.replace(".", "/")
    return {m.name for m in pkgutil.iter_modules([str(path)]) if not m.name.startswith("_")}


def _listed(doc: str) -> list:
    return re.findall(r"^``(\w+)``\s+\S", doc, flags=re.M)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_docstring_lists_every_module_once(package):
    listed = _listed(importlib.import_module(package).__doc__)
    assert len(listed) == len(set(listed)), f"{package}: a module is listed twice: {listed}"
    assert set(listed) == _tree(package), (f"{package}: listed but missing: {set(listed) - _tree(package)}; "
                                           f"on disk but not listed: {_tree(package) - set(listed)}")


def _readme_layout() -> dict:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Layout", 1)[1].split("\n#", 1)[0]
    out, current = {}, None
    for line in section.splitlines():
        head = re.match(r"^- `(qnn_lite(?:/\w+)?)/`", line)
        item = re.match(r"^  - `(\w+)`\s+\S", line)
        if head:
            current = head.group(1).replace("/", ".")
            out[current] = []
        elif item and current:
            out[current].append(item.group(1))
    return out


def test_readme_layout_lists_every_module_once():
    layout = _readme_layout()
    assert set(layout) == set(PACKAGES)
    for package, listed in layout.items():
        assert len(listed) == len(set(listed)) and set(listed) == _tree(package), package


# ----- layering ---------------------------------------------------------------------------------------
def _modules():
    for info in pkgutil.walk_packages([str(ROOT)], "qnn_lite."):
        path = ROOT.parent / (info.name.replace(".", "/") + ("/__init__.py" if info.ispkg else ".py"))
        yield info.name, info.ispkg, path


def _imports(name: str, ispkg: bool, path: Path) -> set:
    """Absolute names of the qnn_lite / exercises modules ``path`` imports (lazy imports included)."""
    package = name if ispkg else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}  # "from . import x" imports module x
    known = {n for n, _, _ in _modules()} | {"qnn_lite"}
    return {m for m in found if m in known or m.split(".")[0] == "exercises"}


def _under(module: str, *packages: str) -> bool:
    return any(module == f"qnn_lite.{p}" or module.startswith(f"qnn_lite.{p}.") for p in packages)


FORBIDDEN = [  # (importer's package, packages it must not import)
    ("quantizers", ("transforms", "recipes", "train", "data", "optim", "zoo", "viz")),
    ("transforms", ("recipes", "train", "data", "viz")),
    ("recipes", ("viz",)),
]


@pytest.mark.parametrize("name, ispkg, path", list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_layers_import_only_downward(name, ispkg, path):
    imports = _imports(name, ispkg, path)
    assert not [m for m in imports if m.split(".")[0] == "exercises"], f"{name} imports exercises"
    if not _under(name, "viz"):
        assert not [m for m in imports if _under(m, "viz")], f"{name} imports viz"
    for layer, banned in FORBIDDEN:
        if _under(name, layer):
            bad = sorted(m for m in imports if _under(m, *banned))
            assert not bad, f"{name} (in {layer}/) imports {bad}"


def test_the_layering_check_would_catch_an_upward_import(tmp_path):
    fake = tmp_path / "uniform.py"
    fake.write_text("from ..recipes.digits import digits_cnn\nfrom ..viz import uniform\n")
    imports = _imports("qnn_lite.quantizers.uniform", False, fake)
    assert "qnn_lite.recipes.digits" in imports and "qnn_lite.viz.uniform" in imports


def test_no_import_cycle_except_tensor_and_ops():
    """Tensor's methods come from the op modules, which take Tensors: ``tensor`` imports them at its end.
    That is the one allowed cycle, so tensor's own imports of autograd modules are left out."""
    graph = {}
    for name, ispkg, path in _modules():
        deps = {m for m in _imports(name, ispkg, path) if m != name and not m.startswith(name + ".")}
        if ispkg:  # a package's __init__ gathering its children is not a cycle between modules
            deps = {m for m in deps if not m.startswith(name + ".")}
        if name == "qnn_lite.autograd.tensor":
            deps = {m for m in deps if not m.startswith("qnn_lite.autograd.")}
        graph[name] = {m for m in deps if not name.startswith(m + ".")}  # a module's parent package
    cycles = set()

    def reach(a, b, seen):
        for n in graph.get(a, ()):
            if n == b:
                return True
            if n not in seen:
                seen.add(n)
                if reach(n, b, seen):
                    return True
        return False

    for a in graph:
        for b in graph[a]:
            if b in graph and reach(b, a, {b}):
                cycles.add(tuple(sorted((a, b))))
    assert not cycles, sorted(cycles)
