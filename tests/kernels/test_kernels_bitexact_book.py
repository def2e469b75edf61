"""Bit-exact with the book: the book's quantized layers run on the numba kernels give the same integers.

* binary (chapter 06, ``qnn_lite.transforms.bnn`` / ``binary``): +-1 weights by sign, +-1 inputs;
  ``binary_matmul`` / ``binary_linear`` / ``binary_conv2d`` equal the fake-quant float forward exactly;
* 2..4-bit (chapter 03/04, ``uniform.quantize``, unsigned activations, signed weights):
  ``bit_serial_matmul`` equals the integer-only path's ``int_matmul`` / ``int_linear_expanded``.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnn_lite.autograd import Tensor
from qnn_lite.kernels import (binary_conv2d, binary_linear, binary_matmul, bit_serial_matmul, pack_cols,
                              pack_rows)
from qnn_lite.nn import functional as F
from qnn_lite.quantizers.binary import binarize
from qnn_lite.transforms.bnn import BinaryConv2d, BinaryLinear, SignActivation
from qnn_lite.recipes.bnn_mlp import quantized_mlp
from qnn_lite.transforms.integer import int_linear_expanded, int_matmul
from qnn_lite.quantizers.ste import sign
from qnn_lite.quantizers.uniform import calc_qparams, qrange, quantize


# ----- binary: XNOR-popcount == the fake-quant float layer ----------------------------------------
def _pm1_input(rng, shape):
    """+-1 activations as the book makes them: SignActivation of real pre-activations (with exact zeros)."""
    x = rng.normal(size=shape).astype(np.float32)
    x.flat[::7] = 0.0                                         # sign(0) = +1 must agree with the packing
    return SignActivation("clipped")(Tensor(x)).data


@pytest.mark.parametrize("k", [1, 63, 64, 65, 100, 200])
def test_binary_linear_layer_equals_its_fake_quant_forward(k):
    rng = np.random.default_rng(k)
    layer = BinaryLinear(k, 37, weight_quant="sign", generator=rng)
    layer.bias.data[:] = rng.normal(size=37).astype(np.float32)
    h = _pm1_input(rng, (23, k))
    assert set(np.unique(h)) <= {-1.0, 1.0}
    acc = binary_matmul(pack_rows(h), pack_rows(layer.weight.data), k)   # weight (out, in): A @ W.T
    assert acc.dtype == np.int32
    # the integers, against a plain integer product of the signs
    ref = h.astype(np.int64) @ sign(layer.weight.data, dtype=np.int64).T
    np.testing.assert_array_equal(acc, ref)
    # the whole layer, bit for bit: float32(int) + bias is what the float32 +-1 matmul gives
    y_float = layer(Tensor(h)).data
    np.testing.assert_array_equal(acc.astype(np.float32) + layer.bias.data, y_float)


def test_binary_matmul_packed_columns_equal_packed_rows_of_the_transpose():
    rng = np.random.default_rng(1)
    h = _pm1_input(rng, (5, 130))
    w = binarize(rng.normal(size=(9, 130))).data
    a = binary_matmul(pack_rows(h), pack_cols(np.ascontiguousarray(w.T)), 130)
    b = binary_matmul(pack_rows(h), pack_rows(w), 130)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, (h @ w.T).astype(np.int64))


def test_xnor_layer_is_the_integer_product_times_alpha():
    rng = np.random.default_rng(2)
    layer = BinaryLinear(96, 12, weight_quant="xnor", bias=False, generator=rng)
    h = _pm1_input(rng, (8, 96))
    acc = binary_linear(h, layer.weight.data)
    alpha = np.mean(np.abs(layer.weight.data), axis=1)
    # alpha is a per-output-channel float scale applied after the exact integer GEMM
    np.testing.assert_allclose(acc * alpha, layer(Tensor(h)).data, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(acc, layer(Tensor(h)).data)       # the scale matters (alpha != 1)


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1), (1, 2)])
def test_binary_conv_layer_equals_its_fake_quant_forward(stride, padding):
    rng = np.random.default_rng(10 * stride + padding)
    layer = BinaryConv2d(3, 5, 3, stride=stride, padding=padding, bias=False, weight_quant="sign", generator=rng)
    x = _pm1_input(rng, (2, 3, 7, 6))
    acc = binary_conv2d(x, layer.weight.data, stride=stride, padding=padding)
    y = layer(Tensor(x)).data                                     # zero padding: the real 0, not -1 or +1
    np.testing.assert_array_equal(acc.astype(np.float32), y)
    assert acc.shape == y.shape


def _kernel_forward(model, X):
    """Run a quantized_mlp in eval mode; its BinaryLinear layers on binary_linear (bias added in float32)."""
    h, pre = Tensor(X), []
    for m in model:
        if isinstance(m, BinaryLinear):
            acc = binary_linear(h.data, m.weight.data)
            pre.append(acc)
            h = Tensor(acc.astype(np.float32) + m.bias.data)
        else:
            h = m(h)
    return h.data, pre


def test_binary_mlp_on_the_kernel_gives_identical_logits_and_predictions():
    rng = np.random.default_rng(3)
    model = quantized_mlp(1, 1, in_features=20, hidden=100, depth=3, weight_quant="sign", act_quant="sign", seed=4)
    for m in model:                                          # nontrivial BatchNorm statistics
        if hasattr(m, "running_mean"):
            m.running_mean[:] = rng.normal(size=m.running_mean.shape) * 3
            m.running_var[:] = rng.uniform(0.5, 20, size=m.running_var.shape)
    model.eval()
    X = rng.normal(size=(200, 20)).astype(np.float32)
    logits, pre = _kernel_forward(model, X)
    ref = model(Tensor(X)).data
    assert len(pre) == 2 and all(p.dtype == np.int32 for p in pre)
    np.testing.assert_array_equal(logits, ref)
    np.testing.assert_array_equal(logits.argmax(1), ref.argmax(1))
    assert len(np.unique(ref.argmax(1))) > 1


# ----- 2..4-bit: bit-serial == the integer-only path ---------------------------------------------
def _quantized_layer(rng, m, k, n, a_bits, w_bits, affine_act=False):
    """Codes of a layer quantized the book's way: unsigned activations, symmetric signed weights."""
    x = np.maximum(rng.normal(size=(m, k)), 0).astype(np.float32)       # post-ReLU activations
    if affine_act:
        x = x - 0.3
    w = rng.normal(size=(n, k)).astype(np.float32)
    aq = qrange(a_bits, signed=False)
    s_x, z_x = calc_qparams(x.min(), x.max(), *aq)
    wq = qrange(w_bits, signed=True)
    s_w, z_w = calc_qparams(w.min(), w.max(), *wq, symmetric=True)
    return quantize(x, s_x, z_x, *aq), int(z_x), quantize(w, s_w, z_w, *wq), int(z_w)


@pytest.mark.parametrize("a_bits,w_bits", [(2, 2), (2, 4), (3, 3), (4, 2), (4, 4)])
def test_bit_serial_equals_int_matmul_of_the_book_codes(a_bits, w_bits):
    rng = np.random.default_rng(a_bits * 10 + w_bits)
    q_x, z_x, q_w, z_w = _quantized_layer(rng, 17, 150, 11, a_bits, w_bits)
    assert z_x == 0 and z_w == 0
    assert q_x.min() == 0 and q_x.max() == 2 ** a_bits - 1      # the whole unsigned range is used
    assert q_w.min() < 0 < q_w.max()
    acc = bit_serial_matmul(q_x, np.ascontiguousarray(q_w.T), a_bits, w_bits, a_signed=False, b_signed=True)
    np.testing.assert_array_equal(acc, int_matmul(q_x, q_w.T))


def test_bit_serial_with_an_activation_zero_point_equals_the_expanded_form():
    rng = np.random.default_rng(7)
    q_x, z_x, q_w, z_w = _quantized_layer(rng, 9, 70, 6, 3, 2, affine_act=True)
    assert z_x > 0
    raw = bit_serial_matmul(q_x, np.ascontiguousarray(q_w.T), 3, 2, a_signed=False, b_signed=True).astype(np.int64)
    # sum (x - z_x) w = sum x w - z_x sum_k w   (w has zero point 0)
    np.testing.assert_array_equal(raw - z_x * q_w.sum(axis=1), int_linear_expanded(q_x, z_x, q_w, z_w))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 130), st.integers(1, 8), st.integers(2, 4), st.integers(2, 4),
       st.integers(0, 2 ** 31 - 1))
def test_bit_serial_equals_int_matmul_property(m, k, n, a_bits, w_bits, seed):
    rng = np.random.default_rng(seed)
    q_x = rng.integers(0, 2 ** a_bits, (m, k))
    q_w = rng.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (n, k))
    acc = bit_serial_matmul(q_x, np.ascontiguousarray(q_w.T), a_bits, w_bits, a_signed=False, b_signed=True)
    np.testing.assert_array_equal(acc, int_matmul(q_x, q_w.T))


def test_degenerate_binary_layer_all_plus_one():
    """sign(0) = +1 everywhere: an all-zero input and weight give k in every output."""
    x = np.zeros((3, 70), np.float32)
    w = np.zeros((4, 70), np.float32)
    np.testing.assert_array_equal(binary_linear(x, w), np.full((3, 4), 70))
    np.testing.assert_array_equal(F.linear(Tensor(sign(x)), Tensor(sign(w))).data, np.full((3, 4), 70.0))
