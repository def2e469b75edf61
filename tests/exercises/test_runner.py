"""The check engine: student code that raises, prints to stderr, exits or loops is a failed case."""
import sys

import numpy as np
import pytest

from exercises import check
from exercises import runner
from exercises.checks.ch01 import model_size_bytes_ref


def test_correct_function_scores_full_points_and_reports_honestly(capsys):
    r = check("1.2", model_size_bytes_ref)
    out = capsys.readouterr().out
    assert (r.points, r.max_points) == (3, 3) and r.passed
    assert out.count("✓") == 3 and "✗" not in out
    assert "3 of 3 checks passed: 3/3 points" in out
    assert "all tests passed" not in out.lower()
    assert "Running total for chapter 01" in out


def test_not_implemented_is_not_attempted(capsys):
    def stub(n, bits):
        raise NotImplementedError("Exercise 1.2: do it")
    r = check("1.2", stub)
    out = capsys.readouterr().out
    assert r.points == 0 and all("not attempted yet" in c.hint for c in r.cases)
    assert out.count("✗") == 3 and "(same as above)" in out


def test_exception_names_the_error_and_the_line():
    def broken(n, bits):
        return n * bits / zero  # noqa: F821
    r = check("1.2", broken, quiet=True)
    assert r.points == 0
    assert "NameError" in r.cases[0].hint and "line" in r.cases[0].hint


def test_printing_to_stderr_or_warning_fails_the_case():
    def noisy(n, bits):
        print("debug", file=sys.stderr)
        return model_size_bytes_ref(n, bits)

    def warns(n, bits):
        np.float64(1.0) / np.float64(0.0)  # RuntimeWarning: divide by zero
        return model_size_bytes_ref(n, bits)
    for fn, text in [(noisy, "debug"), (warns, "RuntimeWarning")]:
        r = check("1.2", fn, quiet=True)
        assert r.points == 0 and "stderr" in r.cases[0].hint and text in r.cases[0].hint


def test_printing_to_stdout_is_fine():
    def chatty(n, bits):
        print("hello")
        return model_size_bytes_ref(n, bits)
    assert check("1.2", chatty, quiet=True).passed


def test_sys_exit_is_a_failed_case():
    r = check("1.2", lambda n, b: sys.exit(3), quiet=True)
    assert r.points == 0 and "sys.exit(3)" in r.cases[0].hint


def test_infinite_loop_times_out_and_skips_the_rest(monkeypatch):
    monkeypatch.setenv(runner.TIMEOUT_ENV, "0.2")

    def loop(n, bits):
        while True:
            pass
    r = check("1.2", loop, quiet=True)
    assert r.points == 0
    assert "took longer than 0.2 s" in r.cases[0].hint
    assert all(c.hint.startswith("skipped") for c in r.cases[1:])


def test_none_and_non_callables():
    r = check("1.4", lambda w, b: None, quiet=True)
    assert "forget `return`" in r.cases[0].hint
    r = check("1.4", None, quiet=True)
    assert r.points == 0 and "needs your function" in r.cases[0].hint


def test_unknown_exercise_is_a_value_error():
    with pytest.raises(ValueError, match="exercise"):
        check("9.9", print)
    with pytest.raises(ValueError, match="exercise"):
        check(3.2, print)


def test_check_runs_the_public_cases_only_and_writes_nothing(tmp_path, monkeypatch):
    from exercises.registry import chapter_exercises
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QNN_LITE_EXERCISE_LOG", str(tmp_path / "log.jsonl"))  # the old channel: ignored
    ex = next(e for e in chapter_exercises("01", hidden=True) if e.id == "1.2")
    assert ex.hidden_cases  # loaded here, yet check shows only the public ones
    r = check("1.2", model_size_bytes_ref, quiet=True)
    assert [c.name for c in r.cases] == [c.name for c in ex.public_cases] and r.max_points == ex.max_points
    assert list(tmp_path.iterdir()) == []


def test_running_total_uses_the_latest_check_of_each_exercise(capsys):
    runner._SESSION.clear()
    check("1.2", model_size_bytes_ref)
    check("1.3", lambda t: 0.0)
    assert "Running total for chapter 01: 3/13 points (checked: 1.2, 1.3)" in capsys.readouterr().out
    check("1.2", lambda n, b: 0)
    assert "Running total for chapter 01: 0/13 points" in capsys.readouterr().out
