"""The first-hour plumbing: what `make lab` runs, and that the lock, the minimum versions and
environment.yml agree with pyproject.toml."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def declared(extras=("dev", "browser", "html")) -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return reqs


def pins(name: str) -> dict[str, str]:
    """{normalized package name: version} of a requirements file of ``name==version`` lines."""
    text = (ROOT / name).read_text(encoding="utf-8")
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.M)
    return {re.sub(r"[-_.]+", "-", n).lower(): v for n, v in found}


def norm(req: Requirement) -> str:
    return re.sub(r"[-_.]+", "-", req.name).lower()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_roots_the_server_at_the_repository_and_opens_the_index():
    cmd = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "lab", "INSTALL=",
                          "LAB_ARGS=--port 9999 --no-browser"],
                         capture_output=True, text=True, check=True).stdout
    assert "--ServerApp.root_dir=." in cmd
    assert "--LabApp.default_url=/lab/tree/book/00_index.ipynb" in cmd
    assert cmd.rstrip().endswith("--port 9999 --no-browser")
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)   # root is the default user in containers


def test_the_lock_pins_every_declared_dependency_within_its_bounds():
    lock = pins("requirements-lock.txt")
    for req in declared():
        assert norm(req) in lock, f"{req.name} is declared in pyproject.toml but not pinned in the lock"
        assert req.specifier.contains(lock[norm(req)]), f"lock pins {req.name}=={lock[norm(req)]}, outside {req}"


def test_requirements_min_are_exactly_the_declared_lower_bounds():
    minimum = pins("requirements-min.txt")
    expected = {}
    for req in declared(("dev",)):
        (low,) = [s.version for s in req.specifier if s.operator == ">="]
        expected[norm(req)] = low
    # pyproject writes "2.3", the file "2.3.0": Version compares them as equal
    assert {k: Version(v) for k, v in minimum.items()} == {k: Version(v) for k, v in expected.items()}


def test_environment_yml_installs_the_lock_for_its_python():
    env = (ROOT / "environment.yml").read_text(encoding="utf-8")
    lock_python = re.search(r"^LOCK_PYTHON := (\S+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    assert f"python={lock_python}" in env
    assert "-r requirements-lock.txt" in env
    assert f"Python {lock_python}" in (ROOT / "requirements-lock.txt").read_text(encoding="utf-8")
