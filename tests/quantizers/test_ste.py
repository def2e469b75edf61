"""Straight-through estimators: forward/backward tables, surrogate derivatives, EDE schedule, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from qnn_lite import Tensor
from qnn_lite.quantizers import ste
from qnn_lite.quantizers.ste import (ESTIMATORS, approx_sign, ede_schedule, ede_sign, clipped_ste,
                                     round_ste, sign, sign_ste, swish_sign)

GRID = np.array([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], dtype=np.float32)
G = np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.float32)  # an upstream gradient that is not all ones
SIGN_GRID = np.array([-1, -1, -1, 1, 1, 1, 1], dtype=np.float32)


def fwd_bwd(fn, x, g, *args):
    xt = Tensor(np.asarray(x), requires_grad=True)
    y = fn(xt, *args)
    y.backward(g)
    return y.data, xt.grad


# ----- sign ---------------------------------------------------------------------------
def test_sign_zero_is_plus_one_and_float32():
    out = sign(np.array([-2.0, -0.0, 0.0, 3.0, -np.inf, np.inf]))
    np.testing.assert_array_equal(out, [-1, 1, 1, 1, -1, 1])
    assert out.dtype == np.float32
    assert sign(np.array([0], dtype=np.int64)).tolist() == [1.0]


def test_sign_rejects_nan():
    with pytest.raises(ValueError, match="x must not contain NaN"):
        sign(np.array([1.0, np.nan]))


# ----- tables: forward and backward of every estimator --------------------------------
def test_round_ste_table():
    x = np.array([-1.5, -0.5, 0.4, 0.5, 1.5, 2.5, 2.6], dtype=np.float32)
    y, dx = fwd_bwd(round_ste, x, G)
    np.testing.assert_array_equal(y, [-2, -0, 0, 0, 2, 2, 3])  # half to even
    np.testing.assert_array_equal(dx, G)


def test_sign_ste_table():
    y, dx = fwd_bwd(sign_ste, GRID, G)
    np.testing.assert_array_equal(y, SIGN_GRID)
    np.testing.assert_array_equal(dx, G)


def test_clipped_ste_table():
    y, dx = fwd_bwd(clipped_ste, GRID, G)
    np.testing.assert_array_equal(y, SIGN_GRID)
    np.testing.assert_array_equal(dx, [0, 2, 3, 4, 5, 6, 0])  # |x| <= 1 passes, both ends included


def test_approx_sign_table():
    y, dx = fwd_bwd(approx_sign, GRID, np.ones(7, np.float32))
    np.testing.assert_array_equal(y, SIGN_GRID)
    # 2+2x on [-1,0), 2-2x on [0,1), else 0
    np.testing.assert_array_equal(dx, [0, 0, 1, 2, 1, 0, 0])
    _, dx = fwd_bwd(approx_sign, np.array([-0.25, 0.75], np.float32), np.array([2, 4], np.float32))
    np.testing.assert_allclose(dx, [2 * 1.5, 4 * 0.5])


def test_ede_table():
    y, dx = fwd_bwd(ede_sign, GRID, np.ones(7, np.float32), 1.0, 1.0)
    np.testing.assert_array_equal(y, SIGN_GRID)
    # k t (1 - tanh^2(t x)) with t = k = 1: 1 - tanh^2(x)
    np.testing.assert_allclose(dx, [0.18070664, 0.41997434, 0.78644773, 1.0, 0.78644773, 0.41997434, 0.18070664],
                               rtol=1e-6)
    _, dx = fwd_bwd(ede_sign, GRID, np.ones(7, np.float32), 2.0, 1.0)  # 2 (1 - tanh^2(2x))
    np.testing.assert_allclose(dx, [0.01973207, 0.14130165, 0.83994868, 2.0, 0.83994868, 0.14130165, 0.01973207],
                               rtol=1e-5)  # float32: 1 - tanh^2 cancels in the tails


def test_swish_sign_table():
    y, dx = fwd_bwd(swish_sign, GRID, np.ones(7, np.float32), 1.0)
    np.testing.assert_array_equal(y, SIGN_GRID)
    # beta (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x)); at x = 1: (2 - tanh .5)/(1 + cosh 1) = 0.6047
    np.testing.assert_allclose(dx, [0.31239517, 0.60473224, 0.88245805, 1.0, 0.88245805, 0.60473224, 0.31239517],
                               rtol=1e-6)
    _, dx = fwd_bwd(swish_sign, GRID, np.ones(7, np.float32), 5.0)
    assert dx[3] == 5.0  # slope beta at 0
    assert (dx[[0, 1, 2]] < 0).all()  # SignSwish overshoots +-1, so its slope turns negative


# ----- each backward is the derivative of a smooth surrogate (central differences) ------
def _surrogates():
    def bireal(x):  # Bi-Real's piecewise polynomial
        return np.where(x < -1, -1, np.where(x < 0, 2 * x + x * x, np.where(x < 1, 2 * x - x * x, 1)))

    def signswish(x, beta=2.0):
        s = 1 / (1 + np.exp(-beta * x))
        return 2 * s * (1 + beta * x * (1 - s)) - 1

    return [
        (lambda x: approx_sign(x), bireal),
        (lambda x: ede_sign(x, 3.0, 0.5), lambda x: 0.5 * np.tanh(3.0 * x)),
        (lambda x: swish_sign(x, 2.0), signswish),
        (lambda x: clipped_ste(x), lambda x: np.clip(x, -1, 1)),
    ]


@pytest.mark.parametrize("case", range(4))
def test_backward_is_surrogate_derivative(case):
    fn, surrogate = _surrogates()[case]
    x = np.array([-2.3, -1.2, -0.7, -0.31, 0.13, 0.45, 0.9, 1.7], dtype=np.float64)  # away from kinks
    h = 1e-6
    expected = (surrogate(x + h) - surrogate(x - h)) / (2 * h)
    _, dx = fwd_bwd(fn, x, np.ones_like(x))
    np.testing.assert_allclose(dx, expected, atol=1e-6, err_msg=f"received f'={dx}, expecting f'={expected}")


# ----- the ESTIMATORS table draws the same curves as the Functions --------------------
@pytest.mark.parametrize("name,fn,kw", [
    ("round_identity", round_ste, {}), ("identity", sign_ste, {}), ("clipped", clipped_ste, {}),
    ("approx_sign", approx_sign, {}), ("ede", lambda x: ede_sign(x, 2.0, 0.5), {"t": 2.0, "k": 0.5}),
    ("swish_sign", lambda x: swish_sign(x, 3.0), {"beta": 3.0}),
])
def test_estimators_table_matches_functions(name, fn, kw):
    x = np.linspace(-2, 2, 41).astype(np.float32)
    forward, backward = ESTIMATORS[name].forward, ESTIMATORS[name].slope
    y, dx = fwd_bwd(fn, x, np.ones_like(x))
    np.testing.assert_array_equal(forward(x), y)
    np.testing.assert_allclose(backward(x, **kw), dx, rtol=1e-6)
    assert set(ESTIMATORS) == {"round_identity", "identity", "clipped", "approx_sign", "ede", "swish_sign"}


# ----- EDE schedule --------------------------------------------------------------------
def test_ede_schedule_endpoints():
    t0, k0 = ede_schedule(0, 100)     # IR-Net's T_min = 0.1, T_max = 10 (Qin et al., 2020)
    assert math.isclose(t0, 0.1, rel_tol=1e-12) and math.isclose(k0, 10.0, rel_tol=1e-9)
    t1, k1 = ede_schedule(100, 100)
    assert math.isclose(t1, 10.0, rel_tol=1e-12) and k1 == 1.0
    t_mid, k_mid = ede_schedule(50, 100)  # geometric midpoint of 0.1 and 10
    assert math.isclose(t_mid, 1.0, rel_tol=1e-12) and math.isclose(k_mid, 1.0, rel_tol=1e-12)
    t_a, k_a = ede_schedule(0, 100, t_min=1e-3)
    assert math.isclose(t_a, 1e-3, rel_tol=1e-12) and math.isclose(k_a, 1000.0, rel_tol=1e-9)
    t_b, _ = ede_schedule(50, 100, t_min=1e-3)  # geometric midpoint of 1e-3 and 10
    assert math.isclose(t_b, 0.1, rel_tol=1e-12)


def test_ede_schedule_monotone():
    ts, ks = zip(*(ede_schedule(e, 20) for e in range(21)))
    assert all(a < b for a, b in zip(ts, ts[1:]))
    assert all(a >= b for a, b in zip(ks, ks[1:]))
    assert all(k >= 1 for k in ks)


@pytest.mark.parametrize("args,match", [
    ((-1, 10), "epoch must be an int in 0..epochs=10, got -1"),
    ((11, 10), "epoch must be an int in 0..epochs=10, got 11"),
    ((0, 0), "epochs must be an int >= 1, got 0"),
    ((0.5, 10), "epoch must be an int"),
    ((True, 10), "epoch must be an int"),
])
def test_ede_schedule_errors(args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ede_schedule(*args)


def test_ede_schedule_t_errors():
    with pytest.raises(ValueError, match="t_min must be a number > 0.0, got 0"):
        ede_schedule(0, 10, t_min=0.0)
    with pytest.raises(ValueError, match="t_min must be <= t_max"):
        ede_schedule(0, 10, t_min=5.0, t_max=1.0)


# ----- parameter and input errors --------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda x: swish_sign(x, 0.0), "beta must be a number > 0.0, got 0.0"),
    (lambda x: swish_sign(x, -1.0), "beta must be a number > 0.0, got -1.0"),
    (lambda x: ede_sign(x, 0.0, 1.0), "t must be a number > 0.0, got 0.0"),
    (lambda x: ede_sign(x, 1.0, math.inf), "k must be a number > 0.0, got inf"),
    (lambda x: ede_sign(x, "1", 1.0), "t must be a number > 0.0"),
    (lambda x: ESTIMATORS["swish_sign"].slope(x.data, beta=-2), "beta must be a number > 0.0"),
])
def test_parameter_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(Tensor(GRID))


@pytest.mark.parametrize("fn", [round_ste, sign_ste, clipped_ste, approx_sign])
def test_nan_input_rejected(fn):
    with pytest.raises(ValueError, match="NaN"):
        fn(Tensor(np.array([0.5, np.nan], np.float32)))


# ----- degenerate inputs ------------------------------------------------------------------
def test_infinities_and_empty_and_shapes():
    x = np.array([-np.inf, np.inf], np.float32)
    y, dx = fwd_bwd(lambda t: swish_sign(t, 5.0), x, np.ones(2, np.float32))
    np.testing.assert_array_equal(y, [-1, 1])
    np.testing.assert_array_equal(dx, [0, 0])  # the slope's limit, not NaN
    _, dx = fwd_bwd(approx_sign, x, np.ones(2, np.float32))
    np.testing.assert_array_equal(dx, [0, 0])
    _, dx = fwd_bwd(lambda t: ede_sign(t, 10.0, 1.0), x, np.ones(2, np.float32))
    np.testing.assert_array_equal(dx, [0, 0])
    y = approx_sign(Tensor(np.zeros((0, 3), np.float32)))
    assert y.shape == (0, 3)
    x2 = np.arange(-3, 3, dtype=np.float32).reshape(2, 3) / 2
    y, dx = fwd_bwd(clipped_ste, x2, np.ones((2, 3), np.float32))
    assert y.shape == dx.shape == (2, 3)
    np.testing.assert_array_equal(dx, [[0, 1, 1], [1, 1, 1]])


# ----- properties ------------------------------------------------------------------------
floats = hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=6),
                    elements=st.floats(-1e4, 1e4, width=32))


@settings(max_examples=40, deadline=None)
@given(floats)
def test_sign_properties(x):
    s = sign(x)
    assert set(np.unique(s)) <= {-1.0, 1.0}
    assert (s * x >= 0).all()
    y, dx = fwd_bwd(approx_sign, x, np.ones_like(x))
    np.testing.assert_array_equal(y, s)
    assert (dx >= 0).all() and (dx <= 2).all() and (dx[np.abs(x) >= 1] == 0).all()


@settings(max_examples=40, deadline=None)
@given(floats)
def test_round_ste_properties(x):
    y, dx = fwd_bwd(round_ste, x, np.full_like(x, 3.0))
    assert (np.abs(y - x) <= 0.5).all()
    assert (y == np.round(y)).all()
    assert (dx == 3.0).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200), st.data())
def test_ede_schedule_property(epochs, data):
    epoch = data.draw(st.integers(0, epochs))
    t, k = ede_schedule(epoch, epochs)
    assert 1e-3 * (1 - 1e-12) <= t <= 10 * (1 + 1e-12)
    assert k == max(1 / t, 1)
    # the peak slope k*t of the EDE backward is max(1, t)
    assert math.isclose(ESTIMATORS["ede"].slope(np.zeros(1), t=t, k=k)[0], max(1.0, t), rel_tol=1e-6)


def test_module_exports():
    assert set(ste.__all__) >= {"sign", "round_ste", "sign_ste", "clipped_ste", "approx_sign", "ede_sign",
                                "swish_sign", "ede_schedule", "ESTIMATORS", "SignClippedSTE"}


# ----- the one registry ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_registry_entry_is_consistent(name):
    """slope = d(surrogate)/dx (central differences, away from kinks), and apply() is the Function's backward."""
    e = ESTIMATORS[name]
    x = np.array([-1.7, -0.6, -0.3, 0.2, 0.45, 0.8, 1.4])
    h = 1e-6
    fd = (e.surrogate(x + h, **e.params) - e.surrogate(x - h, **e.params)) / (2 * h)
    np.testing.assert_allclose(e.slope(x, **e.params), fd, rtol=1e-4, atol=1e-6)
    t = Tensor(x.astype(np.float32), requires_grad=True)
    e.apply(t, **e.params).backward(np.ones(x.size, np.float32))
    np.testing.assert_allclose(t.grad, e.slope(x.astype(np.float32), **e.params), rtol=1e-5, atol=1e-6)
    assert isinstance(e.label, str) and e.label


def test_sign_estimators_are_the_registry_minus_round():
    from qnn_lite.quantizers.ste import SIGN_ESTIMATORS, get_estimator
    assert SIGN_ESTIMATORS == tuple(n for n in ESTIMATORS if n != "round_identity")
    with pytest.raises(ValueError, match="estimator must be one of"):
        get_estimator("hardtanh")
