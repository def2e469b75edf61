"""What students get: `release` hands out notebooks and public checks, never solutions, hidden cases or the grader."""
import os
import subprocess
import sys
import tomllib

import nbformat
import pytest
from setuptools import find_packages

from exercises.__main__ import main as cli
from exercises.build import HERE, MASTERS, make_student, render
from exercises.release import release

ROOT = HERE.parent


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "handout"
    release(out)
    return out


def test_release_holds_the_student_notebooks_and_the_public_checks_only(released):
    files = sorted(str(p.relative_to(released)) for p in released.rglob("*") if p.is_file())
    masters = sorted(MASTERS.glob("[0-9][0-9]_*.ipynb"))
    assert [f for f in files if f.endswith(".ipynb")] == [m.name for m in masters]
    for m in masters:  # exactly what build makes from the master
        want = render(make_student(nbformat.read(str(m), as_version=4)))
        assert (released / m.name).read_text(encoding="utf-8") == want
    assert not any(part in f for f in files for part in ("masters", "hidden", "grade", "collect", "replay",
                                                         "sandbox", "build", "release", "selftest"))
    assert "exercises/checks/ch03.py" in files and "exercises/runner.py" in files


def test_no_solution_text_is_released(released):
    text = "".join(p.read_text(encoding="utf-8") for p in released.rglob("*") if p.is_file())
    assert "BEGIN SOLUTION" not in text
    hidden_names = [line for p in (HERE / "hidden").glob("ch*.py") for line in p.read_text().splitlines()
                    if line.startswith("@hidden_case")]
    assert hidden_names and not any(name.split('"')[3] in text for name in hidden_names)
    master = nbformat.read(str(MASTERS / "01_why_quantize.ipynb"), as_version=4)
    solution = next(c.source for c in master.cells if c.source.startswith("# Exercise 1.2"))
    line = solution.split("### BEGIN SOLUTION\n")[1].splitlines()[0].strip()
    assert line and line not in text


def test_released_check_works_without_the_repository(released, tmp_path):
    lib = tmp_path / "lib"  # qnn_lite alone on the path, as a student's installed copy
    lib.mkdir()
    (lib / "qnn_lite").symlink_to(ROOT / "qnn_lite")
    code = ("from exercises import check\n"
            "r = check('1.2', lambda n, bits: -(-n * bits // 8), quiet=True)\n"
            "print(r.points, r.max_points)\n"
            "import exercises.registry as reg\n"
            "print(len(reg.chapter_exercises('01', hidden=True)[1].cases))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(lib)}
    out = subprocess.run([sys.executable, "-c", code], cwd=released, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "3", "3"]  # no hidden case to load in a release


def test_release_refuses_a_non_empty_directory(released, capsys):
    assert cli(["release", str(released)]) == 2
    assert "new or empty" in capsys.readouterr().out


def test_the_wheel_installs_qnn_lite_only():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_packages(str(ROOT), include=config["packages"]["find"]["include"])
    assert "qnn_lite" in packages and not any(p.split(".")[0] in ("exercises", "tests", "book") for p in packages)
    assert "exercises" not in config.get("package-data", {})


def test_my_work_is_ignored_by_git():
    assert "my-work/" in (ROOT / ".gitignore").read_text().splitlines()
