"""Stochastic rounding and gradient quantization: unbiasedness, determinism, levels, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from qnn_lite import Tensor
from qnn_lite.quantizers.stochastic import (quantize_gradient, stochastic_fake_quantize, stochastic_quantize,
                                            stochastic_round)

f32 = np.float32
N = 20000


def test_stochastic_round_is_unbiased():
    x = np.array([0.3, -1.7, 2.5, 0.01, -0.99], dtype=np.float64)
    draws = stochastic_round(np.broadcast_to(x, (N, x.size)), np.random.default_rng(0))
    p = x - np.floor(x)
    se = np.sqrt(p * (1 - p) / N)  # Bernoulli(p) standard error
    assert (np.abs(draws.mean(axis=0) - x) < 4 * se).all()
    # the probability of rounding up is the fractional part: for 0.3 about 30 %, not 0 % as rint gives
    assert 0.28 < (draws[:, 0] == 1).mean() < 0.32


def test_round_to_nearest_is_biased_where_stochastic_is_not():
    x = np.full(N, 0.3)
    assert np.rint(x).mean() == 0.0
    assert abs(stochastic_round(x, 1).mean() - 0.3) < 0.02


def test_seeded_determinism_and_generator_advances():
    x = np.linspace(-3, 3, 101)
    np.testing.assert_array_equal(stochastic_round(x, 42), stochastic_round(x, 42))
    rng = np.random.default_rng(42)
    a, b = stochastic_round(x, rng), stochastic_round(x, rng)
    assert not np.array_equal(a, b)  # the Generator moved on
    np.testing.assert_array_equal(a, stochastic_round(x, 42))


def test_integers_and_infinities_unchanged():
    x = np.array([-3.0, 0.0, 5.0, 1e6, -np.inf, np.inf], dtype=f32)
    np.testing.assert_array_equal(stochastic_round(x, 0), x)
    assert stochastic_round(np.array([7], dtype=np.int64), 0).tolist() == [7.0]
    assert stochastic_round(np.zeros((0, 2), f32), 0).shape == (0, 2)
    assert stochastic_round(f32([0.5]), 0).shape == (1,)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=8), elements=st.floats(-1e6, 1e6)),
       st.integers(0, 2 ** 32 - 1))
def test_output_is_floor_or_ceil(x, seed):
    y = stochastic_round(x, seed)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert ((y == np.floor(x)) | (y == np.ceil(x))).all()


def test_stochastic_quantize_grid_clip_and_mean():
    x = np.array([0.13, -0.27, 0.9, -5.0, 5.0], f32)
    s, quant_min, quant_max = f32(0.1), -8, 7
    draws = np.stack([stochastic_quantize(x, s, quant_min, quant_max, rng) for rng in [np.random.default_rng(3)] * 4000])
    k = draws / s
    np.testing.assert_allclose(k, np.rint(k), atol=1e-4)  # on the grid
    assert draws.min() >= -0.8 - 1e-6 and draws.max() <= 0.7 + 1e-6
    np.testing.assert_allclose(draws[:, 3], -0.8, rtol=1e-6)  # clipped below
    np.testing.assert_allclose(draws[:, 4], 0.7, rtol=1e-6)   # clipped above
    se = draws[:, :2].std(axis=0) / np.sqrt(len(draws))
    assert (np.abs(draws[:, :2].mean(axis=0) - x[:2]) < 4 * se + 1e-6).all()  # unbiased inside
    assert set(np.round(draws[:, 0] / s).astype(int)) == {1, 2}  # 0.13 -> 0.1 or 0.2 only


def test_stochastic_quantize_zero_point_and_per_channel_scale():
    x = np.array([[0.25, 0.5], [1.0, 3.0]], f32)
    y = stochastic_quantize(x, np.array([[0.25], [1.0]], f32), 0, 255, 0, zero_point=3)
    np.testing.assert_array_equal(y, x)  # every value already on its channel's grid
    y = stochastic_quantize(f32([-1.0]), 0.25, 0, 255, 0, zero_point=3)
    np.testing.assert_array_equal(y, [-0.75])  # (quant_min - z) s


def test_stochastic_fake_quantize_ste():
    x = Tensor(f32([0.13, -0.27, 0.9, -5.0]), requires_grad=True)
    y = stochastic_fake_quantize(x, 0.1, -8, 7, np.random.default_rng(0))
    np.testing.assert_array_equal(y.data, stochastic_quantize(x.data, 0.1, -8, 7, np.random.default_rng(0)))
    y.backward(f32([1, 2, 3, 4]))
    np.testing.assert_array_equal(x.grad, [1, 2, 0, 0])  # 0.9 / 0.1 = 9 > quant_max = 7, -50 < -8


def test_quantize_gradient_levels_and_unbiased():
    g = np.array([0.03, -0.2, 0.11, 0.0], f32)
    q = quantize_gradient(g, 4, 0)  # levels k * 0.2 / 7, |k| <= 7
    k = q / (f32(0.2) / 7)
    np.testing.assert_allclose(k, np.rint(k), atol=1e-4)
    assert q[3] == 0.0 and abs(q[1] - (-0.2)) < 1e-6
    rng = np.random.default_rng(9)
    draws = np.stack([quantize_gradient(g, 4, rng) for _ in range(4000)])
    se = draws.std(axis=0, dtype=np.float64) / np.sqrt(len(draws))
    assert (np.abs(draws.mean(axis=0, dtype=np.float64) - g) <= 4 * se + 1e-6).all()


def test_quantize_gradient_degenerate():
    np.testing.assert_array_equal(quantize_gradient(np.zeros(5, f32), 8, 0), 0)
    assert quantize_gradient(np.zeros(0, f32), 8, 0).shape == (0,)
    np.testing.assert_allclose(quantize_gradient(f32([-2.5]), 2, 0), [-2.5])  # the max is a level


@pytest.mark.parametrize("call,match", [
    (lambda: stochastic_round(np.array([np.nan]), 0), "x must not contain NaN"),
    (lambda: stochastic_round(np.array([1.0]), None), "rng must be a np.random.Generator or an int seed"),
    (lambda: stochastic_round(np.array([1.0]), -1), "rng must be a np.random.Generator or an int seed >= 0, got -1"),
    (lambda: stochastic_quantize(f32([1.0]), 0.0, -8, 7, 0), "scale must be positive and finite"),
    (lambda: stochastic_quantize(f32([1.0]), np.inf, -8, 7, 0), "scale must be positive and finite"),
    (lambda: stochastic_quantize(f32([1.0]), 0.1, 7, -8, 0), "quant_min must be < quant_max, got quant_min=7, quant_max=-8"),
    (lambda: stochastic_quantize(f32([1.0]), 0.1, 0.5, 7, 0), "quant_min must be an int"),
    (lambda: quantize_gradient(f32([1.0]), 1, 0), "bits must be an int in 2..16, got 1"),
    (lambda: quantize_gradient(f32([1.0]), 17, 0), "bits must be an int in 2..16, got 17"),
    (lambda: quantize_gradient(f32([np.inf]), 8, 0), "g must be finite"),
    (lambda: quantize_gradient(f32([np.nan]), 8, 0), "g must not contain NaN"),
])
def test_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
