"""`check("3.2", fn)`: run one exercise's cases against a student's function.

Each case calls the student's code with a time limit (SIGALRM on Linux/macOS in
the main thread; no limit elsewhere), captures what it prints, and turns every
way it can go wrong -- an exception, ``NotImplementedError``, output on stderr
(warnings included), ``sys.exit``, a timeout, a wrong value -- into a failed case
with a hint, never into a crashed cell.

Result channel to the grader: when the environment variable
``QNN_LITE_EXERCISE_LOG`` names a file, every ``check`` call appends one JSON
line (exercise, points, max_points, cases) to it and flushes, so the grader
keeps what a notebook earned even if a later cell hangs or the kernel dies.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import threading
import traceback
import warnings
from dataclasses import asdict, dataclass, field

from .registry import get_exercise, chapter_exercises

LOG_ENV = "QNN_LITE_EXERCISE_LOG"
TIMEOUT_ENV = "QNN_LITE_CHECK_TIMEOUT"
DEFAULT_TIMEOUT = 5.0  # seconds per case

_SESSION: dict[str, tuple[int, int]] = {}  # exercise -> (points, max) of its latest check in this kernel


class Fail(Exception):
    """Raised by a case when the student's answer is wrong; the message is the hint."""


class CaseTimeout(BaseException):
    """Raised inside a case by the alarm when it runs too long."""


@dataclass
class CaseResult:
    name: str
    passed: bool
    points: int
    max_points: int
    hint: str = ""


@dataclass
class CheckResult:
    exercise: str
    title: str
    cases: list = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(c.points for c in self.cases)

    @property
    def max_points(self) -> int:
        return sum(c.max_points for c in self.cases)

    @property
    def passed(self) -> bool:
        return self.points == self.max_points

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "title": self.title, "points": self.points,
                "max_points": self.max_points, "cases": [asdict(c) for c in self.cases]}

    def report(self) -> str:
        lines = [f"Exercise {self.exercise}: {self.title}"]
        previous = None
        for c in self.cases:
            lines.append(f"  {'✓' if c.passed else '✗'} {c.name}")
            if not c.passed:
                hint = "(same as above)" if c.hint == previous else c.hint
                lines.extend("      " + h for h in hint.splitlines())
                previous = c.hint
        n_ok = sum(c.passed for c in self.cases)
        lines.append(f"  {n_ok} of {len(self.cases)} checks passed: {self.points}/{self.max_points} points")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    def _ipython_display_(self) -> None:
        # `check(...)` already printed the report; when it is the cell's last line, do not echo it.
        shell = _ipython()
        if shell is not None and getattr(self, "_printed_in", None) == shell.execution_count:
            return
        print(self.report())

    def __repr__(self) -> str:
        return f"<check {self.exercise}: {self.points}/{self.max_points} points>"


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _case_timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise CaseTimeout after `seconds` (SIGALRM; a no-op off the main thread or on Windows)."""
    usable = (hasattr(signal, "setitimer") and seconds > 0
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _student_frame(exc: BaseException) -> str:
    """' (line N: `code`)' for the innermost frame of the student's code.

    Frames in this package, in qnn_lite and in installed libraries are skipped.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    skip = (here, os.path.join(os.path.dirname(here), "qnn_lite"), sys.prefix, sys.base_prefix)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not os.path.abspath(frame.filename).startswith(skip):
            code = (frame.line or "").strip()
            return f" (line {frame.lineno}: `{code}`)" if code else f" (line {frame.lineno})"
    return ""


def run_case(case, fn, timeout: float) -> CaseResult:
    """Run one case; every failure mode becomes a failed CaseResult with a hint."""
    err = io.StringIO()
    hint = ""
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                with _time_limit(timeout):
                    case.run(fn)
    except Fail as e:
        hint = str(e) or "wrong answer"
    except NotImplementedError:
        hint = "not attempted yet: replace the `raise NotImplementedError(...)` line with your code"
    except CaseTimeout:
        hint = f"took longer than {timeout:g} s: is there an infinite loop?"
    except SystemExit as e:
        hint = f"your code called sys.exit({e.code!r}); return a value instead"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 -- any student error is a failed case
        hint = f"your code raised {type(e).__name__}: {e}{_student_frame(e)}"
    if not hint and caught:
        w = caught[0]
        hint = f"your code wrote to stderr: {w.category.__name__}: {str(w.message)[:200]}"
    if not hint and err.getvalue().strip():
        last = err.getvalue().strip().splitlines()[-1][:200]
        hint = f"your code wrote to stderr: {last}"
    passed = not hint
    return CaseResult(case.name, passed, case.points if passed else 0, case.points, hint)


def _log(result: CheckResult) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(result.to_dict()) + "\n")
        f.flush()


def check(exercise: str, fn, *, quiet: bool = False) -> CheckResult:
    """Run exercise `exercise`'s cases against `fn`; print ✓/✗, hints and points; return the result."""
    ex = get_exercise(exercise)
    timeout = _case_timeout()
    result = CheckResult(ex.id, ex.title)
    if fn is None or not callable(fn):
        hint = f"check({ex.id!r}, fn) needs your function (or class), got {type(fn).__name__}"
        result.cases = [CaseResult(c.name, False, 0, c.points, hint) for c in ex.cases]
    else:
        for case in ex.cases:  # after a timeout, skip the rest: they would likely hang too
            if result.cases and "took longer than" in result.cases[-1].hint or \
                    any(c.hint.startswith("skipped") for c in result.cases):
                result.cases.append(CaseResult(case.name, False, 0, case.points,
                                               "skipped: an earlier case ran out of time"))
            else:
                result.cases.append(run_case(case, fn, timeout))
    _SESSION[ex.id] = (result.points, result.max_points)
    _log(result)
    if not quiet:
        print(result.report())
        print(session_total_line(ex.chapter))
        shell = _ipython()
        result._printed_in = shell.execution_count if shell is not None else None
    return result


def session_total_line(chapter: str) -> str:
    ids = chapter_exercises(chapter)
    total = sum(ex.max_points for ex in ids)
    got = sum(_SESSION.get(ex.id, (0, 0))[0] for ex in ids)
    done = [ex.id for ex in ids if ex.id in _SESSION]
    return f"Running total for chapter {chapter}: {got}/{total} points (checked: {', '.join(done)})"
