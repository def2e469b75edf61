"""The batch grader: masters score 100 %, stubs 0, and broken submissions keep what they got right.

One batch runs every notebook here in real kernels (2 at a time); the crafted
submissions are made from the chapter 01 master in a temporary folder. Scores
count the functions a notebook defines when it has run (the names its `check`
cells pass), public and hidden cases apart.
"""
import csv
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from exercises.__main__ import main as cli
from exercises.build import HERE, MASTERS
from exercises.grade import grade_notebooks, table, write_csv
from nbedit import index as _index, replace_body as _replace_body

FULL_01 = {"1.1": 4, "1.2": 3, "1.3": 2, "1.4": 4}
HIDDEN_01 = {"1.2": 1, "1.4": 1}  # exercises/hidden/ch01.py


def _crafted(master):
    subs = {}
    nb = nbformat.read(str(master), as_version=4)

    partial = nbformat.from_dict(nb)  # wrong 1.4 (rounds ties up), raising 1.3, a cell that raises
    _replace_body(partial, "# Exercise 1.4", "d = np.abs(w).max() / (2 ** (bits - 1) - 1)\n"
                                             "if d == 0:\n    return np.zeros_like(w)\n"
                                             "return np.floor(w / d + 0.5) * d")
    _replace_body(partial, "# Exercise 1.3", "return 1 / 0")
    partial.cells.insert(2, new_code_cell('raise RuntimeError("oops")'))
    subs["partial"] = (partial, {**FULL_01, "1.3": 0, "1.4": 3}, "RuntimeError")

    loop = nbformat.from_dict(nb)  # a cell that never ends, and a function that never returns
    _replace_body(loop, "# Exercise 1.2", "while True:\n    pass")
    loop.cells.insert(_index(loop, 'check("1.1"') + 1, new_code_cell("while True:\n    pass"))
    subs["loop"] = (loop, {**FULL_01, "1.2": 0}, "CellTimeout")

    exit_deleted = nbformat.from_dict(nb)  # sys.exit in a cell, a deleted check cell (its function still
    del exit_deleted.cells[_index(exit_deleted, 'check("1.3"')]  # counts), a deleted function (scores 0)
    del exit_deleted.cells[_index(exit_deleted, "# Exercise 1.4")]
    exit_deleted.cells.insert(_index(exit_deleted, 'check("1.1"') + 1, new_code_cell("import sys\nsys.exit(1)"))
    subs["exit_deleted"] = (exit_deleted, {**FULL_01, "1.4": 0}, "NameError")

    dead = nbformat.from_dict(nb)  # the kernel dies after 1.2: the cells before it are re-run and graded
    dead.cells.insert(_index(dead, 'check("1.2"') + 1, new_code_cell("import os\nos._exit(1)"))
    subs["dead"] = (dead, {**FULL_01, "1.3": 0, "1.4": 0}, "kernel died")
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("submissions")
    masters = sorted(MASTERS.glob("[0-9][0-9]_*.ipynb"))
    students = [HERE / m.name for m in masters]
    expected = {}
    for name, (nb, points, note) in _crafted(masters[0]).items():
        path = tmp / f"01_{name}.ipynb"
        nbformat.write(nb, str(path))
        expected[str(path)] = (points, note)
    paths = [str(p) for p in masters + students] + list(expected)
    grades = grade_notebooks(paths, jobs=2, timeout=6, case_timeout=3)
    return {g.path: g for g in grades}, [str(m) for m in masters], [str(s) for s in students], expected


def test_masters_score_100_percent(graded):
    grades, masters, _, _ = graded
    for m in masters:
        g = grades[m]
        assert g.max_total > 0 and g.total == g.max_total, (m, g.points, g.notes, g.details)
        assert g.notes == []
    assert grades[masters[0]].hidden_points == HIDDEN_01 == grades[masters[0]].hidden_max_points


def test_student_notebooks_score_0_and_fail_only_as_not_attempted(graded):
    grades, _, students, _ = graded
    for s in students:
        g = grades[s]
        assert g.total == 0 and g.max_total > 0 and g.notes == []
        assert sorted(g.details) == sorted(g.max_points)  # every exercise was checked
        hints = [c["hint"] for rec in g.details.values() for c in rec["cases"]]
        assert hints and all(h.startswith("not attempted yet") for h in hints)
    assert any(c["hidden"] for rec in grades[students[0]].details.values() for c in rec["cases"])


def test_broken_submissions_keep_what_they_got_right(graded):
    grades, _, _, expected = graded
    for path, (points, note) in expected.items():
        g = grades[path]
        assert g.points == points, (path, g.notes, g.details)
        assert g.max_total == 15 and g.public_total == sum(points.values())
        assert any(note in n for n in g.notes), (path, g.notes)


def test_table_and_gradebook(graded, tmp_path):
    grades = list(graded[0].values())
    text = table(grades)
    assert "1.1" in text and "3.6" in text and "1.4h" in text and "15/15" in text and "0/23" in text
    write_csv(grades, tmp_path / "book.csv")
    rows = list(csv.DictReader(open(tmp_path / "book.csv")))
    assert len(rows) == len(grades)
    by_name = {r["notebook"]: r for r in rows}
    partial = next(p for p in by_name if p.endswith("01_partial.ipynb"))
    row = by_name[partial]
    assert (row["1.4"], row["public"], row["3.1"], row["1.4 hidden"], row["hidden_max"]) == ("3", "10", "", "1", "2")
    assert int(row["total"]) == 10 + int(row["hidden"]) and "RuntimeError" in row["notes"]


def test_cli_scores_an_unreadable_submission_as_zero(tmp_path, capsys):
    bad = tmp_path / "03_garbage.ipynb"
    bad.write_text("{ not json")
    missing = tmp_path / "02_missing.ipynb"
    assert cli(["grade", str(bad), str(missing), "-j", "1", "--json", "--csv", str(tmp_path / "g.csv")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["total"], r["max_total"]) for r in out] == [(0, 23), (0, 11)]
    assert all("could not read" in r["notes"][0] for r in out)
    assert (tmp_path / "g.csv").read_text().count("\n") == 3
