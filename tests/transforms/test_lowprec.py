"""Low-precision training helpers: fixed-point rounding, update trajectories, FixedPointSGD, DoReFa W/A/G nets."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnn_lite.autograd import Tensor
from qnn_lite.nn import Linear, Parameter
from qnn_lite.quantizers.learned import dorefa_grad, dorefa_weight
from qnn_lite.transforms.lowprec import (DoReFaActivation, DoReFaLinear, FixedPointSGD,
                                         deterministic_grad_quantize, fixed_point_round, simulate_updates)
from qnn_lite.recipes.dorefa import dorefa_mlp, dorefa_table, train_dorefa


# ----- fixed_point_round ---------------------------------------------------------------------------
def test_fixed_point_nearest_hand_computed():
    # <IL=2, FL=2>: step 0.25, codes -8..7, range [-2, 1.75]; ties to even
    x = np.array([0.1, 0.125, 0.3, 0.375, -3.0, 5.0, -2.0, 1.75], dtype=np.float32)
    y = fixed_point_round(x, 2, 2, "nearest")
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.25, 0.5, -2.0, 1.75, -2.0, 1.75])
    assert y.dtype == np.float32


def test_fixed_point_int_input_and_inf():
    y = fixed_point_round(np.array([1, -5, 3]), 3, 1)          # range [-4, 3.5]
    np.testing.assert_array_equal(y, [1.0, -4.0, 3.0])
    assert y.dtype == np.float32
    np.testing.assert_array_equal(fixed_point_round(np.array([np.inf, -np.inf]), 2, 3), [2 - 1 / 8, -2.0])


def test_fixed_point_stochastic_hand_probability():
    # 0.1 on a step of 0.25 is 0.4 steps: rounds up to 0.25 with probability 0.4
    y = fixed_point_round(np.full(40_000, 0.1), 2, 2, "stochastic", rng=0)
    assert set(np.unique(y)) == {0.0, 0.25}
    p = np.mean(y == 0.25)
    assert abs(p - 0.4) < 4 * np.sqrt(0.4 * 0.6 / 40_000)
    # same int seed -> same draws
    np.testing.assert_array_equal(y, fixed_point_round(np.full(40_000, 0.1), 2, 2, "stochastic", rng=0))


@settings(max_examples=50, deadline=None)
@given(x=st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=20),
       fl=st.integers(0, 8), seed=st.integers(0, 1000))
def test_fixed_point_on_grid_and_close(x, fl, seed):
    x = np.array(x, dtype=np.float32)
    step = 2.0 ** -fl
    lo, hi = -4.0, 4.0 - step                                    # IL = 3
    inside = (x >= lo) & (x <= hi)
    near = fixed_point_round(x, 3, fl, "nearest")
    sto = fixed_point_round(x, 3, fl, "stochastic", rng=seed)
    for y in (near, sto):
        assert np.all(np.mod(y / step, 1) == 0) and np.all((y >= lo) & (y <= hi))
    assert np.all(np.abs(near - x)[inside] <= step / 2)
    assert np.all(np.abs(sto - x)[inside] < step)
    assert np.all((sto == np.floor(x / step) * step) | (sto == np.ceil(x / step) * step) | ~inside)


@pytest.mark.parametrize("kwargs, match", [
    (dict(int_bits=0, frac_bits=2), "int_bits"),
    (dict(int_bits=2, frac_bits=-1), "frac_bits"),
    (dict(int_bits=2.0, frac_bits=2), "int_bits"),
    (dict(int_bits=20, frac_bits=20), "word length"),
    (dict(int_bits=1, frac_bits=0), "word length"),
    (dict(int_bits=2, frac_bits=2, rounding="up"), "rounding"),
    (dict(int_bits=2, frac_bits=2, rounding="stochastic"), "rng"),
])
def test_fixed_point_errors(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        fixed_point_round(np.zeros(3, np.float32), **kwargs)


def test_fixed_point_nan_rejected():
    with pytest.raises(ValueError, match="NaN"):
        fixed_point_round(np.array([0.0, np.nan]), 2, 2)


# ----- simulate_updates -------------------------------------------------------------------------------
def test_nearest_small_update_never_moves():
    traj = simulate_updates(0.5, 0.1 * 2 ** -6, 300, 2, 6, "nearest")   # u = 0.1 delta < delta / 2
    assert traj.shape == (1, 301)
    assert np.all(traj == 0.5)


def test_nearest_update_of_one_step_is_exact():
    traj = simulate_updates(0.0, 2 ** -4, 10, 4, 4, "nearest", runs=3)
    np.testing.assert_array_equal(traj, np.tile(np.arange(11) / 16, (3, 1)))


def test_nearest_rounds_every_update_the_same_way():
    # u = 1.024 * 2^-10 becomes exactly 2^-10 per step, at FL = 10 and at FL = 12 alike
    for fl in (10, 12):
        assert simulate_updates(0.0, 1e-3, 500, 8, fl, "nearest")[0, -1] == 500 / 1024


def test_stochastic_updates_unbiased():
    u, steps, runs = 1e-3, 200, 500
    final = simulate_updates(0.0, u, steps, 8, 8, "stochastic", runs=runs, rng=np.random.default_rng(1))[:, -1]
    se = final.std(ddof=1) / np.sqrt(runs)
    assert se > 0
    assert abs(final.mean() - u * steps) < 4 * se
    # every value stays on the grid
    assert np.all(np.mod(final * 256, 1) == 0)


def test_simulate_zero_steps_and_w0_rounded():
    traj = simulate_updates(0.3, 0.01, 0, 2, 2, "nearest", runs=2)
    np.testing.assert_array_equal(traj, [[0.25], [0.25]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=-1), "steps"), (dict(runs=0), "runs"), (dict(update=float("nan")), "update"),
    (dict(w0=float("inf")), "w0"), (dict(rounding="stochastic"), "rng"), (dict(rounding="floor"), "rounding"),
])
def test_simulate_errors(kwargs, match):
    args = dict(w0=0.0, update=0.01, steps=5, int_bits=2, frac_bits=2, rounding="nearest")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate_updates(**args)


# ----- FixedPointSGD ----------------------------------------------------------------------------------
def _param(values):
    return Parameter(np.array(values, dtype=np.float32))


def test_fixed_point_sgd_hand_computed():
    p = _param([0.1, 0.3])
    opt = FixedPointSGD([p], lr=0.01, int_bits=2, frac_bits=2)       # step 0.25
    np.testing.assert_array_equal(p.data, [0.0, 0.25])               # snapped at construction
    p.grad = np.array([1.0, -1.0], dtype=np.float32)
    opt.step()                                                       # -0.01 and 0.26: both round back
    np.testing.assert_array_equal(p.data, [0.0, 0.25])
    opt.param_groups[0]["lr"] = 0.2
    opt.step()                                                       # -0.2 -> -0.25, 0.45 -> 0.5
    np.testing.assert_array_equal(p.data, [-0.25, 0.5])


def test_fixed_point_sgd_stochastic_moves_on_average_and_skips_none():
    p, q = _param(np.zeros(4000)), _param([0.5])
    opt = FixedPointSGD([p, q], lr=0.01, int_bits=2, frac_bits=2, rounding="stochastic", rng=3)
    p.grad = np.ones(4000, dtype=np.float32)
    for _ in range(50):
        opt.step()
    se = p.data.std(ddof=1) / np.sqrt(p.data.size)
    assert abs(p.data.mean() - (-0.5)) < 4 * se
    assert q.data[0] == 0.5                                          # grad None: untouched


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.0), "lr"), (dict(rounding="up"), "rounding"), (dict(rounding="stochastic"), "rng"),
    (dict(frac_bits=-2), "frac_bits"),
])
def test_fixed_point_sgd_errors(kwargs, match):
    args = dict(lr=0.1, int_bits=2, frac_bits=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        FixedPointSGD([_param([0.0])], **args)


# ----- gradient quantization -------------------------------------------------------------------------
def test_deterministic_grad_quantize_hand_computed():
    g = np.array([1.0, -1.0, 0.5, 0.0], dtype=np.float32)           # m = 1, 4 levels: +-1, +-1/3
    np.testing.assert_allclose(deterministic_grad_quantize(g, 2), [1, -1, 1 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_array_equal(deterministic_grad_quantize(np.zeros(3, np.float32), 2), 0)


def test_deterministic_is_biased_stochastic_is_not():
    g = np.array([1.0, 0.5], dtype=np.float32)
    rng = np.random.default_rng(0)
    draws = np.stack([dorefa_grad(g, 2, rng) for _ in range(4000)])[:, 1]
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(draws.mean() - 0.5) < 4 * se
    assert abs(deterministic_grad_quantize(g, 2)[1] - 0.5) > 0.15   # 1/3 instead of 1/2


def test_deterministic_grad_errors():
    with pytest.raises(ValueError, match="bits"):
        deterministic_grad_quantize(np.ones(2, np.float32), 0)
    with pytest.raises(ValueError, match="finite"):
        deterministic_grad_quantize(np.array([1.0, np.inf]), 2)


# ----- DoReFa layers and network ---------------------------------------------------------------------
def test_dorefa_linear_forward_backward_by_hand():
    gen = np.random.default_rng(0)
    layer = DoReFaLinear(5, 3, w_bits=2, g_bits=4, rng=7, generator=gen)
    x = Tensor(gen.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    y = layer(x)
    wq = dorefa_weight(layer.weight.data, 2).data
    np.testing.assert_allclose(y.data, x.data @ wq.T + layer.bias.data, rtol=1e-5, atol=1e-6)
    up = gen.standard_normal((4, 3)).astype(np.float32)
    y.backward(up)
    gq = dorefa_grad(up, 4, np.random.default_rng(7), per_sample=True)   # the layer's rng, replayed
    np.testing.assert_allclose(x.grad, gq @ wq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, gq.sum(0), rtol=1e-5, atol=1e-6)


def test_dorefa_linear_full_precision_is_linear():
    a = DoReFaLinear(4, 2, 32, 32, generator=np.random.default_rng(1))
    b = Linear(4, 2, generator=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(a(Tensor(x)).data, b(Tensor(x)).data)


def test_dorefa_activation():
    x = Tensor(np.array([-1.0, 0.2, 0.5, 0.9, 3.0], dtype=np.float32), requires_grad=True)
    np.testing.assert_allclose(DoReFaActivation(2)(x).data, [0, 1 / 3, 2 / 3, 1, 1], rtol=1e-6)
    y = DoReFaActivation(32)(x)
    np.testing.assert_allclose(y.data, [0, 0.2, 0.5, 0.9, 1])
    y.backward(np.ones(5, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])


def test_dorefa_mlp_keeps_first_and_last_full_precision():
    m = dorefa_mlp(1, 2, 4, hidden=8, depth=3)
    linears = [layer for layer in m if isinstance(layer, (Linear, DoReFaLinear))]
    assert len(linears) == 4
    assert not isinstance(linears[0], DoReFaLinear) and not isinstance(linears[-1], DoReFaLinear)
    assert all(isinstance(layer, DoReFaLinear) and (layer.w_bits, layer.g_bits) == (1, 4) for layer in linears[1:-1])
    assert m(Tensor(np.zeros((2, 64), np.float32))).shape == (2, 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(w_bits=0, a_bits=2, g_bits=4), "w_bits"), (dict(w_bits=2, a_bits=17, g_bits=4), "bits"),
    (dict(w_bits=2, a_bits=2, g_bits=1), "g_bits"), (dict(w_bits=2, a_bits=2, g_bits=4, depth=0), "depth"),
])
def test_dorefa_mlp_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dorefa_mlp(**kwargs)


@pytest.fixture(scope="module")
def digits():
    from qnn_lite.data import load_digits
    return load_digits(flat=True)


def test_wag_table_claim_and_determinism(digits):
    """The chapter's claim in its own setting: 8/8/8 and 32/32/32 beat 1/1/2 clearly; runs are reproducible."""
    kw = dict(hidden=16, depth=3, epochs=5, seed=0)
    rows = dorefa_table([(1, 1, 2), (8, 8, 8), (32, 32, 32)], digits, **kw)
    acc = {(w, a, g): r for (w, a, g, r) in rows}
    assert acc[(8, 8, 8)] > acc[(1, 1, 2)] + 0.05
    assert acc[(32, 32, 32)] > acc[(1, 1, 2)] + 0.05
    assert acc[(32, 32, 32)] > 0.85
    assert train_dorefa(1, 1, 2, digits, **kw) == acc[(1, 1, 2)]
