"""`python -m exercises grade PATH...`: run submitted notebooks headlessly and score them.

Each notebook runs in a fresh kernel inside its own sandbox process
(`exercises.sandbox`: per-cell timeout, a wall-clock budget, an output cap, no
process left behind). After the student's cells the sandbox runs the grader's
collector cell (`exercises.collect`): every case of the chapter, public and
hidden, is run on the function the notebook's `check("N.k", fn)` cell names, as
the notebook left it, and each call's arguments and outcome go out as plain data
in the kernel's own messages (a per-run nonce, no files). This process -- which
imported every check before any notebook ran and never runs student code --
replays those calls (`exercises.replay`) and scores them. What `check` printed
or computed in the notebook does not count.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .collect import MIME
from .gradebook import exercise_columns, table, write_csv  # noqa: F401 -- the CLI's and tests' names
from .registry import CHAPTERS, chapter_exercises
from .replay import score_exercise
from .runner import DEFAULT_TIMEOUT
from .sandbox import MARKER_ENV, _pids_with_marker

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # holds the qnn_lite and exercises packages
MASTERS = HERE / "masters"
_CHECK = re.compile(r"""check\(\s*["'](\d+\.\d+)["']\s*,\s*([^,)]+)""")


@dataclass
class NotebookGrade:
    path: str
    chapter: str | None
    points: dict = field(default_factory=dict)      # exercise id -> points earned on public cases
    max_points: dict = field(default_factory=dict)  # exercise id -> public points available
    hidden_points: dict = field(default_factory=dict)      # exercise id -> points on hidden cases
    hidden_max_points: dict = field(default_factory=dict)  # exercise id -> hidden points available
    notes: list = field(default_factory=list)       # what went wrong while running
    details: dict = field(default_factory=dict)     # exercise id -> {"cases": [{name, passed, hint, hidden}]}

    @property
    def public_total(self) -> int:
        return sum(self.points.values())

    @property
    def hidden_total(self) -> int:
        return sum(self.hidden_points.values())

    @property
    def total(self) -> int:
        return self.public_total + self.hidden_total

    @property
    def max_total(self) -> int:
        return sum(self.max_points.values()) + sum(self.hidden_max_points.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(public_total=self.public_total, hidden_total=self.hidden_total, total=self.total,
                 max_total=self.max_total)
        return d


def check_arguments(timeout, case_timeout, notebook_timeout, max_output_mb, csv_path=None) -> None:
    """One-line ValueError for a bad grading argument (called before any notebook runs)."""
    for name, value in (("--timeout", timeout), ("--case-timeout", case_timeout),
                        ("--notebook-timeout", notebook_timeout), ("--max-output", max_output_mb)):
        if value is None and name in ("--case-timeout", "--notebook-timeout"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if csv_path is not None:
        parent = Path(csv_path).resolve().parent
        if not parent.is_dir():
            raise ValueError(f"--csv {csv_path}: the directory {parent} does not exist")


def _answers(nb) -> dict:
    """exercise id -> the expression its last `check("N.k", expr)` call passes, in the notebook's code cells."""
    found = {}
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        try:
            tree = ast.parse(cell["source"])
        except SyntaxError:
            for m in _CHECK.finditer(cell["source"]):
                found[m.group(1)] = m.group(2).strip()
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found[node.args[0].value] = ast.unparse(node.args[1])
    return found


_MASTER_ANSWERS: dict = {}


def _master_answers(chapter: str) -> dict:
    if chapter not in _MASTER_ANSWERS:
        import nbformat
        found = {}
        for path in sorted(MASTERS.glob(f"{chapter}_*.ipynb")):
            found.update(_answers(nbformat.read(str(path), as_version=4)))
        _MASTER_ANSWERS[chapter] = found
    return _MASTER_ANSWERS[chapter]


def _hidden_source(chapter: str) -> str | None:
    path = HERE / "hidden" / f"{CHAPTERS[chapter]}.py"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _prepare(path: Path, grade: NotebookGrade):
    """The notebook (or None) and its chapter, with notes on anything odd; never raises."""
    import nbformat
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:  # noqa: BLE001
        grade.notes.append(f"could not read the notebook: {type(e).__name__}: {str(e)[:200]}")
        nb = None
    m = re.match(r"(\d\d)_", path.name)
    by_name = m.group(1) if m and m.group(1) in CHAPTERS else None
    meta = nb.metadata.get("qnn_lite") if nb is not None else None
    if nb is not None and meta is not None and not isinstance(meta, dict):
        grade.notes.append(f"metadata.qnn_lite is a {type(meta).__name__}, not the object `build` writes: "
                           "not graded (scored 0)")
        grade.chapter = by_name
        return None
    by_meta = (meta or {}).get("chapter")
    if by_meta is not None and by_meta not in CHAPTERS:
        grade.notes.append(f"metadata.qnn_lite.chapter is {str(by_meta)[:40]!r}, not a known chapter")
        by_meta = None
    if by_meta and by_name and by_meta != by_name:
        grade.notes.append(f"the file name says chapter {by_name} but metadata.qnn_lite says {by_meta}: "
                           f"graded as chapter {by_meta}")
    grade.chapter = by_meta or by_name
    return nb


def _job(path: Path, nb, chapter: str, timeout, case_timeout, notebook_timeout, max_output_mb, nonce, marker):
    exercises = chapter_exercises(chapter, hidden=True)
    answers = {**_master_answers(chapter), **_answers(nb)}
    answers = {ex.id: answers.get(ex.id, "None") for ex in exercises}
    params = {"chapter": chapter, "answers": answers, "nonce": nonce, "case_timeout": case_timeout,
              "hidden_source": _hidden_source(chapter)}
    source = (HERE / "collect.py").read_text(encoding="utf-8")
    # run in a namespace of its own (the notebook's globals keep their names), reading answers from globals()
    collector = (f"(lambda ns: (exec({source!r}, ns), ns['collect'](ns['json_params'], globals())))"
                 f"({{'__name__': 'qnn_lite_collector', 'json_params': {json.dumps(json.dumps(params))}}})\n")
    n_cases = sum(len(ex.cases) for ex in exercises)
    env = dict(os.environ, QNN_LITE_QUIET="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env[MARKER_ENV] = marker
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env["QNN_LITE_CHECK_TIMEOUT"] = str(case_timeout)
    cells = [[i, c.source] for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and c.source.strip()]
    return {"env": env, "cwd": str(path.parent.resolve()), "cells": cells, "collector": collector, "mime": MIME,
            "cell_timeout": timeout, "notebook_timeout": notebook_timeout, "grace": min(5.0, max(1.0, timeout)),
            "max_output": int(max_output_mb * 1e6), "max_record_bytes": 64_000_000, "startup_timeout": 60,
            "collect_timeout": n_cases * (case_timeout + 1.0) + 30.0}


def _run_sandbox(job) -> dict:
    """Run `exercises.sandbox` in a new session; kill its session and the marker's processes at the end."""
    hard = job["notebook_timeout"] + job["collect_timeout"] + 2 * job["startup_timeout"] + 60
    proc = subprocess.Popen([sys.executable, "-m", "exercises.sandbox"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=job["env"] | {MARKER_ENV: ""},
                            cwd=str(ROOT), start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(job).encode(), timeout=hard)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        return {"notes": [f"the sandbox ran past {hard:g} s and was killed"], "records": []}
    finally:
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass
        _kill_marker(job["env"][MARKER_ENV])
    try:
        return json.loads(out)
    except ValueError:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {"notes": [f"the sandbox failed: {tail[0][:200]}"], "records": []}


def _kill_marker(marker: str) -> None:
    for _ in range(20):
        pids = _pids_with_marker(marker)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def _records(texts, nonce) -> dict:
    """{exercise: {"answer_error": hint} or {case index: record}} from the collector's messages."""
    out = {}
    for text in texts:
        try:
            rec = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if type(rec) is not dict or rec.get("nonce") != nonce or type(rec.get("exercise")) is not str:
            continue
        ex = out.setdefault(rec["exercise"], {})
        if type(rec.get("answer_error")) is str:
            out[rec["exercise"]] = {"answer_error": rec["answer_error"][:500]}
        elif type(rec.get("case")) is int and "answer_error" not in ex:
            ex.setdefault(rec["case"], rec)  # the first record per case: a later forged one changes nothing
    return out


def _score(grade: NotebookGrade, result: dict | None, nonce: str, case_timeout: float) -> None:
    exercises = chapter_exercises(grade.chapter, hidden=True) if grade.chapter else []
    records = _records(result.get("records", []), nonce) if result else {}
    if result is None:
        missing = "not graded: " + (grade.notes[-1] if grade.notes else "no notebook")
    elif result.get("collected"):
        missing = "the grader's run of this case in your kernel did not finish (see the notes)"
    else:
        missing = "not graded: the notebook's kernel was lost before the grader could run the cases"
    for ex in exercises:
        results = score_exercise(ex, records.get(ex.id), case_timeout, missing)
        public = [(c, r) for c, r in zip(ex.cases, results) if not c.hidden]
        hidden = [(c, r) for c, r in zip(ex.cases, results) if c.hidden]
        grade.points[ex.id] = sum(r.points for _, r in public)
        grade.max_points[ex.id] = ex.max_points
        if hidden:
            grade.hidden_points[ex.id] = sum(r.points for _, r in hidden)
            grade.hidden_max_points[ex.id] = ex.hidden_max_points
        grade.details[ex.id] = {"cases": [dict(name=r.name, passed=r.passed, points=r.points,
                                               max_points=r.max_points, hint=r.hint, hidden=c.hidden)
                                          for c, r in zip(ex.cases, results)]}


def grade_notebook(path, timeout: float = 60, case_timeout: float | None = None,
                   notebook_timeout: float | None = None, max_output_mb: float = 50) -> NotebookGrade:
    """Execute one notebook in a sandbox and score it (never raises for a bad notebook)."""
    return _grade_all([path], 1, timeout, case_timeout, notebook_timeout, max_output_mb)[0]


def grade_notebooks(paths, jobs: int | None = None, timeout: float = 60, case_timeout: float | None = None,
                    notebook_timeout: float | None = None, max_output_mb: float = 50) -> list:
    """Grade many notebooks, `jobs` sandboxes at a time (default: all cores); results in input order."""
    paths = [str(p) for p in paths]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(paths) or 1))
    return _grade_all(paths, jobs, timeout, case_timeout, notebook_timeout, max_output_mb)


def _grade_all(paths, jobs, timeout, case_timeout, notebook_timeout, max_output_mb) -> list:
    check_arguments(timeout, case_timeout, notebook_timeout, max_output_mb)
    case_timeout = DEFAULT_TIMEOUT if case_timeout is None else float(case_timeout)
    notebook_timeout = float(notebook_timeout) if notebook_timeout is not None else max(300.0, 10 * timeout)
    for chapter in CHAPTERS:  # every check is imported before any student code runs
        chapter_exercises(chapter, hidden=True)
        _master_answers(chapter)
    grades, jobs_to_run = [], []
    for p in paths:
        path = Path(p)
        grade = NotebookGrade(str(path), None)
        nb = _prepare(path, grade)
        nonce = secrets.token_hex(16)
        job = None
        if nb is not None and grade.chapter:
            job = _job(path, nb, grade.chapter, float(timeout), case_timeout, notebook_timeout, max_output_mb,
                       nonce, secrets.token_hex(16))
        elif nb is not None and not grade.chapter:
            grade.notes.append("unknown chapter (neither the file name NN_... nor metadata.qnn_lite.chapter): "
                               "not graded")
        grades.append(grade)
        jobs_to_run.append((job, nonce))

    def run(item):
        job, _ = item
        return _run_sandbox(job) if job is not None else None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run, jobs_to_run))
    for grade, (job, nonce), result in zip(grades, jobs_to_run, results):
        if result is not None:
            grade.notes.extend(result.get("notes", []))
        _score(grade, result if job is not None else None, nonce, case_timeout)
    return grades
