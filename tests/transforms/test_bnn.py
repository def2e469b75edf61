"""qnn_lite.transforms.bnn: binary / ternary layers (k-bit: the DoReFa configurations), activations, the EDE schedule and the training recipe."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnn_lite.autograd import Tensor
from qnn_lite.data import load_digits
from qnn_lite.nn import functional as F
from qnn_lite.nn.layers import BatchNorm1d, Linear
from qnn_lite.quantizers.binary import binarize01, libra_pb
from qnn_lite.transforms.bnn import (Binary01Activation, BinaryConv2d, BinaryLinear, EDESchedule,
                                     SignActivation, TernaryLinear, set_ede)
from qnn_lite.transforms.lowprec import DoReFaActivation, DoReFaLinear
from qnn_lite.recipes.bnn_mlp import bit_width_table, format_bit_table, quantized_mlp, train_quantized_mlp


def _x(shape, seed=1):
    return Tensor(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _sgn(w):
    return np.where(w >= 0, 1.0, -1.0).astype(np.float32)


# ----- BinaryLinear / BinaryConv2d ---------------------------------------------------------------
def test_binary_linear_xnor_forward_is_alpha_sign_w_by_hand():
    layer = BinaryLinear(5, 3, weight_quant="xnor", generator=np.random.default_rng(0))
    x = _x((4, 5))
    W = layer.weight.data
    alpha = np.abs(W).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(layer(x).data, x.data @ (alpha * _sgn(W)).T + layer.bias.data, rtol=1e-6, atol=1e-6)


def test_binary_linear_sign_forward_uses_plus_one_at_zero():
    layer = BinaryLinear(3, 2, bias=False, weight_quant="sign")
    layer.weight.data[...] = np.array([[0.0, -0.2, 0.3], [-0.1, 0.0, 0.0]], np.float32)
    y = layer(Tensor(np.array([[1.0, 2.0, 4.0]], np.float32)))
    np.testing.assert_array_equal(y.data, [[1 - 2 + 4, -1 + 2 + 4]])


def test_binary_linear_libra_pb_matches_the_quantizer():
    layer = BinaryLinear(6, 4, weight_quant="libra_pb", generator=np.random.default_rng(2))
    x = _x((3, 6))
    expected = x.data @ libra_pb(layer.weight.data, ch_axis=0).data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-6, atol=1e-6)


def test_gradient_reaches_latent_weight_identity_ste_by_hand():
    # y = x sign(W)^T with the identity STE: dL/dW = g^T x for L = sum(y * g)
    layer = BinaryLinear(4, 3, bias=False, weight_quant="sign", estimator="identity",
                         generator=np.random.default_rng(0))
    x = _x((5, 4))
    g = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32)
    (layer(x) * Tensor(g)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, g.T @ x.data, rtol=1e-5, atol=1e-6)


def test_clipped_ste_blocks_the_gradient_of_a_large_latent_weight():
    layer = BinaryLinear(3, 2, bias=False, weight_quant="sign", estimator="clipped")
    layer.weight.data[...] = np.array([[0.2, 2.0, -0.3], [-1.5, 0.1, 0.4]], np.float32)
    layer(_x((4, 3))).sum().backward()
    grad = layer.weight.grad
    assert grad[0, 1] == 0 and grad[1, 0] == 0
    assert np.all(grad[0, [0, 2]] != 0) and np.all(grad[1, [1, 2]] != 0)


def test_xnor_layer_gradient_is_the_paper_rule():
    # paper: dW = dW~ * (1/n + alpha 1{|W| <= 1}), dW~ = g^T x
    layer = BinaryLinear(4, 2, bias=False, weight_quant="xnor", generator=np.random.default_rng(5))
    x = _x((3, 4))
    layer(x).sum().backward()
    W = layer.weight.data
    d_wq = np.ones((3, 2), np.float32).T @ x.data
    alpha = np.abs(W).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(layer.weight.grad, d_wq * (1 / 4 + alpha * (np.abs(W) <= 1)), rtol=1e-5)


def test_binary_conv2d_forward_and_gradient():
    conv = BinaryConv2d(2, 3, 3, padding=1, weight_quant="xnor", generator=np.random.default_rng(0))
    x = _x((2, 2, 5, 5))
    W = conv.weight.data
    wq = np.abs(W).mean(axis=(1, 2, 3), keepdims=True) * _sgn(W)
    expected = F.conv2d(x, Tensor(wq), conv.bias, 1, 1).data
    y = conv(x)
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-5)
    assert y.shape == (2, 3, 5, 5)
    y.sum().backward()
    assert conv.weight.grad.shape == W.shape and np.abs(conv.weight.grad).sum() > 0


# ----- ternary and k-bit layers --------------------------------------------------------------------
def test_twn_layer_has_three_levels_and_the_twn_scale():
    layer = TernaryLinear(32, 8, weight_quant="twn", generator=np.random.default_rng(0))
    W = layer.weight.data
    wq = layer.quantized_weight().data
    delta = 0.7 * np.abs(W).mean()
    alpha = np.abs(W)[np.abs(W) > delta].mean()
    np.testing.assert_allclose(np.unique(wq), [-alpha, 0, alpha], rtol=1e-6)
    np.testing.assert_array_equal(wq == 0, np.abs(W) <= delta)


def test_ttq_layer_learns_wp_wn_by_hand():
    layer = TernaryLinear(6, 3, bias=False, weight_quant="ttq", threshold=0.2, generator=np.random.default_rng(1))
    W = layer.weight.data
    x = _x((4, 6))
    g = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    (layer(x) * Tensor(g)).sum().backward()
    d_wt = g.T @ x.data                                   # dL / d(ternary weight)
    delta = 0.2 * np.abs(W).max()
    np.testing.assert_allclose(layer.wp.grad, [d_wt[W > delta].sum()], rtol=1e-5)
    np.testing.assert_allclose(layer.wn.grad, [-d_wt[W < -delta].sum()], rtol=1e-5)
    assert layer.weight.grad is not None and np.abs(layer.weight.grad).sum() > 0
    assert {id(p) for p in layer.parameters()} >= {id(layer.wp), id(layer.wn)}


def test_dorefa_linear_32_is_float_and_2_bits_has_four_levels():
    gen = np.random.default_rng(0)
    fp = DoReFaLinear(8, 4, w_bits=32, generator=gen)
    x = _x((3, 8))
    np.testing.assert_allclose(fp(x).data, x.data @ fp.weight.data.T + fp.bias.data, rtol=1e-6)
    two = DoReFaLinear(8, 4, w_bits=2, generator=gen)
    np.testing.assert_allclose(np.unique(two.quantized_weight().data), [-1, -1 / 3, 1 / 3, 1], rtol=1e-6)


# ----- activations ---------------------------------------------------------------------------------
def test_sign_activation_ede_backward_uses_t_and_k():
    act = SignActivation("ede")
    assert set_ede(act, 2.0, 1.5) == 1
    x = Tensor(np.array([-0.5, 0.0, 0.3], np.float32), requires_grad=True)
    y = act(x)
    np.testing.assert_array_equal(y.data, [-1, 1, 1])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1.5 * 2.0 * (1 - np.tanh(2.0 * x.data) ** 2), rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-3, 3, width=32), min_size=1, max_size=20))
def test_dorefa_activation_1_bit_is_binarize01_off_the_tie(values):
    x_np = np.array(values, np.float32)
    # off the tie 1/2 and off the STE window's edges 0, 1 (|x - 1/2| <= 1/2 rounds differently from 0 <= x there)
    x_np[np.min(np.abs(x_np[:, None] - np.array([0.0, 0.5, 1.0], np.float32)), axis=1) < 1e-6] = 0.25
    a, b = Tensor(x_np, requires_grad=True), Tensor(x_np, requires_grad=True)
    ya, yb = DoReFaActivation(1)(a), binarize01(b)
    np.testing.assert_array_equal(ya.data, yb.data)
    ya.sum().backward()
    yb.sum().backward()
    np.testing.assert_array_equal(a.grad, b.grad)


def test_dorefa_activation_1_bit_sends_the_tie_down_binarize01_up():
    x = np.array([0.5], np.float32)
    assert DoReFaActivation(1)(Tensor(x)).data[0] == 0 and binarize01(x).data[0] == 1


def test_binary01_activation_counts_zeros():
    y = Binary01Activation()(Tensor(np.array([-1.0, 0.49, 0.5, 2.0], np.float32)))
    np.testing.assert_array_equal(y.data, [0, 0, 1, 1])


def test_dorefa_activation_32_is_clip():
    y = DoReFaActivation(32)(Tensor(np.array([-1.0, 0.25, 3.0], np.float32)))
    np.testing.assert_array_equal(y.data, [0, 0.25, 1])


# ----- EDE schedule --------------------------------------------------------------------------------
def test_ede_schedule_moves_t_and_k_on_every_ede_module():
    model = quantized_mlp(1, 1, hidden=8, depth=3, weight_quant="libra_pb", act_quant="sign", estimator="ede")
    sched = EDESchedule(model, epochs=4)
    ede_modules = [m for m in model.modules() if getattr(m, "estimator", None) == "ede"]
    assert len(ede_modules) == 5                      # 2 binary Linears + 3 sign activations
    assert all((m.t, m.k) == pytest.approx((0.1, 10.0)) for m in ede_modules)   # IR-Net's T_min = 0.1
    sched.step()
    assert all((m.t, m.k) == pytest.approx((10 ** -0.5, 10 ** 0.5)) for m in ede_modules)   # 10^(-1 + 2/4)
    for _ in range(2):
        sched.step()
    assert all((m.t, m.k) == pytest.approx((10 ** 0.5, 1.0)) for m in ede_modules)   # 10^(-1 + 2*3/4)
    sched.step()
    sched.step()                                      # past the end: stays at the last epoch
    assert sched.epoch == 4 and all((m.t, m.k) == pytest.approx((10.0, 1.0)) for m in ede_modules)


# ----- the MLP builder ------------------------------------------------------------------------------
def test_quantized_mlp_structure_first_last_fp():
    m = quantized_mlp(1, 2, hidden=8, depth=2)
    kinds = [type(layer).__name__ for layer in m]
    assert kinds == ["Linear", "BatchNorm1d", "DoReFaActivation", "BinaryLinear", "BatchNorm1d",
                     "DoReFaActivation", "Linear"]
    m2 = quantized_mlp(4, 4, hidden=8, depth=1, first_last_fp=False)
    assert isinstance(m2[0], DoReFaLinear) and isinstance(m2[-1], DoReFaLinear)
    assert (m2[0].w_bits, m2[0].g_bits) == (4, 32) and m2[0].grad_fake_quant is None
    assert type(quantized_mlp(32, 32, depth=1)[0]) is Linear and isinstance(quantized_mlp(32, 32)[1], BatchNorm1d)
    assert isinstance(quantized_mlp(1, 1, weight_quant="ttq", depth=2)[3], TernaryLinear)
    assert quantized_mlp(1, 1, hidden=8)(_x((2, 64))).shape == (2, 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(w_bits=0), "w_bits"), (dict(a_bits=17), "a_bits"), (dict(w_bits=True), "w_bits"),
    (dict(weight_quant="binary"), "weight_quant"), (dict(act_quant="relu"), "act_quant"),
    (dict(estimator="ste"), "estimator"), (dict(depth=0), "depth"),
])
def test_quantized_mlp_rejects_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        quantized_mlp(**kwargs)


def test_layer_constructors_reject_bad_arguments():
    with pytest.raises(ValueError, match="weight_quant"):
        BinaryLinear(2, 2, weight_quant="twn")
    with pytest.raises(ValueError, match="estimator"):
        BinaryConv2d(1, 1, 3, estimator="tanh")
    with pytest.raises(ValueError, match="weight_quant"):
        TernaryLinear(2, 2, weight_quant="xnor")
    with pytest.raises(ValueError, match="threshold"):
        TernaryLinear(2, 2, weight_quant="ttq", threshold=1.5)
    with pytest.raises(ValueError, match="w_bits must be an int in 1..16 or 32"):
        DoReFaLinear(2, 2, w_bits=0)
    with pytest.raises(ValueError, match="window"):
        Binary01Activation(window=0)


# ----- the recipe and the bit-width table --------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return load_digits(flat=True, seed=0)


def test_table_claim_float_and_8_bit_beat_1_2_on_a_tiny_network(digits):
    rows = bit_width_table([(32, 32), (8, 8), (1, 2)], digits, hidden=16, depth=3, epochs=10, seed=0)
    acc = {(w, a): v for w, a, v in rows}
    assert acc[32, 32] > acc[1, 2] + 0.01 and acc[8, 8] > acc[1, 2] + 0.01
    assert acc[32, 32] > 0.9


def test_training_is_deterministic_and_ede_runs(digits):
    X_tr, y_tr, X_te, y_te = digits
    small = (X_tr[:300], y_tr[:300], X_te[:100], y_te[:100])
    kw = dict(data=small, hidden=8, depth=2, epochs=2, weight_quant="libra_pb", act_quant="sign", estimator="ede")
    r1, r2 = train_quantized_mlp(1, 1, **kw), train_quantized_mlp(1, 1, **kw)
    assert r1.test_acc == r2.test_acc and not r1.diverged
    np.testing.assert_array_equal(r1.model[3].weight.data, r2.model[3].weight.data)
    assert r1.model[2].t == pytest.approx(10.0)      # the schedule reached its last epoch
    assert len(r1.history["train_loss"]) == 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_is_reported_not_hidden(digits):
    X_tr, y_tr, X_te, y_te = digits
    bad = (X_tr[:64] * np.float32(1e38), y_tr[:64], X_te[:10], y_te[:10])
    r = train_quantized_mlp(32, 32, bad, hidden=4, depth=1, epochs=1, first_last_fp=True, lr=1e30)
    assert r.diverged and r.test_acc is None


def test_format_bit_table_by_hand():
    text = format_bit_table([(32, 32, 0.975), (4, 1, None)])
    assert text.splitlines()[2:] == [" 32/32         97.50 %", "   4/1        diverged"]
