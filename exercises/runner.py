"""`check("3.2", fn)`: run one exercise's cases against a student's function.

Each case calls the student's code with a time limit (SIGALRM on Linux/macOS in
the main thread; no limit elsewhere), captures what it prints, and turns every
way it can go wrong -- an exception, ``NotImplementedError``, output on stderr
(warnings included), ``sys.exit``, a timeout, a wrong value -- into a failed case
with a hint, never into a crashed cell.

``check`` is the student's feedback only: it runs the public cases and prints.
The grader (`exercises.grade`) does not read what it prints; it runs the same
cases (and the hidden ones) on the functions the notebook defines, compares the
recorded outputs in its own process, and reuses `run_cases` below to score them.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import traceback
import warnings
from dataclasses import asdict, dataclass, field

from .registry import get_exercise, chapter_exercises

TIMEOUT_ENV = "QNN_LITE_CHECK_TIMEOUT"
DEFAULT_TIMEOUT = 5.0  # seconds per case

_SESSION: dict[str, tuple[int, int]] = {}  # exercise -> (points, max) of its latest check in this kernel


class Fail(Exception):
    """Raised by a case when the student's answer is wrong; the message is the hint."""


class CaseTimeout(BaseException):
    """Raised inside a case by the alarm when it runs too long."""


class Verdict(BaseException):
    """Raised by a replayed call (`exercises.replay`): the recorded failure, its message is the hint."""


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


def run_case(case, fn, timeout: float, limit: bool = True) -> CaseResult:
    """Run one case; every failure mode becomes a failed CaseResult with a hint.

    `limit=False` (the grader replaying recorded calls): no alarm, `timeout` only names the limit in hints.
    """
    err = io.StringIO()
    hint = ""
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                with _time_limit(timeout if limit else 0):
                    case.run(fn)
    except Verdict as e:
        hint = str(e)
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
        frame = getattr(e, "_qnn_frame", None)  # set on an exception replayed from the kernel
        hint = f"your code raised {type(e).__name__}: {e}{frame if frame is not None else _student_frame(e)}"
    if not hint and caught:
        w = caught[0]
        hint = f"your code wrote to stderr: {w.category.__name__}: {str(w.message)[:200]}"
    if not hint and err.getvalue().strip():
        last = err.getvalue().strip().splitlines()[-1][:200]
        hint = f"your code wrote to stderr: {last}"
    passed = not hint
    return CaseResult(case.name, passed, case.points if passed else 0, case.points, hint)


SKIPPED = "skipped: an earlier case ran out of time"


def run_cases(cases, fn_for, timeout: float, limit: bool = True) -> list:
    """CaseResults of `cases`, each run on `fn_for(case)`; after a timeout the rest are skipped."""
    out = []
    for case in cases:  # after a timeout, skip the rest: they would likely hang too
        if out and ("took longer than" in out[-1].hint or out[-1].hint == SKIPPED):
            out.append(CaseResult(case.name, False, 0, case.points, SKIPPED))
        else:
            out.append(run_case(case, fn_for(case), timeout, limit))
    return out


def not_callable_hint(exercise_id: str, fn) -> str:
    return f"check({exercise_id!r}, fn) needs your function (or class), got {type(fn).__name__}"


def check(exercise: str, fn, *, quiet: bool = False) -> CheckResult:
    """Run exercise `exercise`'s public cases against `fn`; print ✓/✗, hints and points; return the result."""
    ex = get_exercise(exercise)
    timeout = _case_timeout()
    result = CheckResult(ex.id, ex.title)
    if fn is None or not callable(fn):
        hint = not_callable_hint(ex.id, fn)
        result.cases = [CaseResult(c.name, False, 0, c.points, hint) for c in ex.public_cases]
    else:
        plain = ex.adapt(fn) if ex.adapt is not None else fn
        result.cases = run_cases(ex.public_cases, lambda case: plain, timeout)
    _SESSION[ex.id] = (result.points, result.max_points)
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
