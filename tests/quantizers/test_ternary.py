"""Ternary quantizers: TWN, TTQ, soft-threshold ternary (qnn_lite.quantizers.ternary)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qnn_lite import Tensor
from qnn_lite.autograd import gradcheck
from qnn_lite.quantizers.ternary import (soft_threshold_ternary, sttn_alpha, ttq_ternarize, twn_params,
                                         twn_ternarize)

W5 = np.array([-1.0, -0.2, 0.05, 0.3, 0.9])


# ----- TWN ------------------------------------------------------------------------------------
def test_twn_hand_case():
    # mean|W| = 2.45 / 5 = 0.49 -> delta = 0.343; survivors -1.0 and 0.9 -> alpha = 0.95
    delta, alpha = twn_params(W5)
    assert delta == pytest.approx(0.343) and alpha == pytest.approx(0.95)
    np.testing.assert_allclose(twn_ternarize(W5).data, [-0.95, 0, 0, 0, 0.95])
    # on the threshold is zero (|W| > delta): delta = 0.5 * mean|W| = 0.5 exactly
    np.testing.assert_allclose(twn_ternarize(np.array([1.0, -1.0, 0.5, 1.5]), delta_factor=0.5).data,
                               np.array([1, -1, 0, 1]) * 3.5 / 3)


def test_twn_per_channel():
    w = np.stack([W5, np.full(5, 2.0), np.zeros(5)])
    delta, alpha = twn_params(w, ch_axis=0)
    np.testing.assert_allclose(delta, [0.343, 1.4, 0.0])
    np.testing.assert_allclose(alpha, [0.95, 2.0, 0.0])                 # all-zero channel: alpha = 0, no NaN
    np.testing.assert_allclose(twn_ternarize(w, ch_axis=0).data, [[-0.95, 0, 0, 0, 0.95], [2] * 5, [0] * 5])


def test_twn_alpha_is_least_squares_for_its_pattern():
    w = np.random.default_rng(0).standard_normal(200)
    delta, alpha = twn_params(w)
    t = np.sign(w) * (np.abs(w) > delta)
    grid = np.linspace(0, 3, 3001)
    errors = ((w[None] - grid[:, None] * t[None]) ** 2).sum(axis=1)
    assert abs(grid[np.argmin(errors)] - alpha) <= grid[1] - grid[0]


def test_twn_backward_is_identity():
    w = Tensor(W5, requires_grad=True, dtype=np.float64)
    twn_ternarize(w).backward(np.arange(5.0))
    np.testing.assert_array_equal(w.grad, np.arange(5.0))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.integers(1, 30), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)))
def test_twn_properties(w):
    y = twn_ternarize(w).data
    delta, alpha = twn_params(w)
    assert np.isin(y, np.float32([-alpha, 0, alpha])).all()                 # the level set
    assert np.all((np.sign(y) == np.sign(w)) | (y == 0))
    np.testing.assert_array_equal(y == 0, np.abs(w) <= delta)              # the zero set is |w| <= delta


# ----- TTQ -------------------------------------------------------------------------------------
def test_ttq_forward_and_latent_gradient_by_hand():
    # threshold 0.25 * max|w| = 0.25: positives {0.3, 0.9}, negatives {-1.0}, zero set {-0.2, 0.05}
    w = Tensor(W5, requires_grad=True, dtype=np.float64)
    wp = Tensor(2.0, requires_grad=True, dtype=np.float64)
    wn = Tensor(3.0, requires_grad=True, dtype=np.float64)
    y = ttq_ternarize(w, wp, wn, threshold=0.25)
    np.testing.assert_array_equal(y.data, [-3, 0, 0, 2, 2])
    y.backward(np.array([1.0, 2, 3, 4, 5]))
    np.testing.assert_array_equal(w.grad, [3 * 1, 2, 3, 2 * 4, 2 * 5])     # Wn*g, g, g, Wp*g, Wp*g
    assert wp.grad == 9.0 and wn.grad == -1.0                              # sum over I_p; minus sum over I_n


def test_ttq_scale_gradients_by_gradcheck():
    w = np.random.default_rng(0).standard_normal((3, 5))
    assert gradcheck(lambda wp, wn: ttq_ternarize(w, wp, wn), np.array(0.7), np.array(1.3))
    # per-channel scales broadcast against w; the engine sums their gradients back
    assert gradcheck(lambda wp, wn: ttq_ternarize(w, wp, wn, threshold=0.3),
                     np.array([[0.5], [1.0], [1.5]]), np.array([[2.0], [1.0], [0.1]]))


# ----- soft-threshold ternary --------------------------------------------------------------------
def test_sttn_hand_cases():
    w1, w2 = np.array([[1.0, -1.0, 0.5]]), np.array([[1.0, 1.0, -0.5]])
    alpha = (2.5 / 3 + 2.5 / 3) / 2
    np.testing.assert_allclose(sttn_alpha(w1, w2), [alpha])
    np.testing.assert_allclose(soft_threshold_ternary(w1, w2).data, [[2 * alpha, 0, 0]])
    # backward: alpha = 0.5, B1 + B2 = [2, 0], d_alpha = sum(g (B1+B2)) / (2n) = 0.5
    a = Tensor(np.array([[0.5, -0.5]]), requires_grad=True, dtype=np.float64)
    b = Tensor(np.array([[0.5, 0.5]]), requires_grad=True, dtype=np.float64)
    soft_threshold_ternary(a, b).backward(np.ones((1, 2)))
    np.testing.assert_allclose(a.grad, [[0.5 + 0.5, 0.5 - 0.5]])
    np.testing.assert_allclose(b.grad, [[0.5 + 0.5, 0.5 + 0.5]])


def test_sttn_alpha_gradient_is_exact_where_sign_is_flat():
    rng = np.random.default_rng(5)
    w1 = rng.uniform(1.2, 2.0, (2, 4)) * rng.choice([-1.0, 1.0], (2, 4))
    w2 = rng.uniform(1.2, 2.0, (2, 4)) * rng.choice([-1.0, 1.0], (2, 4))
    assert gradcheck(lambda a, b: soft_threshold_ternary(a, b, ch_axis=0), w1, w2)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (2, 2, 5), elements=st.floats(-10, 10, allow_nan=False, width=32)))
def test_sttn_levels(pair):
    y = soft_threshold_ternary(pair[0], pair[1]).data
    alpha = sttn_alpha(pair[0], pair[1])[:, None]
    assert np.all(np.isclose(np.abs(y), 2 * alpha, rtol=1e-6) | (y == 0))
    differ = (pair[0] >= 0) != (pair[1] >= 0)
    np.testing.assert_array_equal(y == 0, differ | (alpha == 0))                # zero exactly where signs differ


# ----- degenerate inputs and errors ---------------------------------------------------------------
def test_degenerate_inputs():
    zeros = np.zeros((2, 3))
    assert not np.any(twn_ternarize(zeros).data) and not np.any(ttq_ternarize(zeros, 1.0, 1.0).data)
    np.testing.assert_allclose(twn_ternarize(np.full(4, -3.0)).data, -3.0)          # constant survives
    np.testing.assert_allclose(twn_ternarize(np.array([0.4])).data, [0.4])
    np.testing.assert_array_equal(ttq_ternarize(np.array([-0.4]), 2.0, 5.0).data, [-5.0])
    for bad in (np.array([1.0, np.nan]), np.array([np.inf, 1.0])):
        with pytest.raises(ValueError, match="w must be finite"):
            twn_ternarize(bad)
        with pytest.raises(ValueError, match="w must be finite"):
            ttq_ternarize(bad, 1.0, 1.0)
        with pytest.raises(ValueError, match="w1 must be finite"):
            soft_threshold_ternary(bad, np.ones(2))


def test_named_errors():
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0.0, 1.0\), got 0"):
        ttq_ternarize(W5, 1.0, 1.0, threshold=0)
    with pytest.raises(ValueError, match="threshold"):
        ttq_ternarize(W5, 1.0, 1.0, threshold=1.5)
    with pytest.raises(ValueError, match="delta_factor"):
        twn_ternarize(W5, delta_factor=-0.1)
    with pytest.raises(ValueError, match="wp must broadcast"):
        ttq_ternarize(W5, np.ones(3), 1.0)
    with pytest.raises(ValueError, match="wn must be finite"):
        ttq_ternarize(W5, 1.0, np.nan)
    with pytest.raises(ValueError, match="same shape"):
        soft_threshold_ternary(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis"):
        twn_ternarize(W5, ch_axis=1)
