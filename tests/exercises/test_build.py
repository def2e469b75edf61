"""build: student notebooks are the masters with solutions stubbed, and edited ones are never overwritten."""
import shutil

import nbformat
import pytest

from exercises.build import (BEGIN, END, HERE, MASTERS, BuildError, build, make_student, render,
                             strip_solutions)
from exercises.__main__ import main as cli

MASTER_FILES = sorted(MASTERS.glob("[0-9][0-9]_*.ipynb"))


def test_there_is_a_master_for_every_chapter_with_checks():
    from exercises.registry import CHAPTERS
    chapters = [p.name[:2] for p in MASTER_FILES]
    assert chapters == sorted(CHAPTERS)
    assert {"01", "02", "03", "04", "05", "06", "07"} <= set(chapters)


@pytest.mark.parametrize("master", MASTER_FILES, ids=lambda p: p.name)
def test_student_notebook_on_disk_is_what_build_makes_now(master):
    student = HERE / master.name
    want = render(make_student(nbformat.read(str(master), as_version=4)))
    assert student.read_text(encoding="utf-8") == want, "run `python -m exercises build`"


def _solution_lines(master_nb):
    inside, sol, rest = False, set(), set()
    for cell in master_nb.cells:
        for line in cell.source.split("\n"):
            s = line.strip()
            if s in (BEGIN, END):
                inside = s == BEGIN
            elif len(s) >= 12:
                (sol if inside else rest).add(s)
    return sol - rest


@pytest.mark.parametrize("master", MASTER_FILES, ids=lambda p: p.name)
def test_student_notebook_holds_no_solution_text(master):
    master_nb = nbformat.read(str(master), as_version=4)
    text = (HERE / master.name).read_text(encoding="utf-8")
    lines = _solution_lines(master_nb)
    assert len(lines) >= 3
    student = nbformat.read(str(HERE / master.name), as_version=4)
    sources = "\n".join(c.source for c in student.cells)
    leaked = [s for s in lines if s in sources]
    assert leaked == []
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    stubs = [c for c in student.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert len(stubs) == len(student.metadata["qnn_lite"]["exercises"]) >= 3
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_strip_solutions_keeps_indentation_and_names_the_exercise():
    src = "# Exercise 9.1: add one\ndef f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"
    assert strip_solutions(src) == ('# Exercise 9.1: add one\ndef f(x):\n'
                                    '    raise NotImplementedError("Exercise 9.1: add one")')


@pytest.mark.parametrize("src, match", [
    ("def f():\n    ### BEGIN SOLUTION\n    ### END SOLUTION", "must start with"),
    ("# Exercise 9.1: x\n### BEGIN SOLUTION\nreturn 1", "without ### END"),
    ("# Exercise 9.1: x\n### END SOLUTION", "without ### BEGIN"),
])
def test_malformed_masters_are_refused(src, match):
    with pytest.raises(BuildError, match=match):
        strip_solutions(src)


def test_build_refuses_to_overwrite_an_edited_notebook_and_force_works(tmp_path, capsys):
    masters, out = tmp_path / "masters", tmp_path / "out"
    masters.mkdir(), out.mkdir()
    shutil.copy(MASTER_FILES[0], masters)
    name = MASTER_FILES[0].name
    assert [s for _, s in build(masters, out)] == ["written"]
    assert [s for _, s in build(masters, out)] == ["unchanged"]
    fresh = (out / name).read_text()

    # running cells (outputs, execution counts) is not an edit: rebuilt without --force
    nb = nbformat.read(str(out / name), as_version=4)
    nb.cells[1].execution_count = 1
    nbformat.write(nb, str(out / name))
    assert [s for _, s in build(masters, out)] == ["written"]

    nb = nbformat.read(str(out / name), as_version=4)
    nb.cells[3].source = nb.cells[3].source.replace("raise NotImplementedError", "return 1  #")
    nbformat.write(nb, str(out / name))
    edited = (out / name).read_text()
    assert [s for _, s in build(masters, out)] == ["refused"]
    assert (out / name).read_text() == edited

    from exercises import build as build_mod
    assert build_mod.main(masters_dir=masters, out_dir=out) == 1
    msg = capsys.readouterr().out
    assert "refused" in msg and name in msg and "--force" in msg

    assert [s for _, s in build(masters, out, force=True)] == ["written"]
    assert (out / name).read_text() == fresh


def test_cli_build_is_a_no_op_on_an_up_to_date_tree(capsys):
    assert cli(["build"]) == 0
    out = capsys.readouterr().out
    assert out.count("unchanged") == len(MASTER_FILES)
