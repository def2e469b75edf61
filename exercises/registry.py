"""The exercises: each chapter's module in `exercises.checks` registers its cases here.

A check module declares an exercise and its cases::

    EX = exercise("3.1", "qrange: the integer range of a b-bit format")

    @EX.case("int8 signed is (-128, 127)")
    def _(qrange):
        expect_equal(qrange(8, signed=True), (-128, 127), "qrange(8, signed=True)")

A case is a function of the student's answer that returns on success and raises
`Fail(hint)` on a wrong answer. Each case is worth `points` (default 1).

Hidden cases (instructor-only, run by `grade` and never by `check`) live in
`exercises/hidden/chNN.py`, which `release` leaves out::

    @hidden_case("3.2", "range (-2.5, 0.3) onto -8..7")
    def _(fn):
        _check_qparams(fn, -2.5, 0.3, -8, 7)

A case must reach the student's code only by calling its argument with plain
values (numbers, strings, tuples, numpy arrays): the grader records those calls in
the kernel and replays them where the student's code cannot reach. An exercise
whose answer is a class gives `adapt=`: a function turning the answer into such
a plain function (see chapter 02).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

def _discover() -> dict:
    """{"01": "ch01", ...}: one entry per `exercises/checks/chNN.py` module."""
    import pkgutil
    from . import checks
    return {m.name[2:]: m.name for m in pkgutil.iter_modules(checks.__path__)
            if m.name.startswith("ch") and m.name[2:].isdigit()}


CHAPTERS = _discover()
_EXERCISES: dict[str, "Exercise"] = {}


@dataclass
class Case:
    name: str
    run: object  # callable(student_fn) -> None, raises Fail
    points: int = 1
    hidden: bool = False  # instructor-only: run by `grade`, never by `check`


@dataclass
class Exercise:
    id: str
    title: str
    cases: list = field(default_factory=list)
    adapt: object = None  # answer -> plain function the cases call (None: the answer itself)

    @property
    def chapter(self) -> str:
        return f"{int(self.id.split('.')[0]):02d}"

    @property
    def public_cases(self) -> list:
        return [c for c in self.cases if not c.hidden]

    @property
    def hidden_cases(self) -> list:
        return [c for c in self.cases if c.hidden]

    @property
    def max_points(self) -> int:
        """Points of the public cases (what `check` shows)."""
        return sum(c.points for c in self.public_cases)

    @property
    def hidden_max_points(self) -> int:
        return sum(c.points for c in self.hidden_cases)

    def case(self, name: str, points: int = 1):
        """Decorator: register `fn(student_answer)` as a case called `name`."""
        def register(fn):
            self.cases.append(Case(name, fn, points))
            return fn
        return register


def exercise(exercise_id: str, title: str, adapt=None) -> Exercise:
    ex = Exercise(exercise_id, title, adapt=adapt)
    _EXERCISES[exercise_id] = ex
    return ex


def hidden_case(exercise_id: str, name: str, points: int = 1):
    """Decorator (in `exercises/hidden/chNN.py`): an instructor-only case of a public exercise."""
    ex = get_exercise(exercise_id)

    def register(fn):
        ex.cases.append(Case(name, fn, points, hidden=True))
        return fn
    return register


def _load(chapter: str, hidden: bool = False) -> None:
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {sorted(CHAPTERS)}, got {chapter!r}")
    importlib.import_module(f"exercises.checks.{CHAPTERS[chapter]}")
    if hidden:
        try:
            importlib.import_module(f"exercises.hidden.{CHAPTERS[chapter]}")
        except ModuleNotFoundError as e:  # no hidden cases for this chapter (or a release copy)
            if e.name not in (f"exercises.hidden.{CHAPTERS[chapter]}", "exercises.hidden"):
                raise


def get_exercise(exercise_id) -> Exercise:
    if not isinstance(exercise_id, str) or "." not in exercise_id:
        raise ValueError(f"exercise must be a string like '3.2', got {exercise_id!r}")
    head = exercise_id.split(".")[0]
    chapter = f"{int(head):02d}" if head.isdigit() else head
    if chapter in CHAPTERS:
        _load(chapter)
    if exercise_id not in _EXERCISES:
        known = ", ".join(sorted(_EXERCISES)) or "none"
        raise ValueError(f"exercise must be a known exercise id, got {exercise_id!r} (known: {known})")
    return _EXERCISES[exercise_id]


def chapter_exercises(chapter: str, hidden: bool = False) -> list:
    """The chapter's exercises in order ('01' -> [1.1, 1.2, ...]); `hidden` loads the hidden cases too."""
    _load(chapter, hidden)
    out = [ex for ex in _EXERCISES.values() if ex.chapter == chapter]
    return sorted(out, key=lambda ex: tuple(int(p) for p in ex.id.split(".")))
