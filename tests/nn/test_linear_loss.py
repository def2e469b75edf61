"""Fused linear, cross-entropy and MSE Functions: hand values, PyTorch goldens, gradchecks, errors."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite import Tensor
from qnn_lite.autograd import gradcheck
from qnn_lite.nn import functional as F

GOLD = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "torch_golden_nn.npz"))
rng = np.random.default_rng(1)


def T(a, requires_grad=False):
    return Tensor(a, requires_grad=requires_grad, dtype=np.float64)


def test_linear_hand_computed():
    x = T([[1., 2.], [3., 4.]])
    w = T([[1., 0.], [1., -1.], [0.5, 0.5]])
    b = T([10., 20., 30.])
    np.testing.assert_array_equal(F.linear(x, w, b).data, [[11., 19., 31.5], [13., 19., 33.5]])
    np.testing.assert_array_equal(F.linear(x, w).data, [[1., -1., 1.5], [3., -1., 3.5]])


@pytest.mark.parametrize("xshape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(xshape, bias):
    w = rng.standard_normal((4, 3))
    if bias:
        assert gradcheck(F.linear, rng.standard_normal(xshape), w, rng.standard_normal(4))
    else:
        assert gradcheck(lambda x, w: F.linear(x, w), rng.standard_normal(xshape), w)


def test_linear_skips_gradients_nobody_needs():
    x = Tensor(rng.standard_normal((3, 2)).astype(np.float32))          # data: no grad
    w = Tensor(rng.standard_normal((4, 2)).astype(np.float32), requires_grad=True)
    F.linear(x, w).backward(np.ones((3, 4), np.float32))
    assert x.grad is None
    np.testing.assert_allclose(w.grad, np.ones((4, 3)) @ x.data, rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: F.linear(T(np.zeros((2, 3))), T(np.zeros((4, 5)))), r"in_features 5.*\(2, 3\).*\(4, 5\)"),
    (lambda: F.linear(T(np.zeros((2, 3))), T(np.zeros(3))), "weight must be 2-D"),
    (lambda: F.linear(T(np.zeros((2, 3))), T(np.zeros((4, 3))), T(np.zeros(3))), r"bias must have shape \(4,\)"),
])
def test_linear_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----- cross-entropy ---------------------------------------------------------------------------
def test_cross_entropy_hand_computed():
    z = T([[0., 0.], [np.log(3.), 0.]])   # softmax rows: (1/2, 1/2) and (3/4, 1/4)
    y = np.array([0, 1])
    loss = F.cross_entropy(z, y)
    assert loss.item() == pytest.approx((np.log(2) + np.log(4)) / 2)
    zt = T(z.data, requires_grad=True)
    F.cross_entropy(zt, y).backward()
    np.testing.assert_allclose(zt.grad, np.array([[-0.5, 0.5], [0.75, -0.75]]) / 2, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_equals_pytorch_with_huge_logits(reduction):
    z = T(GOLD["ce_z"], requires_grad=True)
    loss = F.cross_entropy(z, GOLD["ce_target"], reduction=reduction)
    assert np.isfinite(loss.data).all()
    np.testing.assert_allclose(loss.data, GOLD[f"ce_{reduction}_loss"], rtol=1e-12, atol=1e-12)
    loss.backward(GOLD[f"ce_{reduction}_g"])
    np.testing.assert_allclose(z.grad, GOLD[f"ce_{reduction}_dz"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(reduction):
    y = np.array([2, 0, 1, 2])
    assert gradcheck(lambda z: F.cross_entropy(z, y, reduction), rng.standard_normal((4, 3)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(2, 5), st.floats(-50, 50))
def test_cross_entropy_shift_invariant_and_at_least_zero(n, c, shift):
    """Adding a constant to every logit of a row changes nothing; the loss is >= 0."""
    z = rng.standard_normal((n, c)) * 3
    y = rng.integers(0, c, n)
    a = F.cross_entropy(T(z), y, "none").data
    b = F.cross_entropy(T(z + shift), y, "none").data
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    assert (a >= 0).all()


def test_cross_entropy_uniform_logits_give_log_c_and_one_row_works():
    assert F.cross_entropy(T(np.zeros((1, 10))), np.array([7])).item() == pytest.approx(np.log(10))


def test_cross_entropy_float32_stays_float32():
    loss = F.cross_entropy(Tensor(np.zeros((3, 4), np.float32), requires_grad=True), np.array([0, 1, 2]))
    assert loss.dtype == np.float32


@pytest.mark.parametrize("target, match", [
    (np.array([0, 3]), r"target labels must be in 0..2"),
    (np.array([0, -1]), r"target labels must be in 0..2"),
    (np.array([0, 1, 2]), r"target must have shape \(2,\)"),
    (np.array([0.0, 1.0]), "target must hold integer class labels"),
])
def test_cross_entropy_bad_target_names_the_argument(target, match):
    with pytest.raises((ValueError, TypeError), match=match):
        F.cross_entropy(T(np.zeros((2, 3))), target)


def test_cross_entropy_bad_logits_and_reduction():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        F.cross_entropy(T(np.zeros(3)), np.array([0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(T(np.zeros((1, 3))), np.array([0]), reduction="avg")


# ----- MSE -------------------------------------------------------------------------------------------
def test_mse_hand_computed_and_reductions():
    x, y = T([1., 2., 4.]), T([1., 0., 1.])
    assert F.mse_loss(x, y).item() == pytest.approx((0 + 4 + 9) / 3)
    assert F.mse_loss(x, y, "sum").item() == pytest.approx(13)
    np.testing.assert_array_equal(F.mse_loss(x, y, "none").data, [0., 4., 9.])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_gradcheck_both_arguments(reduction):
    assert gradcheck(lambda a, b: F.mse_loss(a, b, reduction), rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))


def test_mse_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"target shape \(2,\) must equal input shape \(3,\)"):
        F.mse_loss(T(np.zeros(3)), T(np.zeros(2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cross_entropy_rejects_non_finite_logits(bad):
    z = np.zeros((2, 3))
    z[1, 2] = bad
    with pytest.raises(ValueError, match="logits must be finite"):
        F.cross_entropy(T(z), np.array([0, 1]))
