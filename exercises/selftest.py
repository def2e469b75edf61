"""For instructors: prove that a check catches the mistakes it is written for.

A check is only as good as the wrong answers it rejects. Keep, next to the
checks, a table of plausible wrong answers, each with a piece of the hint a
student making that mistake should see::

    from exercises.selftest import assert_rejects, assert_covers

    WRONG = [("3.2", scale_without_minus_one, "quant_max - quant_min"), ...]
    for exercise, fn, hint in WRONG:
        assert_rejects(exercise, fn, hint)
    assert_covers(["03"], WRONG)        # every exercise of chapter 3 has a wrong answer

(the repository's tests run exactly this, over every chapter).
"""
from __future__ import annotations

from .registry import chapter_exercises
from .runner import check


def assert_rejects(exercise: str, fn, hint: str) -> None:
    """``fn`` must lose points on ``exercise``, and a failed case's hint must contain ``hint``."""
    r = check(exercise, fn, quiet=True)
    assert r.points < r.max_points, f"{exercise}: the wrong answer scored full marks ({r.points}/{r.max_points})"
    hints = [c.hint for c in r.cases if not c.passed]
    assert any(hint in h for h in hints), f"{exercise}: no failed case's hint contains {hint!r}; hints: {hints}"


def assert_covers(chapters, wrong) -> None:
    """Every exercise of ``chapters`` has at least one entry in ``wrong`` (and ``wrong`` names no other)."""
    ids = {ex.id for ch in chapters for ex in chapter_exercises(ch)}
    named = {entry[0] for entry in wrong}
    assert ids == named, (f"exercises without a wrong answer: {sorted(ids - named)}; "
                          f"entries for other exercises: {sorted(named - ids)}")


def case_ids(wrong) -> list:
    """Readable pytest ids for a table of ``(exercise, fn, hint)``."""
    return [f"{e}-{h[:24]}" for e, _, h in wrong]
