"""`python -m exercises release DIR`: what an instructor hands to students, without solutions or hidden cases.

DIR gets the student notebooks (built afresh from the masters, outputs cleared)
and, in DIR/exercises/, the package `check` needs: `runner`, `registry`,
`expect` and the public `checks/`. Left out: `masters/`, `hidden/`, and the
grader (`grade`, `collect`, `replay`, `sandbox`, `build`, `release`, `selftest`).
Open the notebooks from DIR (Jupyter's working directory is the notebook's
folder, so `from exercises import check` finds DIR/exercises); qnn_lite comes
from the environment (`pip install qnn_lite`, or the repository installed).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from .build import MASTERS, make_student, render

HERE = Path(__file__).resolve().parent
PACKAGE_FILES = ("__init__.py", "runner.py", "registry.py", "expect.py")
README = """# qnn_lite exercises

Open a notebook here in Jupyter (this folder must be the notebook's working
directory, so that `from exercises import check` finds `exercises/`), replace each
`raise NotImplementedError(...)` with your code and run the `check(...)` cell under
it: ✓/✗ per case, a hint per failure, your points. Hand in the notebook as it is.

The grader runs the same public cases and a few more it keeps to itself, on the
functions your notebook defines when it has run top to bottom.
"""


class ReleaseError(ValueError):
    """The release directory cannot be written."""


def release(out_dir, masters_dir=MASTERS) -> list:
    """Write the student release into `out_dir` (new or empty); returns the files written."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReleaseError(f"release directory {out} must be new or empty")
    if not out.parent.resolve().is_dir():
        raise ReleaseError(f"release directory {out}: its parent {out.parent.resolve()} does not exist")
    (out / "exercises" / "checks").mkdir(parents=True)
    written = []
    for master in sorted(Path(masters_dir).glob("[0-9][0-9]_*.ipynb")):
        dest = out / master.name
        dest.write_text(render(make_student(nbformat.read(str(master), as_version=4))), encoding="utf-8")
        written.append(dest)
    for name in PACKAGE_FILES:
        written.append(Path(shutil.copy2(HERE / name, out / "exercises" / name)))
    for src in sorted((HERE / "checks").glob("*.py")):
        written.append(Path(shutil.copy2(src, out / "exercises" / "checks" / src.name)))
    (out / "README.md").write_text(README, encoding="utf-8")
    written.append(out / "README.md")
    return written


def main(out_dir) -> int:
    try:
        files = release(out_dir)
    except ReleaseError as e:
        print(f"python -m exercises release: error: {e}")
        return 2
    print(f"wrote {len(files)} files to {out_dir} (student notebooks and the public checks; "
          "no masters, no hidden cases, no grader)")
    return 0
