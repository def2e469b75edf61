"""Power-of-two, multi-hot and mu-law quantizers (qnn_lite.quantizers.log)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qnn_lite import Tensor
from qnn_lite.quantizers.log import (mu_law_compress, mu_law_expand, mu_law_quantize, multi_hot_quantize,
                                     pot_exponent_range, pot_levels, pot_quantize, round_exponent)

SQRT2 = math.sqrt(2)
finite32 = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


def pot(x, *args, **kw):
    return pot_quantize(np.asarray(x, dtype=np.float32), *args, **kw).data


# ----- hand-computed cases ------------------------------------------------------------------
@pytest.mark.parametrize("rounding, expected", [
    # 1.4 < sqrt2 and < 1.5 -> 1 both ways; 1.45 > sqrt2 but < 1.5; 2.9 > 2 sqrt2 = 2.83 but < 3;
    # 3 = 1.5 * 2 is a tie in the value domain and goes up; -0.3 -> -0.25; 100 saturates at 2**3.
    ("log",   [1.0, 2.0, 4.0, 4.0, -0.25, 0.0, 8.0]),
    ("value", [1.0, 1.0, 2.0, 4.0, -0.25, 0.0, 8.0]),
])
def test_pot_hand_cases(rounding, expected):
    x = [1.4, 1.45, 2.9, 3.0, -0.3, 0.0, 100.0]
    np.testing.assert_array_equal(pot(x, 4, rounding, max_exp=3), np.float32(expected))


def test_pot_default_max_exp_rounds_the_maximum_the_same_way():
    assert pot([1.4], 4, "log")[0] == 1.0 and pot([1.4], 4, "value")[0] == 1.0
    assert pot([1.45], 4, "log")[0] == 2.0 and pot([1.45], 4, "value")[0] == 1.0
    # value rounding of max|x| is INQ's n1 = floor(log2(4 s / 3)): s = 5.9 -> 4, s = 6 -> 8
    assert pot([5.9], 3, "value")[0] == 4.0 and pot([6.0], 3, "value")[0] == 8.0


def test_level_set_and_exponent_window():
    assert pot_exponent_range(4, 3) == (-3, 3)          # 2**3 - 1 = 7 exponents
    np.testing.assert_array_equal(pot_levels(3, 0), [0.0, 0.25, 0.5, 1.0])
    assert len(pot_levels(2, 5)) == 2                   # bits=2: {0, +-2**5}


def test_zero_thresholds():
    # bits=3, max_exp=0: levels {0, 1/4, 1/2, 1}; 'log' zeroes below 0.25/sqrt2 = 0.1768,
    # 'value' below the midpoint 0.125.
    x = [0.18, 0.17, 0.13, 0.12, -0.18, -0.12]
    np.testing.assert_array_equal(pot(x, 3, "log", max_exp=0), np.float32([0.25, 0, 0, 0, -0.25, 0]))
    np.testing.assert_array_equal(pot(x, 3, "value", max_exp=0), np.float32([0.25, 0.25, 0.25, 0, -0.25, 0]))


def test_round_exponent_is_exact_at_sqrt2():
    below = np.nextafter(np.float32(SQRT2), np.float32(0))
    above = np.nextafter(np.float32(SQRT2), np.float32(2))
    assert below < SQRT2 < above
    np.testing.assert_array_equal(round_exponent(np.array([below, above]), "log"), [0, 1])
    np.testing.assert_array_equal(round_exponent(np.array([1.4999999, 1.5]), "value"), [0, 1])
    np.testing.assert_array_equal(round_exponent(np.array([0.75, 0.7]), "value"), [0, -1])


def test_pot_ste_backward_masks_saturated_values():
    x = Tensor(np.float32([0.5, 3.0, -6.0, 0.0, 0.01]), requires_grad=True)
    y = pot_quantize(x, 3, "log", max_exp=0)                 # 3 and -6 round above 2**0
    y.backward(np.float32([1, 2, 3, 4, 5]))
    np.testing.assert_array_equal(y.data, np.float32([0.5, 1, -1, 0, 0]))
    np.testing.assert_array_equal(x.grad, np.float32([1, 0, 0, 4, 5]))


# ----- properties ------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.integers(1, 40), elements=finite32), st.integers(2, 6), st.sampled_from(["log", "value"]))
def test_pot_properties(x, bits, rounding):
    q = pot(x, bits, rounding)
    top = int(round_exponent(np.max(np.abs(x)), rounding)) if np.any(x) else 0
    levels = pot_levels(bits, top).astype(np.float32)
    assert np.isin(np.abs(q), levels).all()                            # in the level set
    assert np.all((np.sign(q) == np.sign(x)) | (q == 0))                # sign kept, or zero
    lo = pot_exponent_range(bits, top)[0]
    ax = np.abs(x.astype(np.float64))   # 2**lo may underflow float32 (numpy 2.3 casts the bound to x's dtype)
    inside = ax >= 2.0 ** lo                                            # neither zeroed nor saturated
    bound = SQRT2 - 1 if rounding == "log" else 1 / 3                   # q/x in (1/sqrt2, sqrt2] or (2/3, 4/3]
    err = np.abs(q.astype(np.float64) - x)
    assert np.all(err[inside] <= bound * np.abs(x[inside]) * (1 + 1e-6))
    zero_below = 2.0 ** lo / (SQRT2 if rounding == "log" else 2)
    assert np.all((q != 0) == (ax >= zero_below))


@settings(max_examples=30, deadline=None)
@given(arrays(np.float32, st.integers(1, 30), elements=finite32), st.sampled_from(["log", "value"]))
def test_multi_hot_error_never_grows_with_k(x, rounding):
    errors = [np.abs(multi_hot_quantize(x, k, 5, rounding).data.astype(np.float64) - x).max() for k in (1, 2, 3)]
    assert errors[0] >= errors[1] >= errors[2]


def test_multi_hot_hand_cases():
    x = np.float32([1.3125, 1.45, -0.3])
    np.testing.assert_array_equal(multi_hot_quantize(x, 1, 5, max_exp=3).data, pot(x, 5, max_exp=3))
    # 1.3125 = 1 + 1/4 + 1/16 is found exactly with three terms; 1.45 -> 2 - 1/2 with two.
    np.testing.assert_array_equal(multi_hot_quantize(x, 3, 5, max_exp=3).data[0], np.float32(1.3125))
    np.testing.assert_array_equal(multi_hot_quantize(x, 2, 5, max_exp=3).data[1], np.float32(1.5))


def test_mu_law_hand_case_and_inverse():
    mu = 255.0
    # x = 0.01 of x_max = 1, bits=3 (L = 3): F(x) = ln(3.55)/ln(256) = 0.2285 -> 0.685 -> 1 -> y = 1/3
    q = mu_law_quantize(np.float32([0.01, -1.0, 1.0]), bits=3, mu=mu).data
    np.testing.assert_allclose(q, [((1 + mu) ** (1 / 3) - 1) / mu, -1, 1], rtol=1e-6)
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(mu_law_expand(mu_law_compress(x, mu), mu), x, atol=1e-12)


def test_mu_law_is_finer_than_uniform_near_zero():
    x = np.linspace(-0.05, 0.05, 201).astype(np.float32)
    mu_err = np.abs(mu_law_quantize(x, 6, x_max=1.0).data - x).mean()
    step = 1.0 / (2 ** 5 - 1)                                   # 6-bit uniform grid on [-1, 1]
    uniform_err = np.abs(np.rint(x / step) * step - x).mean()
    assert mu_err < uniform_err / 3


def test_mu_law_clips_beyond_x_max_and_masks_gradient():
    x = Tensor(np.float32([0.5, 2.0, -3.0]), requires_grad=True)
    y = mu_law_quantize(x, 8, x_max=1.0)
    y.backward(np.ones(3, np.float32))
    assert y.data[1] == 1.0 and y.data[2] == -1.0
    np.testing.assert_array_equal(x.grad, [1, 0, 0])


# ----- degenerate inputs and errors ---------------------------------------------------------------
@pytest.mark.parametrize("fn", [lambda x: pot_quantize(x, 4), lambda x: multi_hot_quantize(x, 2, 4),
                                lambda x: mu_law_quantize(x, 4)])
def test_degenerate_inputs(fn):
    assert not np.any(fn(np.zeros(5, np.float32)).data)                       # zeros -> zeros
    const = fn(np.full(4, 2.5, np.float32)).data
    assert np.all(const == const[0]) and const[0] > 0 and np.isfinite(const).all()
    assert fn(np.float32([-0.7])).shape == (1,)
    for bad in (np.float32([1, np.nan]), np.float32([np.inf, 1]), np.float32([-np.inf])):
        with pytest.raises(ValueError, match="x must be finite"):
            fn(bad)


def test_named_errors():
    x = np.float32([1.0, 2.0])
    with pytest.raises(ValueError, match="bits must be an int in 2..16, got 1"):
        pot_quantize(x, 1)
    with pytest.raises(TypeError, match="bits"):
        pot_quantize(x, 2.5)
    with pytest.raises(ValueError, match="rounding"):
        pot_quantize(x, 4, "nearest")
    with pytest.raises(TypeError, match="max_exp"):
        pot_quantize(x, 4, max_exp=1.5)
    with pytest.raises(ValueError, match="k must be"):
        multi_hot_quantize(x, 0)
    with pytest.raises(ValueError, match="mu"):
        mu_law_quantize(x, 8, mu=0)
    with pytest.raises(ValueError, match="x_max"):
        mu_law_quantize(x, 8, x_max=-1.0)
    with pytest.raises(TypeError, match="x must be a numeric array"):
        pot_quantize(np.array(["a"]), 4)
