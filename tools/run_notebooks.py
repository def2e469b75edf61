"""Restart & Run All for the book's notebooks, saving outputs in place.

    python tools/run_notebooks.py book/03_uniform_quantization.ipynb ...
    python tools/run_notebooks.py            # every book/*.ipynb

Each notebook runs in a fresh kernel from this environment, with the same
environment the tests use (QNN_LITE_QUIET=1 silences progress bars,
MPLBACKEND=Agg, one BLAS thread), so the committed outputs are what `make test` (nbval) sees.
Prints each notebook's wall time: the book promises < 60 s per chapter.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    os.environ.setdefault("QNN_LITE_QUIET", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as under `make test`
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    paths = [Path(a) for a in argv] or sorted((ROOT / "book").glob("*.ipynb"))
    for p in paths:
        print(f"{p.name:55s} {run(p.resolve()):6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
