"""conv2d / im2col, max & avg pooling, batch norm: references, PyTorch goldens, gradchecks, errors."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite import Tensor
from qnn_lite.autograd import gradcheck
from qnn_lite.autograd.conv import col2im, im2col
from qnn_lite.nn import functional as F

GOLD = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "torch_golden_nn.npz"))
rng = np.random.default_rng(0)


def T(a, requires_grad=False):
    """A float64 Tensor (Tensor(ndarray) alone would store float64 data as float32)."""
    return Tensor(a, requires_grad=requires_grad, dtype=np.float64)


def conv_reference(x, w, b, stride, padding):
    """Direct definition: six nested loops over n, o, oh, ow, c and the kernel window (flattened i, j)."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    OH, OW = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0 if b is None else b[o]
                    for c in range(C):
                        for k in range(KH * KW):
                            i, j = divmod(k, KW)
                            acc += w[o, c, i, j] * xp[n, c, oh * sh + i, ow * sw + j]
                    y[n, o, oh, ow] = acc
    return y


CONV_CASES = [  # (x shape, w shape, stride, padding, bias)
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (0, 0), True),
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), False),
    ((1, 2, 6, 5), (3, 2, 3, 2), (2, 2), (0, 0), True),
    ((2, 2, 6, 7), (3, 2, 2, 3), (2, 1), (1, 0), True),
    ((1, 1, 4, 4), (2, 1, 1, 1), (1, 1), (0, 0), False),
    ((1, 2, 5, 4), (2, 2, 5, 4), (1, 1), (0, 0), True),  # kernel == input: one output pixel
]


@pytest.mark.parametrize("xs, ws, stride, padding, bias", CONV_CASES)
def test_conv2d_matches_nested_loop_reference(xs, ws, stride, padding, bias):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    got = F.conv2d(T(x), T(w), None if b is None else T(b), stride, padding)
    np.testing.assert_allclose(got.data, conv_reference(x, w, b, stride, padding), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, ws, stride, padding, bias", CONV_CASES)
def test_conv2d_gradcheck(xs, ws, stride, padding, bias):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    if bias:
        assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, w, rng.standard_normal(ws[0]))
    else:
        assert gradcheck(lambda x, w: F.conv2d(x, w, None, stride, padding), x, w)


@pytest.mark.parametrize("tag, stride, padding", [("s1p1", 1, 1), ("s2p0", 2, 0), ("s2p1", 2, (1, 0))])
def test_conv2d_equals_pytorch(tag, stride, padding):
    g = {k: GOLD[f"conv_{tag}_{k}"] for k in ("x", "w", "b", "gy", "y", "dx", "dw", "db")}
    x, w, b = (Tensor(g[k], requires_grad=True, dtype=np.float64) for k in ("x", "w", "b"))
    y = F.conv2d(x, w, b, stride, padding)
    np.testing.assert_allclose(y.data, g["y"], rtol=1e-10, atol=1e-12)
    y.backward(g["gy"])
    for t, k in ((x, "dx"), (w, "dw"), (b, "db")):
        np.testing.assert_allclose(t.grad, g[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_conv2d_float32_in_float32_out_and_contiguous():
    x = Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.dtype == np.float32 and y.shape == (2, 4, 6, 6) and y.data.flags.c_contiguous
    y.backward(np.ones(y.shape, np.float32))
    assert w.grad.dtype == np.float32 and x.grad is None  # data input gets no gradient


def test_im2col_column_order_is_pytorch_weight_order():
    x = rng.standard_normal((2, 3, 5, 4))
    w = rng.standard_normal((4, 3, 3, 2))
    cols = im2col(x, (3, 2), 1, (1, 0))
    OH, OW = 5, 3
    assert cols.shape == (2 * OH * OW, 3 * 3 * 2)
    y = (cols @ w.reshape(4, -1).T).reshape(2, OH, OW, 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, conv_reference(x, w, None, (1, 1), (1, 0)), rtol=1e-12, atol=1e-12)
    # one row by hand: image 1, output pixel (2, 1) with padding 1 on H is the window rows 1..3, cols 1..2
    np.testing.assert_array_equal(cols[1 * OH * OW + 2 * OW + 1], x[1, :, 1:4, 1:3].reshape(-1))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(3, 6))
def test_col2im_is_the_adjoint_of_im2col(kh, kw, stride, padding, size):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: col2im is the transpose of the im2col map."""
    x = rng.standard_normal((2, 2, size, size + 1))
    cols = im2col(x, (kh, kw), stride, padding)
    c = rng.standard_normal(cols.shape)
    lhs = float((cols * c).sum())
    rhs = float((x * col2im(c, x.shape, (kh, kw), stride, padding)).sum())
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2),
       st.integers(3, 7), st.integers(1, 17), st.sampled_from([np.float32, np.float64]))
def test_compiled_col2im_equals_numpy_col2im_bit_for_bit(kh, kw, sh, sw, padding, size, C, dtype):
    """The numba col2im in Conv2d.backward adds the taps in the same (i, j) order as the numpy one."""
    from qnn_lite.kernels.col2im import col2im_nchw
    shape = (2, C, size, size + 1)
    kernel, stride, pad = (kh, kw), (sh, sw), (padding, padding)
    oh = (size + 2 * padding - kh) // sh + 1
    ow = (size + 1 + 2 * padding - kw) // sw + 1
    c = rng.standard_normal((2 * oh * ow, kh * kw * C)).astype(dtype)          # columns in (i, j, c) order
    c_chw = c.reshape(-1, kh, kw, C).transpose(0, 3, 1, 2).reshape(len(c), -1)  # col2im's (c, i, j) order
    got = col2im_nchw(c, shape, kernel, stride, pad, (oh, ow))
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, col2im(c_chw, shape, kernel, stride, pad))


def test_conv_input_gradient_equals_per_tap_accumulation_bit_for_bit():
    """dx = col2im(g @ W) gives the same float32 bits as adding one small GEMM per kernel tap (i, j)."""
    x = rng.standard_normal((5, 6, 7, 7)).astype(np.float32)
    w = rng.standard_normal((9, 6, 3, 3)).astype(np.float32)
    g = rng.standard_normal((5, 9, 4, 4)).astype(np.float32)
    xt = Tensor(x, requires_grad=True)
    F.conv2d(xt, Tensor(w), stride=2, padding=1).backward(Tensor(g))
    g2 = g.transpose(0, 2, 3, 1).reshape(-1, 9)
    dxp = np.zeros((5, 9, 9, 6), np.float32)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + 8:2, j:j + 8:2, :] += (g2 @ w[:, :, i, j]).reshape(5, 4, 4, 6)
    np.testing.assert_array_equal(xt.grad, dxp[:, 1:8, 1:8, :].transpose(0, 3, 1, 2))


@pytest.mark.parametrize("call, match", [
    (lambda: F.conv2d(Tensor(np.zeros((3, 5, 5))), Tensor(np.zeros((2, 3, 3, 3)))), "input must be 4-D"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3)))), "weight must be 4-D"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 2, 5, 5))), Tensor(np.zeros((4, 3, 3, 3)))),
     r"3 input channels but input has 2.*\(4, 3, 3, 3\).*\(1, 2, 5, 5\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3, 3))), padding=-1),
     "padding must be >= 0"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3, 3))), stride=0),
     "stride must be >= 1"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 2, 2))), Tensor(np.zeros((2, 3, 3, 3)))),
     r"kernel_size \(3, 3\) is larger than the padded input \(2, 2\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3, 3))), Tensor(np.zeros(3))),
     r"bias must have shape \(2,\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3, 3))), stride=1.5),
     "stride must be an int"),
    (lambda: im2col(np.zeros((1, 1, 4, 4)), 5), "kernel_size"),
])
def test_conv2d_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----- pooling ----------------------------------------------------------------------------------
def test_max_pool_hand_computed_and_ties_route_to_first_max():
    x = T(np.array([[[[1., 5., 2., 2.],
                           [3., 4., 2., 2.],
                           [0., 0., 7., 1.],
                           [0., 0., 1., 7.]]]]), requires_grad=True)
    y = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.data, [[[[5., 2.], [0., 7.]]]])
    y.backward(np.array([[[[10., 20.], [30., 40.]]]]))
    expected = np.zeros((4, 4))
    expected[0, 1] = 10.   # the 5
    expected[0, 2] = 20.   # four 2s tie: the first (row-major) gets it all
    expected[2, 0] = 30.   # four 0s tie
    expected[2, 2] = 40.   # two 7s tie: the first
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_avg_pool_hand_computed_with_zero_padding_counted():
    x = T(np.arange(16.).reshape(1, 1, 4, 4))
    y = F.avg_pool2d(x, 2)
    np.testing.assert_allclose(y.data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    y = F.avg_pool2d(x, 3, stride=2, padding=1)
    # top-left window covers x[0:2, 0:2] = 0+1+4+5 = 10 plus five zeros, divided by 9
    assert y.data[0, 0, 0, 0] == pytest.approx(10 / 9)


@pytest.mark.parametrize("tag", ["max", "avg"])
def test_pools_equal_pytorch(tag):
    x = Tensor(GOLD["pool_x"], requires_grad=True, dtype=np.float64)
    fn = F.max_pool2d if tag == "max" else F.avg_pool2d
    y = fn(x, 3, 2, 1)
    np.testing.assert_allclose(y.data, GOLD[f"pool_{tag}_y"], rtol=1e-12)
    y.backward(GOLD[f"pool_{tag}_gy"])
    np.testing.assert_allclose(x.grad, GOLD[f"pool_{tag}_dx"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (1, 1, 0)])
def test_pools_gradcheck(fn, k, s, p):
    x = rng.standard_normal((2, 2, 5, 6))  # continuous values: no ties, so max is differentiable
    assert gradcheck(lambda x: fn(x, k, s, p), x)


def test_max_pool_never_picks_padding_even_for_negative_inputs():
    x = T(-np.ones((1, 1, 2, 2)) - np.arange(4.).reshape(1, 1, 2, 2))
    y = F.max_pool2d(x, 2, stride=1, padding=1)
    assert np.isfinite(y.data).all() and y.data.max() == -1.0


@pytest.mark.parametrize("call, match", [
    (lambda: F.max_pool2d(Tensor(np.zeros((2, 4, 4))), 2), "input must be 4-D"),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2), "padding must be at most half"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 0), "kernel_size must be >= 1"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, stride=-1), "stride must be >= 1"),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 2, 2))), 3), "larger than the padded input"),
])
def test_pool_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----- batch norm ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (3, 3, 2, 4)])
def test_batch_norm_train_gradcheck_both_ranks(shape):
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b)
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), x)  # no affine


def test_batch_norm_eval_gradcheck_uses_running_stats():
    x = rng.standard_normal((4, 3, 2, 2))
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), x,
                     rng.standard_normal(3), rng.standard_normal(3))
    y = F.batch_norm(T(x), rm, rv, training=False)
    np.testing.assert_allclose(y.data, (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5), rtol=1e-12)


def test_batch_norm_running_stats_equal_hand_computed_update():
    x = np.array([[1., 10.], [2., 20.], [6., 60.]])  # 3 samples, 2 features
    rm, rv = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    y = F.batch_norm(T(x), rm, rv, training=True, momentum=0.25)
    mean = np.array([3., 30.])
    var_biased = np.array([((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 3, ((10 - 30) ** 2 + 100 + 900) / 3])
    var_unbiased = var_biased * 3 / 2
    np.testing.assert_allclose(rm, 0.75 * np.array([0.5, -1.0]) + 0.25 * mean)
    np.testing.assert_allclose(rv, 0.75 * np.array([2.0, 3.0]) + 0.25 * var_unbiased)
    np.testing.assert_allclose(y.data, (x - mean) / np.sqrt(var_biased + 1e-5), rtol=1e-12)  # biased to normalise


@pytest.mark.parametrize("tag", ["1d", "2d"])
def test_batch_norm_module_equals_pytorch_two_steps_then_eval(tag):
    import qnn_lite.nn as nn
    bn = nn.BatchNorm1d(3) if tag == "1d" else nn.BatchNorm2d(3)
    bn.weight.data[...] = GOLD[f"bn{tag}_weight"]
    bn.bias.data[...] = GOLD[f"bn{tag}_bias"]
    for k in range(2):
        x = Tensor(GOLD[f"bn{tag}_x{k}"], requires_grad=True, dtype=np.float64)
        y = bn(x)
        np.testing.assert_allclose(y.data, GOLD[f"bn{tag}_y{k}"], rtol=1e-5, atol=1e-5)
        y.backward(GOLD[f"bn{tag}_gy{k}"])
        np.testing.assert_allclose(x.grad, GOLD[f"bn{tag}_dx{k}"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean, GOLD[f"bn{tag}_running_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var, GOLD[f"bn{tag}_running_var"], rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked) == 2
    bn.eval()
    y = bn(Tensor(GOLD[f"bn{tag}_x0"], dtype=np.float64))
    np.testing.assert_allclose(y.data, GOLD[f"bn{tag}_eval_y"], rtol=1e-5, atol=1e-5)


def test_batch_norm_constant_channel_gives_zeros_not_nan():
    y = F.batch_norm(T(np.full((4, 2), 3.0)), None, None, training=True)
    np.testing.assert_array_equal(y.data, np.zeros((4, 2)))


@pytest.mark.parametrize("call, match", [
    (lambda: F.batch_norm(Tensor(np.zeros((2, 3, 4))), None, None, training=True), "input must be 2-D"),
    (lambda: F.batch_norm(Tensor(np.zeros((1, 3))), None, None, training=True), "more than 1 value per channel"),
    (lambda: F.batch_norm(Tensor(np.zeros((2, 3))), np.zeros(2), np.ones(2), training=True),
     r"running_mean must have shape \(3,\)"),
    (lambda: F.batch_norm(Tensor(np.zeros((2, 3))), np.zeros(3), None), "both be arrays or both be None"),
    (lambda: F.batch_norm(Tensor(np.ones((2, 3))), None, None, training=True, momentum=1.5), "momentum"),
    (lambda: F.batch_norm(Tensor(np.ones((2, 3))), None, None, training=True, eps=0), r"eps must be a number > 0.0, got 0"),
])
def test_batch_norm_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
