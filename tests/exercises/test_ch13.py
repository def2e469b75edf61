"""Chapter 13 exercises: known wrong answers fail with their hint; right-but-different answers pass.

The masters scoring 100 %, the student notebooks scoring 0 and matching `build` are covered by the
dynamic tests in test_wrong_answers.py, test_grade.py and test_build.py, which enumerate every master.
"""
import numpy as np
import pytest

from exercises import check
from exercises.checks.ch13 import _step_ref
from exercises.registry import chapter_exercises
from exercises.selftest import assert_covers, assert_rejects, case_ids

FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def _group(kind):
    def f(w, bits, g):
        out, n = w.shape
        x = np.asarray(w, np.float64).reshape(out, n // g, g)
        lo, hi = x.min(axis=2), x.max(axis=2)
        if kind != "no_zero":
            lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
        s = np.maximum((hi - lo) / (2 ** bits if kind == "levels" else 2 ** bits - 1), np.finfo(np.float32).eps)
        z = np.clip(-np.rint(lo / s), 0, 2 ** bits - 1)
        bpw = {"no_zp": bits + 16 / g, "no_scale": bits + bits / g, "fp32": bits + (32 + bits) / g}
        return s, z, bpw.get(kind, bits + (16 + bits) / g)
    return f


def _step(kind):
    """The check module's own model of each mistake (a literal GPTQ step with one thing wrong)."""
    return lambda W, U, j, s, z, qmin, qmax: _step_ref(W, U, j, s, z, qmin, qmax, kind)


def _awq(kind):
    def f(x_mean, r):
        s = np.maximum(np.asarray(x_mean, np.float64) ** (1 - r if kind == "flip" else r), 1e-4)
        if kind == "no_clamp":
            s = np.asarray(x_mean, np.float64) ** r
        return {"raw": s, "max": s / s.max(), "mean": s / s.mean()}.get(kind, s / np.sqrt(s.max() * s.min()))
    return f


def _smooth(kind):
    def f(a, W, alpha):
        a = np.maximum(np.asarray(a, np.float64), 1e-5)
        wmax = np.maximum(np.abs(W).max(axis=1 if kind == "rows" else 0), 1e-5)
        if kind == "rows":
            wmax = np.resize(wmax, a.shape)
        if kind == "swap":
            return a ** (1 - alpha) / wmax ** alpha
        if kind == "inverse":
            return wmax ** (1 - alpha) / a ** alpha
        return a ** alpha / wmax ** (1 - alpha)
    return f


def _mx(kind):
    def f(x):
        x = np.asarray(x, np.float64)
        amax = np.abs(x).max()
        if amax == 0:
            return -127, np.zeros_like(x)
        e = int(np.floor(np.log2(amax))) - (0 if kind == "no_emax" else 2)
        if kind == "ceil":
            e = int(np.ceil(np.log2(amax))) - 2
        v = x / 2.0 ** e
        if kind == "first_tie":                         # nearest level, ties to the smaller one
            p = FP4[np.argmin(np.abs(np.abs(v)[:, None] - FP4[None, :]), axis=1)]
        else:
            a = np.abs(v)
            step = np.where(a < 2, 0.5, np.where(a < 4, 1.0, 2.0))
            p = np.rint(a / step) * step
            if kind != "no_sat":
                p = np.minimum(p, 6.0)
        return e, np.copysign(p, v)
    return f


WRONG = [
    ("13.1", _group("levels"), "2^b - 1 steps"),
    ("13.1", _group("no_zero"), "keep 0 representable"),
    ("13.1", _group("no_zp"), "also stores a zero point"),
    ("13.1", _group("no_scale"), "the fp16 scale costs 16 bits"),
    ("13.1", _group("fp32"), "stored in fp16"),
    ("13.2", _step("no_div"), "divide the rounding error by U[j, j]"),
    ("13.2", _step("sign"), "AGAINST the error"),
    ("13.2", _step("keep_col"), "column j itself"),
    ("13.2", _step("no_update"), "plain rounding"),
    ("13.3", _awq("raw"), "multiply to 1"),
    ("13.3", _awq("max"), "not by max(s)"),
    ("13.3", _awq("mean"), "not by mean(s)"),
    ("13.3", _awq("flip"), "the exponent is the ratio itself"),
    ("13.3", _awq("no_clamp"), "1e-4"),
    ("13.4", _smooth("swap"), "alpha goes on the activations"),
    ("13.4", _smooth("inverse"), "that is 1/s"),
    ("13.4", _smooth("rows"), "OUTPUT axis"),
    ("13.5", _mx("no_emax"), "subtract E2M1's largest exponent"),
    ("13.5", _mx("ceil"), "round the exponent DOWN"),
    ("13.5", _mx("first_tie"), "ties go to the EVEN neighbour"),
    ("13.5", _mx("no_sat"), "saturating at 6"),
]


@pytest.mark.parametrize("exercise,fn,hint", WRONG, ids=case_ids(WRONG))
def test_wrong_answer_fails_with_its_hint(exercise, fn, hint):
    assert_rejects(exercise, fn, hint)


def test_every_exercise_of_chapter_13_has_a_wrong_answer_test():
    assert_covers(["13"], WRONG)
    assert len(chapter_exercises("13")) == 5


def test_right_answers_written_differently_pass():
    from qnn_lite.quantizers.groupwise import bits_per_weight, groupwise_qparams
    from qnn_lite.quantizers.mx import mx_encode
    from qnn_lite.transforms.smoothquant import smooth_scales

    def group(w, bits, g):
        s, z = groupwise_qparams(w, bits, g)
        return s, z, bits_per_weight(bits, g)

    def mx(x):
        e, p = mx_encode(x, "mxfp4")
        return int(e[0]), p[0]

    def step_inplace(W, U, j, s, z, qmin, qmax):          # in place, returning the same array
        q = (np.clip(np.rint(W[:, j] / s) + z, qmin, qmax) - z) * s
        W[:, j + 1:] -= np.outer((W[:, j] - q) / U[j, j], U[j, j + 1:])
        W[:, j] = q
        return W

    for ex, fn in (("13.1", group), ("13.2", step_inplace), ("13.3", _awq("ok")),
                   ("13.4", lambda a, W, alpha: smooth_scales(a, [W], alpha)), ("13.5", mx)):
        r = check(ex, fn, quiet=True)
        assert r.points == r.max_points, r.report()
