"""LSQ (bit-exact vs PyTorch golden data), PACT and DoReFa: tables, gradients, errors."""
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from qnn_lite import Tensor
from qnn_lite.autograd import gradcheck
from qnn_lite.quantizers.learned import (PACT, dorefa_act, dorefa_grad, dorefa_weight, pact, quantize_grad,
                                         quantize_k)
from qnn_lite.quantizers.lsq import LSQQuantizer
from qnn_lite.quantizers.lsq import (fake_quantize_learnable_per_channel_affine as lsq_channel,
                                     fake_quantize_learnable_per_tensor_affine as lsq_tensor)

GOLDEN = np.load(Path(__file__).parents[1] / "data" / "torch_golden_lsq.npz")
KEYS = sorted({k.split("/")[0] for k in GOLDEN.files})
f32 = np.float32


def run_tensor(x, dy, scale, zp, quant_min, quant_max, gf=1.0):
    dt = np.asarray(x).dtype  # Tensor() would store float64 as float32; keep the dtype
    X = Tensor(np.asarray(x), requires_grad=True, dtype=dt)
    S = Tensor(np.array([scale], dtype=dt), requires_grad=True, dtype=dt)
    Z = Tensor(np.array([zp], dtype=dt), requires_grad=True, dtype=dt)
    Y = lsq_tensor(X, S, Z, quant_min, quant_max, gf)
    Y.backward(dy)
    return Y.data, X.grad, S.grad, Z.grad


def run_channel(x, dy, scale, zp, axis, quant_min, quant_max, gf=1.0):
    X, S, Z = Tensor(x, requires_grad=True), Tensor(scale, requires_grad=True), Tensor(zp, requires_grad=True)
    Y = lsq_channel(X, S, Z, axis, quant_min, quant_max, gf)
    Y.backward(dy)
    return Y.data, X.grad, S.grad, Z.grad


# ----- LSQ against PyTorch 2.13 (tests/data/make_torch_golden_lsq.py) ---------------------
@pytest.mark.parametrize("key", KEYS)
def test_lsq_matches_torch_bit_for_bit(key):
    x, dy, y, dx, dscale_elem, dzero_elem = GOLDEN[f"{key}/elem"]
    sums = GOLDEN[f"{key}/sums"]
    scale, zp, quant_min, quant_max, gf, axis = GOLDEN[f"{key}/params"]
    quant_min, quant_max, axis = int(quant_min), int(quant_max), int(axis)
    if axis < 0:
        Y, DX, DS, DZ = run_tensor(x, dy, scale, zp, quant_min, quant_max, gf)
        per = [run_tensor(x[i:i + 1], dy[i:i + 1], scale, zp, quant_min, quant_max, gf) for i in range(x.size)]
        DSE, DZE = np.concatenate([p[2] for p in per]), np.concatenate([p[3] for p in per])
    else:
        sc, z = sums[2], sums[3]
        Y, DX, DS, DZ = run_channel(x, dy, sc, z, axis, quant_min, quant_max, gf)
        view = [1] * x.ndim
        view[axis] = -1
        s_full = np.broadcast_to(sc.reshape(view), x.shape).reshape(-1).copy()
        z_full = np.broadcast_to(z.reshape(view), x.shape).reshape(-1).copy()
        _, _, DSE, DZE = run_channel(x.reshape(-1, 1), dy.reshape(-1, 1), s_full, z_full, 0, quant_min, quant_max, gf)
        DSE, DZE = DSE.reshape(x.shape), DZE.reshape(x.shape)
    assert Y.dtype == DX.dtype == DS.dtype == np.float32
    np.testing.assert_array_equal(Y, y)
    np.testing.assert_array_equal(DX, dx)
    np.testing.assert_array_equal(DSE, dscale_elem)
    np.testing.assert_array_equal(DZE, dzero_elem)
    # whole-tensor sums: float32 addition order differs from PyTorch's, so a tight tolerance
    n = x.size
    np.testing.assert_allclose(DS.ravel(), np.ravel(sums[0]), rtol=0,
                               atol=1e-6 * n * np.abs(dscale_elem).max() + 1e-12)
    np.testing.assert_allclose(DZ.ravel(), np.ravel(sums[1]), rtol=0,
                               atol=1e-6 * n * np.abs(dzero_elem).max() + 1e-12)


def test_golden_covers_every_region():
    x, _, _, dx, _, dzero = GOLDEN["t_int8_gs0/elem"]
    assert (dx == 0).any() and (dx != 0).any() and (dzero != 0).any()
    xp = GOLDEN["t_int4_pow2_gs0/elem"][0]
    assert (np.abs(xp / 0.25 % 1) == 0.5).sum() >= 8  # exact halfway points (power-of-two scale)
    scale, zp, quant_min, quant_max, _, _ = GOLDEN["t_zp_half_gs0/params"]
    assert zp == 2.5  # the forward/backward zero-point quirk is exercised


# ----- LSQ by hand ------------------------------------------------------------------------
def test_lsq_hand_table_band_edges():
    # s = 1, z = 0, quant_min = -4, quant_max = 3; the half-step bands just outside the range
    x = f32([3.3, 3.5, 3.6, -4.4, -4.5, -4.6, 0.25, 1.5, 2.5])
    y, dx, ds, dz = run_tensor(x, np.ones(9, f32), 1.0, 0.0, -4, 3)
    np.testing.assert_array_equal(y, [3, 3, 3, -4, -4, -4, 0, 2, 2])
    np.testing.assert_array_equal(dx, [1, 0, 0, 1, 1, 0, 1, 1, 1])  # mask on rint(x/s): 3.5 -> 4 is out
    per_elem = [run_tensor(x[i:i + 1], np.ones(1, f32), 1.0, 0.0, -4, 3)[2][0] for i in range(9)]
    # inside: rint(x/s) - x/s ; above: quant_max - z ; below: quant_min - z
    np.testing.assert_allclose(per_elem, [-0.3, 3, 3, 0.4, 0.5, -4, -0.25, 0.5, -0.5], atol=1e-6)
    assert dz[0] == -3.0  # -s for each of the 3 clipped elements


def test_lsq_zero_point_gradient_and_offset():
    x = f32([-10.0, 0.0, 0.26, 10.0])
    y, dx, ds, dz = run_tensor(x, f32([1, 1, 1, 2]), 0.5, 2.0, -8, 7)
    np.testing.assert_array_equal(y, [-5.0, 0.0, 0.5, 2.5])  # range [(-8-2) s, (7-2) s] = [-5, 2.5]
    np.testing.assert_array_equal(dx, [0, 1, 1, 0])
    assert dz[0] == f32(-0.5 * 1 + -0.5 * 2)


def test_lsq_grad_factor_scales_only_qparam_grads():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50).astype(f32)
    g = rng.normal(size=50).astype(f32)
    _, dx1, ds1, dz1 = run_tensor(x, g, 0.1, 1.0, -8, 7, 1.0)
    gf = 1 / math.sqrt(50 * 7)
    _, dx2, ds2, dz2 = run_tensor(x, g, 0.1, 1.0, -8, 7, gf)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_allclose(ds2, ds1 * gf, rtol=1e-5)
    np.testing.assert_allclose(dz2, dz1 * gf, rtol=1e-5)


def test_lsq_scale_grad_is_true_gradient_where_clipped():
    # all elements clipped: y = (quant_max - z) s or (quant_min - z) s, so dy/ds is exact there
    x = np.array([-5.0, -3.1, 2.9, 4.0, 8.0], dtype=np.float64)
    assert gradcheck(lambda s: lsq_tensor(Tensor(x, dtype=np.float64), s, Tensor(np.zeros(1), dtype=np.float64),
                                          -4, 3), np.array([0.4]))
    xc = np.array([[-5.0, 4.0], [3.0, -9.0]])
    assert gradcheck(lambda s: lsq_channel(Tensor(xc, dtype=np.float64), s, Tensor(np.zeros(2), dtype=np.float64),
                                           0, -4, 3), np.array([0.3, 0.5]))


def test_lsq_scale_grad_inside_is_the_lsq_formula():
    # inside the range LSQ's dscale is rint(x/s) - x/s, NOT the true derivative rint(x/s)
    x = np.array([0.37, -0.81, 1.04])
    s = 0.25
    _, _, ds, _ = run_tensor(x, np.ones(3), s, 0.0, -8, 7)
    np.testing.assert_allclose(ds, [np.sum(np.rint(x / s) - x / s)], rtol=1e-12)


def test_lsq_quantizer_init_and_call():
    x = f32([1, -1, 2, -2])
    q = LSQQuantizer(bits=4, signed=True, use_grad_scaling=False)
    assert list(q.parameters()) == []
    X = Tensor(x, requires_grad=True)
    y = q(X)
    np.testing.assert_allclose(q.scale.data, [2 * 1.5 / math.sqrt(7)], rtol=1e-6)  # 2 mean|x| / sqrt(Q_P)
    assert list(q.parameters()) == [q.scale] and q.zero_point.requires_grad is False
    s = q.scale.data[0]
    np.testing.assert_allclose(y.data, np.clip(np.rint(x / s), -8, 7) * s, rtol=1e-6)
    y.backward(np.ones(4, f32))
    assert q.scale.grad is not None and X.grad is not None


def test_lsq_quantizer_per_channel_grad_scaling_and_eps_clamp():
    w = np.array([[1.0, -3.0], [0.5, 0.5], [0, 0]], f32)
    q = LSQQuantizer(bits=3, ch_axis=0, learn_zero_point=True)
    y = q(Tensor(w))
    np.testing.assert_allclose(q.scale.data, [2 * 2 / math.sqrt(3), 2 * 0.5 / math.sqrt(3), q.eps], rtol=1e-6)
    assert len(list(q.parameters())) == 2
    y.backward(np.ones_like(w))
    ref = LSQQuantizer(bits=3, ch_axis=0, learn_zero_point=True, use_grad_scaling=False)
    ref(Tensor(w)).backward(np.ones_like(w))
    np.testing.assert_allclose(q.scale.grad, ref.scale.grad / math.sqrt(w.size * 3), rtol=1e-5)
    q.scale.data[:] = -1.0  # an optimizer step overshot: clamped to eps before the next forward
    q(Tensor(w))
    assert (q.scale.data == f32(np.finfo(f32).eps)).all()


def test_lsq_learns_a_scale():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400).astype(f32)
    q = LSQQuantizer(bits=3)
    q(Tensor(x))
    q.scale.data[:] = 0.1  # start far too small: most values clipped
    losses = []
    for _ in range(40):
        y = q(Tensor(x))
        err = y.data - x
        losses.append(float((err ** 2).mean()))
        q.scale.grad = None
        y.backward(2 * err / x.size)  # d mean((y - x)^2) / dy
        q.scale.data -= 2.0 * q.scale.grad
    assert losses[-1] < 0.15 * losses[0]
    assert 0.3 < q.scale.data[0] < 1.0  # 8 levels over a unit normal


@pytest.mark.parametrize("call,match", [
    (lambda: run_tensor(f32([1.0]), f32([1]), 0.0, 0.0, -8, 7), "scale must be positive and finite"),
    (lambda: run_tensor(f32([np.nan]), f32([1]), 1.0, 0.0, -8, 7), "x must not contain NaN"),
    (lambda: run_tensor(f32([1.0]), f32([1]), 1.0, 0.0, 1, 7), "quant_min <= 0 <= quant_max"),
    (lambda: run_tensor(f32([1.0]), f32([1]), 1.0, 0.0, -8, 7, 0.0), "grad_factor must be a positive"),
    (lambda: run_channel(np.ones((2, 3), f32), np.ones((2, 3), f32), np.ones(2, f32), np.zeros(2, f32), 2, -8, 7),
     "axis must be an int in 0..1"),
    (lambda: run_channel(np.ones((2, 3), f32), np.ones((2, 3), f32), np.ones(3, f32), np.zeros(3, f32), 0, -8, 7),
     r"scale and zero_point must have shape \(2,\)"),
    (lambda: LSQQuantizer(bits=0), "bits must be an int in 1..16, got 0"),
    (lambda: LSQQuantizer(bits=1, signed=True), "quant_max"),
    (lambda: lsq_tensor(Tensor(np.arange(3)), Tensor(f32([1])), Tensor(f32([0])), -8, 7), "x must be a floating"),
])
def test_lsq_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_lsq_degenerate_inputs():
    y, dx, ds, dz = run_tensor(np.zeros((0,), f32), np.zeros((0,), f32), 1.0, 0.0, -8, 7)
    assert y.shape == (0,) and ds[0] == 0 and dz[0] == 0
    y, dx, ds, _ = run_tensor(f32([np.inf, -np.inf, 0.0]), np.ones(3, f32), 0.5, 0.0, -8, 7)
    np.testing.assert_array_equal(y, [3.5, -4.0, 0.0])
    np.testing.assert_array_equal(dx, [0, 0, 1])
    assert ds[0] == 7 - 8  # quant_max + quant_min edges, the zero contributes 0


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 20), elements=st.floats(-50, 50, width=32)),
       st.floats(0.01, 4.0).map(f32), st.sampled_from([(-8, 7), (0, 15), (-128, 127)]))
def test_lsq_properties(x, s, qr):
    quant_min, quant_max = qr
    y, dx, _, _ = run_tensor(x, np.ones_like(x), s, 0.0, quant_min, quant_max)
    q = y / f32(s)
    np.testing.assert_allclose(q, np.rint(q), atol=1e-3)  # on the grid
    assert (q >= quant_min - 1e-3).all() and (q <= quant_max + 1e-3).all()
    assert set(np.unique(dx)) <= {0.0, 1.0}
    inside = (np.rint(x * (f32(1) / f32(s))) >= quant_min) & (np.rint(x * (f32(1) / f32(s))) <= quant_max)
    np.testing.assert_array_equal(np.abs(y - x)[inside] <= f32(s) / 2 * (1 + 1e-5), True)


# ----- PACT -------------------------------------------------------------------------------
def test_pact_hand_table():
    a = Tensor(f32([1.0]), requires_grad=True)
    x = Tensor(f32([-0.5, 0.2, 0.5, 1.0, 2.0]), requires_grad=True)
    y = pact(x, a, 2)  # levels 0, 1/3, 2/3, 1
    np.testing.assert_allclose(y.data, [0, 1 / 3, 2 / 3, 1, 1], rtol=1e-6)
    y.backward(f32([1, 2, 3, 4, 5]))
    np.testing.assert_array_equal(x.grad, [0, 2, 3, 4, 0])  # STE inside 0 <= x <= alpha
    np.testing.assert_array_equal(a.grad, [9.0])  # 4 + 5: grads where x >= alpha


def test_pact_alpha_grad_is_true_gradient_where_clipped():
    x = np.array([2.1, 3.0, 5.5])  # all above alpha: y = alpha, dy/dalpha = 1
    assert gradcheck(lambda al: pact(Tensor(x, dtype=np.float64), al, 4), np.array([1.7]))


def test_pact_class():
    p = PACT(bits=3)
    assert p.alpha.data[0] == 10.0 and list(p.parameters()) == [p.alpha]
    y = p(Tensor(f32([-1, 2, 20])))
    np.testing.assert_allclose(y.data, [0, np.rint(2 * 7 / 10) * 10 / 7, 10], rtol=1e-6)
    with pytest.raises(ValueError, match=r"alpha must be a number > 0.0, got -1.0"):
        PACT(bits=3, alpha=-1.0)
    with pytest.raises(ValueError, match="bits must be an int in 1..16, got 17"):
        PACT(bits=17)
    with pytest.raises(ValueError, match="alpha must be one positive finite number"):
        pact(Tensor(f32([1.0])), Tensor(f32([0.0])), 2)


# ----- DoReFa -----------------------------------------------------------------------------
def test_quantize_k_levels_and_ste():
    x = Tensor(np.linspace(0, 1, 11).astype(f32), requires_grad=True)
    y = quantize_k(x, 2)
    assert set(np.round(y.data * 3, 5)) <= {0.0, 1.0, 2.0, 3.0}
    y.backward(np.full(11, 2.0, f32))
    assert (x.grad == 2.0).all()


def test_dorefa_weight_hand_case():
    w = Tensor(f32([0.3, -0.8, 0.1, 0.0]), requires_grad=True)
    y = dorefa_weight(w, 2)
    # tanh/(2 max|tanh|) + 1/2 = [.719, 0, .575, .5]; *3 rounds to [2, 0, 2, 2]; 2q - 1
    np.testing.assert_allclose(y.data, [1 / 3, -1, 1 / 3, 1 / 3], rtol=1e-6)
    y1 = dorefa_weight(Tensor(f32([0.3, -0.8, 0.1, 0.0])), 1)  # sign(w) * mean|w|, sign(0) = +1
    np.testing.assert_allclose(y1.data, [0.3, -0.3, 0.3, 0.3], rtol=1e-6)
    np.testing.assert_allclose(dorefa_weight(Tensor(np.zeros(3, f32)), 2).data, 1 / 3, rtol=1e-6)  # no 0 level, no NaN
    w32 = f32([0.3, -5.0])
    np.testing.assert_array_equal(dorefa_weight(Tensor(w32), 32).data, w32)


@pytest.mark.parametrize("bits", [2, 3, 8])
def test_dorefa_weight_level_set(bits):
    w = np.random.default_rng(bits).normal(size=200).astype(f32)
    y = dorefa_weight(Tensor(w), bits).data
    n = 2 ** bits - 1
    k = (y + 1) / 2 * n
    np.testing.assert_allclose(k, np.rint(k), atol=1e-4)
    assert y.min() == -1.0 or y.max() == 1.0  # the largest |w| reaches an end level
    assert (np.abs(y) <= 1).all()


def test_dorefa_weight_backward_is_derivative_of_tanh_over_max():
    rng = np.random.default_rng(3)
    w = rng.normal(size=6)
    g = rng.normal(size=6)
    W = Tensor(w, requires_grad=True, dtype=np.float64)
    dorefa_weight(W, 4).backward(g)

    def smooth(v):  # 2 * (tanh v / (2 max|tanh v|) + 1/2) - 1, rounding removed
        return np.tanh(v) / np.abs(np.tanh(v)).max()

    h = 1e-6
    fd = np.array([(g @ smooth(w + h * e) - g @ smooth(w - h * e)) / (2 * h) for e in np.eye(6)])
    np.testing.assert_allclose(W.grad, fd, rtol=1e-5, atol=1e-8)
    W1 = Tensor(w, requires_grad=True, dtype=np.float64)
    dorefa_weight(W1, 1).backward(g)
    np.testing.assert_array_equal(W1.grad, g)  # k = 1: identity STE


@pytest.mark.parametrize("fn,lo,hi", [
    (lambda x: dorefa_act(x, 3), 0.0, 1.0),
    (lambda x: pact(x, Tensor(np.array([0.8]), dtype=np.float64), 3), 0.0, 0.8),
    (lambda x: quantize_k(x, 3), -np.inf, np.inf),
])
def test_clip_ste_backward_is_derivative_of_the_clip(fn, lo, hi):
    # the STE replaces rint by the identity, so the backward is the derivative of the clip alone
    x = np.array([-0.4, 0.05, 0.33, 0.61, 0.7, 0.95, 1.4])  # away from the kinks at 0, 0.8, 1
    h = 1e-6
    fd = (np.clip(x + h, lo, hi) - np.clip(x - h, lo, hi)) / (2 * h)
    X = Tensor(x, requires_grad=True, dtype=np.float64)
    fn(X).backward(np.ones_like(x))
    np.testing.assert_allclose(X.grad, fd, atol=1e-6)


def test_dorefa_act():
    x = Tensor(f32([-0.2, 0.0, 0.1, 0.5, 0.9, 1.0, 1.3]), requires_grad=True)
    y = dorefa_act(x, 1)  # levels {0, 1}
    np.testing.assert_array_equal(y.data, [0, 0, 0, 0, 1, 1, 1])  # rint(0.5) = 0
    y.backward(np.ones(7, f32))
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 1, 1, 0])


def test_dorefa_grad_levels_unbiased_and_seeded():
    g = f32([0.4, -0.1, 0.25, -0.4])
    q = dorefa_grad(g, 2, 0)
    levels = 2 * 0.4 * (np.arange(4) / 3 - 0.5)  # 2 max|g| (k/3 - 1/2)
    assert all(np.isclose(v, levels, atol=1e-6).any() for v in q)
    np.testing.assert_array_equal(q, dorefa_grad(g, 2, 0))
    # 20000 independent draws at once: each row of the stack is scaled by its own max
    draws = dorefa_grad(np.broadcast_to(g, (20000, 4)), 2, 7, per_sample=True)
    se = draws.std(axis=0, dtype=np.float64) / np.sqrt(len(draws))
    assert (np.abs(draws.mean(axis=0, dtype=np.float64) - g) <= 4 * se + 1e-6).all()
    assert (draws[:, 0] == f32(0.4)).all()  # the max element sits on the top level


def test_dorefa_grad_degenerate_and_per_sample():
    np.testing.assert_array_equal(dorefa_grad(np.zeros(3, f32), 4, 0), 0)
    g = np.array([[1.0, -1.0], [0.01, 0.0]], f32)
    q = dorefa_grad(g, 8, 0, per_sample=True)
    assert np.abs(q[1]).max() <= 0.0101 and np.abs(q[0]).max() == 1.0
    with pytest.raises(ValueError, match="g must not contain NaN"):
        dorefa_grad(f32([np.nan]), 4, 0)
    with pytest.raises(TypeError, match="rng must be a np.random.Generator or an int seed"):
        dorefa_grad(f32([1.0]), 4, "seed")
    with pytest.raises(ValueError, match="bits must be an int in 1..16, got 0"):
        dorefa_grad(f32([1.0]), 0, 0)


def test_quantize_grad_function():
    x = Tensor(f32([1.0, 2.0, 3.0]), requires_grad=True)
    y = quantize_grad(x, 2, np.random.default_rng(5))
    np.testing.assert_array_equal(y.data, x.data)
    g = f32([0.3, -0.7, 0.05])
    y.backward(g)
    np.testing.assert_array_equal(x.grad, dorefa_grad(g, 2, np.random.default_rng(5)))
