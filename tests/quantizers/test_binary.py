"""Binary quantizers: sign, XNOR-Net, IR-Net Libra-PB, entropy, 0/1 activations (qnn_lite.quantizers.binary)."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qnn_lite import Tensor
from qnn_lite.autograd import gradcheck
from qnn_lite.quantizers.binary import (binarize, binarize01, binary_entropy, libra_pb, libra_pb_scale,
                                        standardize, xnor_alpha, xnor_binarize)

W = np.array([[1.0, -2.0, 3.0], [-0.5, 0.5, 0.0]], dtype=np.float32)


# ----- sign ----------------------------------------------------------------------------------
def test_binarize_values_and_estimators():
    x = Tensor(np.float32([-2.0, -0.5, 0.0, 0.5, 2.0]), requires_grad=True)
    y = binarize(x)
    np.testing.assert_array_equal(y.data, [-1, -1, 1, 1, 1])          # sign(0) = +1
    y.backward(np.float32([1, 2, 3, 4, 5]))
    np.testing.assert_array_equal(x.grad, [1, 2, 3, 4, 5])            # identity STE
    x.grad = None
    binarize(x, "clipped").backward(np.ones(5, np.float32))
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])
    with pytest.raises(TypeError, match="t= and k="):
        binarize(x, "ede")
    with pytest.raises(ValueError, match="estimator"):
        binarize(x, "tanh")
    with pytest.raises(TypeError, match="unexpected parameters"):
        binarize(x, "clipped", beta=2.0)


# ----- XNOR-Net --------------------------------------------------------------------------------
def test_xnor_alpha_hand_case():
    np.testing.assert_allclose(xnor_alpha(W), [2.0, 1 / 3])                    # per output channel (rows)
    np.testing.assert_allclose(xnor_alpha(W, ch_axis=None), 7 / 6)
    np.testing.assert_allclose(xnor_alpha(W, ch_axis=1), [0.75, 1.25, 1.5])
    np.testing.assert_allclose(xnor_binarize(W).data, [[2, -2, 2], [-1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_alpha_mean_abs_minimises_the_error_on_a_grid():
    w = np.random.default_rng(0).standard_normal(50)
    b = np.where(w >= 0, 1.0, -1.0)
    grid = np.linspace(0, 2 * np.abs(w).max(), 4001)
    errors = ((w[None, :] - grid[:, None] * b[None, :]) ** 2).sum(axis=1)
    alpha = float(xnor_alpha(w, ch_axis=None))
    assert abs(grid[np.argmin(errors)] - alpha) <= grid[1] - grid[0]
    assert ((w - alpha * b) ** 2).sum() <= errors.min() + 1e-12


def test_sign_is_the_best_binary_code():
    w = np.array([0.3, -1.2, 0.05, 2.0, -0.4, 0.9])
    best = min(((w - (w @ np.array(b)) / w.size * np.array(b)) ** 2).sum()      # optimal alpha for each B
               for b in itertools.product((-1.0, 1.0), repeat=w.size))
    np.testing.assert_allclose(((w - xnor_binarize(w, ch_axis=None).data) ** 2).sum(), best, rtol=1e-12)


def test_xnor_paper_gradient_hand_case():
    w = Tensor(W, requires_grad=True)
    xnor_binarize(w).backward(np.ones((2, 3), np.float32))
    # row 0: n = 3, alpha = 2, only |1| <= 1; row 1: alpha = 1/3, all inside: 1/3 + 1/3
    np.testing.assert_allclose(w.grad, [[1 / 3 + 2, 1 / 3, 1 / 3], [2 / 3, 2 / 3, 2 / 3]], rtol=1e-6)


def test_xnor_full_gradient_is_exact_where_sign_is_flat():
    rng = np.random.default_rng(1)
    w = rng.uniform(1.5, 3.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))   # |w| > 1: the STE term is off
    assert gradcheck(lambda t: xnor_binarize(t, ch_axis=0, grad="full"), w)
    assert gradcheck(lambda t: xnor_binarize(t, ch_axis=None, grad="full"), w)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (3, 5), elements=st.floats(-100, 100, allow_nan=False, width=32)))
def test_xnor_properties(w):
    y = xnor_binarize(w).data
    alpha = xnor_alpha(w)[:, None]
    assert np.allclose(np.abs(y), alpha, rtol=1e-6)                      # every entry is +-alpha of its row
    assert np.all((np.sign(y) == np.where(w >= 0, 1, -1)) | (alpha == 0))


# ----- IR-Net Libra-PB -------------------------------------------------------------------------------
def test_libra_pb_hand_case():
    # mean 2.5, std (ddof=1) sqrt(5/3); w_std = [-1.162, -0.387, 0.387, 1.162]; mean|w_std| = 0.775 -> s = 2**0
    w = np.float32([[1, 2, 3, 4], [0.3, -0.3, 0.3, -0.3]])
    np.testing.assert_allclose(standardize(w).data[0], (w[0] - 2.5) / math.sqrt(5 / 3), rtol=1e-6)
    np.testing.assert_array_equal(libra_pb(w).data[0], [-1, -1, 1, 1])
    np.testing.assert_array_equal(libra_pb_scale(np.float32([[0.3, -0.3], [0.7, -0.7]])), [0.25, 0.5])


def test_libra_pb_entropy_is_one_bit_and_beats_plain_sign_on_skewed_weights():
    w = np.random.default_rng(0).normal(0.7, 1.0, (8, 2000)).astype(np.float32)   # mostly positive
    h_sign = binary_entropy(np.where(w >= 0, 1, -1))
    h_libra = binary_entropy(libra_pb(w).data)
    assert h_libra > 0.995
    assert h_sign < 0.85 < h_libra


@pytest.mark.parametrize("axis, ddof", [(0, 1), (0, 0), (None, 1), (1, 0)])
def test_standardize_gradient(axis, ddof):
    w = np.random.default_rng(2).standard_normal((3, 4))
    assert gradcheck(lambda t: standardize(t, ch_axis=axis, ddof=ddof), w)


def test_libra_pb_backward_is_ste_times_scale_then_standardize():
    w_np = np.random.default_rng(3).normal(0, 3.0, (2, 6))
    g = np.random.default_rng(4).standard_normal((2, 6))
    w = Tensor(w_np, requires_grad=True, dtype=np.float64)
    libra_pb(w).backward(g)
    ref = Tensor(w_np, requires_grad=True, dtype=np.float64)
    scale = libra_pb_scale(standardize(w_np).data)[:, None]
    standardize(ref).backward(g * scale)
    assert np.any(scale != 1)
    np.testing.assert_allclose(w.grad, ref.grad, rtol=1e-12)


def test_libra_pb_with_ede_estimator():
    # the sign's backward is EDE's k t (1 - tanh^2(t w_hat)), not the identity: then the scale and
    # the standardization's exact gradient, as in the identity-STE test above
    w_np = np.array([[0.1, -0.4, 2.0, 0.3]])
    t, k = 2.0, 1.5
    w = Tensor(w_np, requires_grad=True, dtype=np.float64)
    libra_pb(w, estimator="ede", t=t, k=k).backward(np.ones((1, 4)))
    w_hat = standardize(w_np).data
    ede = k * t * (1 - np.tanh(t * w_hat) ** 2)
    ref = Tensor(w_np, requires_grad=True, dtype=np.float64)
    standardize(ref).backward(ede * libra_pb_scale(w_hat)[:, None])
    np.testing.assert_allclose(w.grad, ref.grad, rtol=1e-6)  # the EDE slope is computed in float32
    identity = Tensor(w_np, requires_grad=True, dtype=np.float64)
    libra_pb(identity).backward(np.ones((1, 4)))
    assert np.abs(w.grad - identity.grad).max() > 0.1  # the estimator matters


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (2, 6), elements=st.floats(-50, 50, allow_nan=False, width=32)))
def test_libra_pb_levels_are_signed_powers_of_two(w):
    y = libra_pb(w).data
    mags = np.abs(y[y != 0])
    assert np.all(np.log2(mags) == np.round(np.log2(mags)))
    assert np.all(np.abs(y) == np.abs(y).max(axis=1, keepdims=True))    # one magnitude per channel


def test_binary_entropy_hand_cases():
    assert binary_entropy([1, 1, -1, -1]) == 1.0
    assert binary_entropy([1, 1, 1, 1]) == 0.0 and binary_entropy([0, 0, 0]) == 0.0
    assert binary_entropy([1, 1, 1, -1]) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))


# ----- 0/1 activations ----------------------------------------------------------------------------
def test_binarize01_forward_backward_and_sparsity():
    x = Tensor(np.float32([-1.0, 0.2, 0.5, 0.9, 1.2]), requires_grad=True)
    y = binarize01(x)
    np.testing.assert_array_equal(y.data, [0, 0, 1, 1, 1])
    y.backward(np.float32([1, 2, 3, 4, 5]))
    np.testing.assert_array_equal(x.grad, [0, 2, 3, 4, 0])              # window [0, 1]
    z = np.random.default_rng(0).standard_normal(20000).astype(np.float32)
    zeros = np.mean(binarize01(z, threshold=0.0).data == 0)
    assert 0.48 < zeros < 0.52                                           # half the activations are exactly 0
    np.testing.assert_array_equal(binarize01(np.float32([0.1, 0.3]), threshold=0.2, window=0.05).data, [0, 1])


# ----- degenerate inputs and errors ---------------------------------------------------------------
def test_degenerate_inputs():
    zeros = np.zeros((2, 3), np.float32)
    assert not np.any(xnor_binarize(zeros).data)
    assert not np.any(libra_pb(zeros).data) and np.isfinite(libra_pb(zeros).data).all()
    const = libra_pb(np.full((2, 3), 4.0, np.float32)).data           # zero spread: no NaN, zeros
    assert not np.any(const)
    np.testing.assert_array_equal(xnor_binarize(np.full((2, 3), -4.0, np.float32)).data, -4 * np.ones((2, 3)))
    np.testing.assert_array_equal(xnor_binarize(np.float32([-0.3]), ch_axis=None).data, np.float32([-0.3]))
    assert not np.any(libra_pb(np.float32([[0.7]])).data)                # one element: std undefined -> 0
    for fn in (binarize, xnor_binarize, libra_pb, lambda t: binarize01(t)):
        for bad in (np.float32([[1, np.nan]]), np.float32([[np.inf, 1]])):
            with pytest.raises(ValueError, match="must be finite"):
                fn(bad)


def test_named_errors():
    with pytest.raises(ValueError, match="axis must be None or an int in -2..1"):
        xnor_binarize(W, ch_axis=2)
    with pytest.raises(ValueError, match="grad must be"):
        xnor_binarize(W, grad="exact")
    with pytest.raises(ValueError, match="ddof"):
        standardize(W, ddof=2)
    with pytest.raises(ValueError, match="window must be a finite number > 0, got 0"):
        binarize01(W, window=0)
    with pytest.raises(ValueError, match="threshold"):
        binarize01(W, threshold=float("nan"))
    with pytest.raises(ValueError, match="at least one element"):
        xnor_alpha(np.zeros((0, 3)))
