"""exercises.selftest: the instructor's assertions fail for the right reasons."""
import pytest

from exercises.checks.ch01 import model_size_bytes_ref
from exercises.registry import chapter_exercises
from exercises.selftest import assert_covers, assert_rejects, case_ids


def _forgot_bits(num_params, bits):
    return num_params * 4        # always float32: wrong for every other bit-width


def test_a_correct_answer_is_not_accepted_as_a_wrong_one():
    with pytest.raises(AssertionError, match="scored full marks"):
        assert_rejects("1.2", model_size_bytes_ref, "anything")


def test_a_wrong_answer_needs_the_promised_hint():
    with pytest.raises(AssertionError, match="no failed case's hint contains 'a hint nobody wrote'"):
        assert_rejects("1.2", _forgot_bits, "a hint nobody wrote")


def test_coverage_names_what_is_missing_and_what_is_extra():
    ids = [ex.id for ex in chapter_exercises("01")]
    wrong = [(i, _forgot_bits, "h") for i in ids[1:]] + [("9.9", _forgot_bits, "h")]
    with pytest.raises(AssertionError, match=rf"without a wrong answer: \['{ids[0]}'\].*other exercises: \['9.9'\]"):
        assert_covers(["01"], wrong)
    assert_covers(["01"], [(i, _forgot_bits, "h") for i in ids])   # complete: passes


def test_case_ids_are_exercise_and_hint_prefix():
    assert case_ids([("3.2", None, "use quant_max - quant_min, not the number of levels")]) == ["3.2-use quant_max - quant_mi"]
