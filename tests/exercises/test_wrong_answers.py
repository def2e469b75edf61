"""Every exercise: the master solution passes, and known wrong answers fail with their hint.

These call `check()` directly (no kernel), so they are fast.
"""
import re

import nbformat
import numpy as np
import pytest

from exercises import check
from exercises.selftest import assert_covers, assert_rejects, case_ids
from exercises.build import MASTERS
from exercises.registry import CHAPTERS, chapter_exercises

EPS = float(np.finfo(np.float32).eps)


def _master_namespace(name):
    """Execute a master's code cells (the solutions) into a dict, without a kernel."""
    nb = nbformat.read(str(MASTERS / name), as_version=4)
    ns = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.lstrip().startswith("check("):
            exec(compile(cell.source, name, "exec"), ns)
    return ns, nb


@pytest.mark.parametrize("name", sorted(p.name for p in MASTERS.glob("[0-9][0-9]_*.ipynb")))
def test_master_solutions_pass_every_check(name):
    ns, nb = _master_namespace(name)
    calls = [re.match(r'check\("([\d.]+)",\s*(\w+)\)', c.source.strip()) for c in nb.cells
             if c.cell_type == "code" and c.source.lstrip().startswith("check(")]
    chapter = name[:2]
    assert sorted(m.group(1) for m in calls) == [ex.id for ex in chapter_exercises(chapter)]
    for m in calls:
        r = check(m.group(1), ns[m.group(2)], quiet=True)
        assert (r.points, r.passed) == (r.max_points, True), r.report()


def test_every_chapter_has_at_least_three_exercises():
    for chapter in CHAPTERS:
        assert len(chapter_exercises(chapter)) >= 3


# ------------------------------------------------------------------ wrong answers, with the hint each must get
def _bias(e):
    return 2 ** (e - 1) - 1


def _round_bits(w, bits, step_div, rounder=np.rint):
    w = np.asarray(w, dtype=np.float64)
    d = np.abs(w).max() / step_div(bits)
    return rounder(w / d) * d if d else np.zeros_like(w)


class _SigmoidBase:
    @staticmethod
    def forward(ctx, x):
        y = 1.0 / (1.0 + np.exp(-x))
        ctx.save_for_backward(y)
        return y


def _sigmoid_class(backward):
    from qnn_lite.autograd import Function
    return type("Sigmoid", (Function,), {"forward": staticmethod(_SigmoidBase.forward),
                                         "backward": staticmethod(backward)})


def _unbroadcast_leading_only(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    return grad


def _unbroadcast_mean(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.mean(axis=0)
    for a, n in enumerate(shape):
        if n == 1 and grad.shape[a] != 1:
            grad = grad.mean(axis=a, keepdims=True)
    return np.asarray(grad).reshape(shape)


def _sgd(kind):
    def step(p, g, buf, lr, m, wd=0.0):
        if kind == "after":
            buf = g.copy() if buf is None else m * buf + g
            return p - lr * (buf + wd * p), buf
        g = g + wd * p
        if kind == "ema":
            buf = (1 - m) * g if buf is None else m * buf + (1 - m) * g
            return p - lr * buf, buf
        buf = lr * g if buf is None else m * buf + lr * g  # lr inside the buffer
        return p - buf, buf
    return step


def _qparams(include_zero=True, eps=True, rounder=np.rint, offset=True):
    def calc(lo, hi, quant_min, quant_max):
        if include_zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        s = np.float32(hi - lo) / np.float32(quant_max - quant_min)
        if eps:
            s = max(s, EPS)
        z = (quant_min if offset else 0) - int(rounder(np.float32(lo) / s)) if s else quant_min
        return s, int(np.clip(z, quant_min, quant_max))
    return calc


def _fq(rounder=np.rint, clip=True, sub_z=True):
    def fq(x, s, z, quant_min, quant_max):
        q = rounder(x / np.float32(s)) + z
        if clip:
            q = np.clip(q, quant_min, quant_max)
        return (q - z if sub_z else q) * np.float32(s)
    return fq


def _ste(kind):
    def grad_fn(x, s, z, quant_min, quant_max, g):
        q = np.rint(x / np.float32(s)) + z
        if kind == "none":
            return g
        if kind == "on_x":
            return g * ((x >= (quant_min - z) * s) & (x <= (quant_max - z) * s))
        return g * ((q > quant_min) & (q < quant_max))
    return grad_fn


def _pc(kind):
    def pc(w, quant_min, quant_max):
        axes = tuple(range(1, w.ndim))
        if kind == "axis":
            amax = np.abs(w).max(axis=0).reshape(-1)
        elif kind == "max":
            amax = np.maximum(w.max(axis=axes), 0)
        else:
            amax = np.abs(w).max(axis=axes)
        div = quant_max if kind == "quant_max" else (quant_max - quant_min) / 2
        return np.maximum(amax / div, EPS), np.zeros(len(amax), dtype=np.int64)
    return pc


def _sqnr(kind):
    def f(x, x_hat):
        noise = np.sum((x - x_hat) ** 2) if kind != "mae" else np.sum(np.abs(x - x_hat))
        return (20 if kind == "20" else 10) * np.log10(np.sum(x ** 2) / noise)
    return f


def _qrange_no_check(bits, signed=True, narrow=False):
    return (-(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


WRONG = [
    ("1.1", lambda e, m: (2.0 ** (_bias(e) + 1), 2.0 ** (1 - _bias(e)), 2.0 ** -m), "2 - 2^-m, not 2"),
    ("1.1", lambda e, m: ((2 - 2.0 ** -m) * 2.0 ** _bias(e), 2.0 ** (1 - _bias(e)), 2.0 ** -(m + 1)),
     "unit roundoff"),
    ("1.2", lambda n, b: n * b, "in bits: divide by 8"),
    ("1.2", lambda n, b: n * b // 8, "round up"),
    ("1.3", lambda t: t["mult", "fp32"] / t["mult", "int8"], "multiply AND an add"),
    ("1.3", lambda t: (t["mult", "fp32"] + t["add", "fp32"]) / (t["mult", "int8"] + t["add", "int8"]),
     "accumulates in int32"),
    ("1.3", lambda t: 4.6 / 0.3, "read from `table`"),
    ("1.4", lambda w, b: _round_bits(w, b, lambda b: 2 ** (b - 1) - 1, np.floor), "exceeds Δ/2"),
    ("1.4", lambda w, b: _round_bits(w, b, lambda b: 2 ** (b - 1) - 1, lambda v: np.floor(v + 0.5)),
     "ties must go to even"),
    ("1.4", lambda w, b: _round_bits(w, b, lambda b: 2 ** (b - 1)), "max|w| lands on a level"),
    ("1.4", lambda w, b: np.rint(w / (np.abs(w).max() / 7)) * (np.abs(w).max() / 7), "NaN"),
    ("2.1", _sigmoid_class(lambda ctx, grad: grad * ctx.saved_tensors[0]), "you returned grad * s(x)"),
    ("2.1", _sigmoid_class(lambda ctx, grad: ctx.saved_tensors[0] * (1 - ctx.saved_tensors[0])), "chain rule"),
    ("2.2", _unbroadcast_mean, "sum, not mean"),
    ("2.2", _unbroadcast_leading_only, "keepdims=True"),
    ("2.3", _sgd("ema"), "(1 - momentum)"),
    ("2.3", _sgd("lr_in_buf"), "lr outside the buffer"),
    ("2.3", _sgd("after"), "before the buffer"),
    ("3.1", lambda b, signed=True, narrow=False: (-(2 ** (b - 1)), 2 ** (b - 1)) if signed else (0, 2 ** b),
     "off by one"),
    ("3.1", _qrange_no_check, "returned instead of raising ValueError"),
    ("3.2", _qparams(include_zero=False), "include zero"),
    ("3.2", _qparams(eps=False), "eps"),
    ("3.2", _qparams(rounder=np.floor), "np.rint"),
    ("3.2", _qparams(offset=False), "you forgot quant_min"),
    ("3.3", _fq(rounder=np.floor), "you used floor"),
    ("3.3", _fq(rounder=lambda v: np.floor(v + 0.5)), "ties must go to even"),
    ("3.3", _fq(clip=False), "clamp q"),
    ("3.3", _fq(sub_z=False), "subtract the zero point"),
    ("3.4", _ste("none"), "must get zero gradient"),
    ("3.4", _ste("on_x"), "mask on the rounded value"),
    ("3.4", _ste("strict"), "quant_min <= q <= quant_max"),
    ("3.5", _pc("axis"), "one scale per output channel"),
    ("3.5", _pc("max"), "max(|min|, |max|)"),
    ("3.5", _pc("quant_max"), "not quant_max"),
    ("3.6", _sqnr("20"), "10 log10, not 20"),
    ("3.6", _sqnr("mae"), "mean absolute error"),
    ("3.6", _sqnr("10"), "stderr"),  # divides by a zero noise power: a RuntimeWarning
]


@pytest.mark.parametrize("exercise, fn, hint", WRONG, ids=case_ids(WRONG))
def test_wrong_answer_fails_with_its_hint(exercise, fn, hint):
    assert_rejects(exercise, fn, hint)


def test_every_exercise_has_a_wrong_answer_test():  # chapters 04-07: test_wrong_answers_ch04_07.py
    assert_covers(("01", "02", "03"), WRONG)


def test_references_agree_with_pytorch_and_numpy():
    """The 2.3 reference (qnn_lite.optim.SGD) and the master solution equal torch.optim.SGD (golden file);
    the 1.1 reference equals np.finfo."""
    import json
    from pathlib import Path

    from exercises.checks.ch01 import float_format_ref
    from exercises.checks.ch02 import _library_trajectory, _trajectory
    golden = json.loads((Path(__file__).parent / "data" / "sgd_golden.json").read_text())
    ns, _ = _master_namespace("02_autograd.ipynb")
    for case in golden:
        args = case["lrs"], case["momentum"], case["weight_decay"]
        np.testing.assert_allclose(_library_trajectory(*args), case["params"], rtol=1e-12)
        np.testing.assert_allclose(_trajectory(ns["sgd_momentum_step"], *args), case["params"], rtol=1e-12)
    for dtype, e, m in [(np.float16, 5, 10), (np.float32, 8, 23), (np.float64, 11, 52)]:
        fi = np.finfo(dtype)
        assert float_format_ref(e, m) == (float(fi.max), float(fi.smallest_normal), float(fi.eps))
