"""gradcheck itself: it must pass right backwards and catch wrong ones, saying where."""
from __future__ import annotations

import numpy as np
import pytest

from qnn_lite.autograd import Function, GradcheckError, Tensor, gradcheck


class BuggySquare(Function):
    "$f(x) = x^2$ with a wrong backward: forgets the factor 2"
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x  # should be 2 * grad * x


class BuggyMulSecond(Function):
    "$f(x, y) = x y$ whose gradient to y is wrong only at y's element (1, 2)"
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        gy = grad * x
        gy[1, 2] += 0.5
        return grad * y, gy


class SlightlyOff(Function):
    "$f(x) = 3x$ whose backward is off by a relative 1e-4"
    @staticmethod
    def forward(ctx, x):
        return 3 * x

    @staticmethod
    def backward(ctx, grad):
        return grad * 3 * (1 + 1e-4)


def test_catches_a_wrong_backward():
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match="expecting") as info:
        gradcheck(BuggySquare.apply, x)
    msg = str(info.value)
    assert "input 0" in msg and "received f'=" in msg and "abs error" in msg and "rel error" in msg
    assert isinstance(info.value, AssertionError)


def test_names_the_input_and_the_worst_element():
    rng = np.random.default_rng(0)
    with pytest.raises(GradcheckError) as info:
        gradcheck(BuggyMulSecond.apply, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    msg = str(info.value)
    assert "input 1" in msg and "index (1, 2)" in msg and "1 of 6 elements" in msg


def test_reports_received_and_expected_values():
    # x = 2, cotangent v: analytic = v * x = 2v, numeric = v * 2x = 4v
    v = np.random.default_rng(0).standard_normal(())
    with pytest.raises(GradcheckError) as info:
        gradcheck(BuggySquare.apply, np.array(2.0))
    assert f"received f'={2 * v:.6g}, expecting f'={4 * v:.6g}" in str(info.value)


def test_tolerances_are_respected():
    x = np.array([1.0, 2.0])
    assert gradcheck(SlightlyOff.apply, x, rtol=1e-3)
    with pytest.raises(GradcheckError, match=r"atol=1e-09, rtol=1e-06; 2 of 2 elements fail"):
        gradcheck(SlightlyOff.apply, x, atol=1e-9, rtol=1e-6)


def test_nan_gradient_fails():
    class NanGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            return grad * np.nan

    with pytest.raises(GradcheckError, match=r"received f'=nan, .*2 of 2 elements fail"):
        gradcheck(NanGrad.apply, np.ones(2))


def test_passes_a_right_backward_and_returns_true():
    assert gradcheck(lambda a, b: (a * b + a).sum(), np.ones((2, 2)), np.full((2, 2), 3.0)) is True


def test_inputs_become_float64_copies_and_non_floats_pass_through():
    seen = []
    idx = np.array([1, 0, 1])
    x32 = np.array([1.0, 2.0], np.float32)
    before = x32.copy()

    def fn(x, i, scale):
        seen.append((x.dtype, x.requires_grad, i, scale))
        return x[i] * scale

    assert gradcheck(fn, x32, idx, 2.0)
    dtype, requires_grad, i, scale = seen[0]
    assert dtype == np.float64 and requires_grad and i is idx and scale == 2.0
    np.testing.assert_array_equal(x32, before)  # the caller's array was never perturbed
    t = Tensor(np.ones(2, np.float32))
    assert gradcheck(lambda a: a.exp(), t) and t.grad is None


def test_input_unused_by_the_output_has_zero_gradient():
    assert gradcheck(lambda a, b: a * 2.0, np.ones(2), np.ones(3))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="eps must be a number > 0.0, got 0"):
        gradcheck(lambda a: a, np.ones(2), eps=0)
    with pytest.raises(TypeError, match="fn must be callable"):
        gradcheck(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="fn must return a Tensor, got ndarray"):
        gradcheck(lambda a: a.data, np.ones(2))
    with pytest.raises(ValueError, match="at least one floating"):
        gradcheck(lambda i: Tensor(i * 1.0), np.arange(3))
    with pytest.raises(ValueError, match="atol"):
        gradcheck(lambda a: a, np.ones(2), atol=-1)
