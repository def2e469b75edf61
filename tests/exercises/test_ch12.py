"""Chapter 12 exercises: known wrong answers fail with their hint; the checks' references are the library's.

(Masters scoring 100 %, stubs scoring 0 and the student notebook matching `build` are covered by the
dynamic tests in test_wrong_answers.py, test_grade.py and test_build.py, which enumerate every master.)
"""
import math

import numpy as np
import pytest

from exercises.selftest import assert_covers, assert_rejects, case_ids
from exercises.checks.ch12 import _kl_variant, _loss

from qnn_lite.quantizers.calibration import kl_threshold
from qnn_lite.transforms.bias_correction import relu_normal_mean


def _kl(**switches):
    return lambda hist, width, levels: _kl_variant(hist, width, levels, **switches)


def _phi(t):
    return np.exp(-t * t / 2) / math.sqrt(2 * math.pi)


def _Phi(t):
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(t) / math.sqrt(2))


WRONG = [
    ("12.1", _kl(outliers=False), "add the clipped outliers"),
    ("12.1", _kl(half=False), "middle of the last kept bin"),
    ("12.1", _kl(keep_zero=False), "NON-ZERO bins only"),
    ("12.2", lambda r1, r2: np.sqrt(r1 * r2) / r1, "that is 1 / s"),
    ("12.2", lambda r1, r2: r1 / r2, "would swap the ranges"),
    ("12.2", lambda r1, r2: r1 * r2 / r2, "take the square root"),
    ("12.3", lambda mu, sigma: np.maximum(mu, 0), "ReLU is not linear"),
    ("12.3", lambda mu, sigma: mu * _Phi(mu / sigma), "add the part from the spread"),
    ("12.3", lambda mu, sigma: mu * _Phi(-mu / sigma) + sigma * _phi(mu / sigma), "not at -t"),
    ("12.4", lambda x, m, v: _loss(x, m, v, "var"), "compare standard deviations"),
    ("12.4", lambda x, m, v: _loss(x, m, v, "squared"), "not their squares"),
    ("12.4", lambda x, m, v: _loss(x, m, v, "per_sample"), "over N, H and W together"),
    ("12.4", lambda x, m, v: _loss(x, m, v, "unbiased"), "biased variance"),
]


@pytest.mark.parametrize("exercise,fn,hint", WRONG, ids=case_ids(WRONG))
def test_wrong_answer_fails_with_its_hint(exercise, fn, hint):
    assert_rejects(exercise, fn, hint)


def test_every_exercise_of_chapter_12_has_a_wrong_answer_test():
    assert_covers(["12"], WRONG)


def test_12_1_hand_example_and_reference_agree():
    hist = [4, 2, 0, 1, 1, 0, 0, 2]
    assert _kl_variant(hist, 1.0, 2) == kl_threshold(hist, 1.0, 2)[0]


def test_12_3_reference_by_monte_carlo():
    z = np.random.default_rng(0).normal(0.5, 1.0, 1_000_000)
    assert relu_normal_mean(0.5, 1.0) == pytest.approx(np.maximum(z, 0).mean(), abs=3e-3)
