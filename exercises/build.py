"""`python -m exercises build`: generate the student notebooks from the masters.

A master (`exercises/masters/NN_name.ipynb`) holds each solution between
`### BEGIN SOLUTION` and `### END SOLUTION` lines, in a code cell whose first line
is `# Exercise N.k: <one line saying what to do>`. The student notebook
(`exercises/NN_name.ipynb`) is the master with every solution replaced by
`raise NotImplementedError("Exercise N.k: <what to do>")` at the marker's
indentation and all outputs cleared. Its metadata records a hash of the cells
(`qnn_lite.content_hash`); `build` never overwrites a student notebook whose
cells no longer match that hash (the student edited it) unless `force=True`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
MASTERS = HERE / "masters"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_HEADER = re.compile(r"^#\s*Exercise\s+(\d+\.\d+)\s*:\s*(.+?)\s*$")


class BuildError(ValueError):
    """A master notebook is malformed (markers unbalanced, header missing)."""


def content_hash(nb) -> str:
    """sha256 of the cells' types and sources: what a student edits (outputs are ignored)."""
    cells = [[c["cell_type"], c["source"]] for c in nb["cells"]]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace each BEGIN/END SOLUTION block by a `raise NotImplementedError(...)` line."""
    lines = source.split("\n")
    match = _HEADER.match(lines[0].strip()) if lines else None
    if not match:
        raise BuildError(f"{where}: a cell with solutions must start with "
                         f"'# Exercise N.k: <what to do>', got {lines[0]!r}")
    message = f"Exercise {match.group(1)}: {match.group(2)}"
    out, inside = [], False
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise BuildError(f"{where} line {n}: {BEGIN} inside another solution")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})")
        elif stripped == END:
            if not inside:
                raise BuildError(f"{where} line {n}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise BuildError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def make_student(master) -> nbformat.NotebookNode:
    """The student notebook for a master notebook node (solutions stubbed, outputs cleared)."""
    nb = copy.deepcopy(master)
    exercise_ids = []
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if BEGIN in cell.source:
            cell.source = strip_solutions(cell.source, where=f"cell {i}")
            exercise_ids.append(_HEADER.match(cell.source.split("\n")[0].strip()).group(1))
    chapter = f"{int(exercise_ids[0].split('.')[0]):02d}" if exercise_ids else None
    nb.metadata["qnn_lite"] = {"chapter": chapter, "exercises": exercise_ids, "generated_from": "masters"}
    nb.metadata["qnn_lite"]["content_hash"] = content_hash(nb)
    return nb


def student_path(master_path: Path, out_dir: Path) -> Path:
    return Path(out_dir) / Path(master_path).name


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def is_edited(path: Path) -> bool:
    """True if the notebook at `path` no longer matches the hash `build` recorded."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 -- unreadable counts as edited: never overwrite it
        return True
    recorded = nb.metadata.get("qnn_lite", {}).get("content_hash")
    return recorded is None or recorded != content_hash(nb)


def build(masters_dir=MASTERS, out_dir=HERE, force: bool = False) -> list:
    """Build every master; returns [(student_path, status)], status in written/unchanged/refused."""
    results = []
    for master_path in sorted(Path(masters_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = make_student(nbformat.read(str(master_path), as_version=4))
        text, dest = render(nb), student_path(master_path, out_dir)
        if dest.exists():
            if dest.read_text(encoding="utf-8") == text:
                results.append((dest, "unchanged"))
                continue
            if not force and is_edited(dest):
                results.append((dest, "refused"))
                continue
        dest.write_text(text, encoding="utf-8")
        results.append((dest, "written"))
    return results


def main(force: bool = False, masters_dir=MASTERS, out_dir=HERE) -> int:
    results = build(masters_dir, out_dir, force)
    for path, status in results:
        if status == "refused":
            print(f"refused  {path}: it was edited since it was built (its cells differ from the "
                  "recorded hash); not overwriting a student's work. Move it away or use --force.")
        else:
            print(f"{status:10s}{path}")
    if not results:
        print(f"no masters found in {masters_dir}")
    return 1 if any(s == "refused" for _, s in results) else 0
