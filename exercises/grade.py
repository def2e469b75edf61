"""`python -m exercises grade PATH...`: run submitted notebooks headlessly and score them.

Each notebook runs top to bottom in a fresh kernel (nbclient, ``allow_errors=True``
so later cells still run, a per-cell timeout that interrupts the kernel). The
kernel's environment sets ``QNN_LITE_EXERCISE_LOG`` to a fresh temporary file;
every ``check(...)`` call appends one JSON line to it (see `exercises.runner`).
After the run the grader reads that file: the *latest* record per exercise
counts, capped at the exercise's points; an exercise without a record scores 0.
So a submission that raises, loops (the cell is interrupted), calls ``sys.exit``,
kills its kernel or deletes cells keeps whatever its ``check`` calls had earned.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from .registry import CHAPTERS, chapter_exercises
from .runner import LOG_ENV, TIMEOUT_ENV

ROOT = Path(__file__).resolve().parent.parent  # holds the qnn_lite and exercises packages


@dataclass
class NotebookGrade:
    path: str
    chapter: str | None
    points: dict = field(default_factory=dict)      # exercise id -> points earned
    max_points: dict = field(default_factory=dict)  # exercise id -> points available
    notes: list = field(default_factory=list)       # what went wrong while running
    details: dict = field(default_factory=dict)     # exercise id -> its latest check record

    @property
    def total(self) -> int:
        return sum(self.points.values())

    @property
    def max_total(self) -> int:
        return sum(self.max_points.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(total=self.total, max_total=self.max_total)
        return d


def _chapter_of(nb, path: Path) -> str | None:
    chapter = (nb.metadata.get("qnn_lite") or {}).get("chapter") if nb is not None else None
    if chapter in CHAPTERS:
        return chapter
    m = re.match(r"(\d\d)_", path.name)
    return m.group(1) if m and m.group(1) in CHAPTERS else None


def _read_log(log_path: str) -> dict:
    """exercise id -> the latest well-formed record that check() appended."""
    latest = {}
    try:
        with open(log_path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    rec["points"] = int(rec["points"])
                    latest[str(rec["exercise"])] = rec
                except (ValueError, KeyError, TypeError):
                    continue  # a torn or foreign line
    except OSError:
        pass
    return latest




def grade_notebook(path, timeout: float = 60, case_timeout: float | None = None) -> NotebookGrade:
    """Execute one notebook in a fresh kernel and score its `check` calls (never raises)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    path = Path(path)
    grade = NotebookGrade(str(path), None)
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:  # noqa: BLE001
        nb = None
        grade.notes.append(f"could not read the notebook: {type(e).__name__}: {e}")
    grade.chapter = _chapter_of(nb, path)
    fd, log_path = tempfile.mkstemp(prefix="qnn_lite_checks_", suffix=".jsonl")
    os.close(fd)
    try:
        if nb is not None:
            env = dict(os.environ, QNN_LITE_QUIET="1", MPLBACKEND="Agg")
            env[LOG_ENV] = log_path
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
            if case_timeout is not None:
                env[TIMEOUT_ENV] = str(case_timeout)
            client = NotebookClient(
                nb, timeout=int(max(1, timeout)), kernel_name="python3", allow_errors=True,
                interrupt_on_timeout=True, startup_timeout=120,
                error_on_timeout={"ename": "CellTimeout", "evalue": f"cell ran longer than {timeout:g} s",
                                  "traceback": []},
                resources={"metadata": {"path": str(path.parent.resolve())}})
            cell_errors = []  # "cell 5: CellTimeout", "cell 7: NameError", ...
            client.on_cell_error = lambda cell, cell_index, execute_reply: cell_errors.append(
                f"cell {cell_index}: {execute_reply['content'].get('ename')}")
            try:
                client.execute(env=env, stderr=subprocess.DEVNULL)
            except DeadKernelError:
                grade.notes.append("the kernel died (os._exit, exit() or a crash); later cells did not run")
            except Exception as e:  # noqa: BLE001 -- a broken submission never stops the batch
                grade.notes.append(f"execution stopped: {type(e).__name__}: {str(e)[:200]}")
            grade.notes[:0] = cell_errors
        earned = _read_log(log_path)
    finally:
        os.unlink(log_path)
    expected = chapter_exercises(grade.chapter) if grade.chapter else []
    for ex in expected:
        grade.max_points[ex.id] = ex.max_points
        rec = earned.get(ex.id)
        grade.points[ex.id] = max(0, min(rec["points"], ex.max_points)) if rec else 0
        if rec:
            grade.details[ex.id] = rec
    if not expected and earned:
        grade.notes.append("unknown chapter: scores not counted")
    return grade


def _grade_one(args):
    return grade_notebook(*args)


def grade_notebooks(paths, jobs: int | None = None, timeout: float = 60,
                    case_timeout: float | None = None) -> list:
    """Grade many notebooks, `jobs` at a time in separate processes (default: all cores).

    Workers are started with "spawn": a script that calls this with jobs > 1 needs the
    usual `if __name__ == "__main__":` guard (pytest and `python -m exercises` are fine).
    """
    paths = [str(p) for p in paths]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths) or 1))
    tasks = [(p, timeout, case_timeout) for p in paths]
    if jobs == 1:
        return [_grade_one(t) for t in tasks]
    grades = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_grade_one, t) for t in tasks]
        for p, fut in zip(paths, futures):
            try:
                grades.append(fut.result())
            except Exception as e:  # noqa: BLE001 -- a dead worker: score 0, keep going
                g = NotebookGrade(p, None, notes=[f"grader worker failed: {type(e).__name__}: {e}"])
                grades.append(g)
    return grades


def exercise_columns(grades) -> list:
    ids = {ex for g in grades for ex in g.max_points}
    return sorted(ids, key=lambda s: tuple(int(p) for p in s.split(".")))


def table(grades) -> str:
    cols = exercise_columns(grades)
    name_w = max([len("notebook")] + [len(g.path) for g in grades])
    header = f"{'notebook':<{name_w}}  " + "  ".join(f"{c:>5}" for c in cols) + "   total"
    lines = [header, "-" * len(header)]
    for g in grades:
        cells = "  ".join(f"{g.points[c]:>2}/{g.max_points[c]:<2}" if c in g.max_points else f"{'-':>5}"
                          for c in cols)
        lines.append(f"{g.path:<{name_w}}  {cells}   {g.total}/{g.max_total}")
        for note in g.notes:
            lines.append(f"{'':<{name_w}}    note: {note}")
    return "\n".join(lines)


def write_csv(grades, path) -> None:
    cols = exercise_columns(grades)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["notebook", *cols, "total", "max_total"])
        for g in grades:
            w.writerow([g.path, *(g.points.get(c, "") for c in cols), g.total, g.max_total])
