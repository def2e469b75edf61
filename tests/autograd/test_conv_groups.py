"""conv2d with groups (incl. depthwise) and dilation: a direct loop reference, gradcheck, torch golden values."""
import os

import numpy as np
import pytest

from qnn_lite.autograd import Tensor, gradcheck
from qnn_lite.autograd.conv import col2im, conv2d, im2col

def T(a):
    return Tensor(a, dtype=np.float64)


GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "torch_golden_conv_groups.npz")


def loop_conv(x, w, b, stride, padding, dilation, groups):
    """The definition, one output element at a time (float64)."""
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((N, O, OH, OW))
    Og = O // groups
    for n in range(N):
        for o in range(O):
            g = o // Og
            for a in range(OH):
                for bb in range(OW):
                    acc = 0.0 if b is None else b[o]
                    for c in range(Cg):
                        for i in range(KH):
                            for j in range(KW):
                                acc += w[o, c, i, j] * xp[n, g * Cg + c, a * sh + i * dh, bb * sw + j * dw]
                    y[n, o, a, bb] = acc
    return y


CASES = [  # (x shape, out channels, kernel, stride, padding, dilation, groups)
    ((2, 4, 6, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((2, 4, 6, 6), 4, (3, 3), (2, 2), (1, 1), (1, 1), 4),     # depthwise
    ((1, 3, 7, 6), 6, (3, 2), (1, 2), (2, 1), (1, 1), 3),     # depthwise, multiplier 2
    ((2, 2, 7, 7), 3, (3, 3), (1, 1), (2, 2), (2, 2), 1),     # dilated
    ((1, 4, 9, 8), 4, (3, 3), (2, 1), (1, 0), (2, 3), 4),     # dilated depthwise
    ((2, 6, 5, 5), 4, (1, 1), (1, 1), (0, 0), (1, 1), 2),     # grouped 1x1
]


def case_arrays(case, seed):
    """Random float64 ``x, w, b`` for a CASES row, and its geometry ``(stride, padding, dilation, groups)``."""
    xs, O, k, s, p, d, g = case
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(xs), rng.standard_normal((O, xs[1] // g, *k)), rng.standard_normal(O)), (s, p, d, g)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_direct_loop(case):
    (x, w, b), geom = case_arrays(case, 0)
    got = conv2d(T(x), T(w), T(b), *geom).data
    np.testing.assert_allclose(got, loop_conv(x, w, b, *geom), rtol=1e-12, atol=1e-12)
    got_nb = conv2d(T(x), T(w), None, *geom).data
    np.testing.assert_allclose(got_nb, loop_conv(x, w, None, *geom), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_groups_dilation_gradcheck(case):
    arrays, geom = case_arrays(case, 1)
    assert gradcheck(lambda x, w, b: (conv2d(x, w, b, *geom) ** 2).sum(), *arrays)


def test_depthwise_equals_per_channel_convs():
    """groups = C is C independent single-channel convolutions."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    y = conv2d(Tensor(x), Tensor(w), None, 1, 1, 1, 3).data
    for c in range(3):
        yc = conv2d(Tensor(x[:, c:c + 1]), Tensor(w[c:c + 1]), None, 1, 1).data
        np.testing.assert_allclose(y[:, c:c + 1], yc, rtol=1e-5, atol=1e-6)
    assert y.dtype == np.float32 and y.flags.c_contiguous


def test_dilated_im2col_col2im_are_adjoint():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = im2col(x, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 3))
    r = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * r)
    rhs = np.sum(x * col2im(r, x.shape, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 3)))
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


@pytest.mark.parametrize("w_shape, kwargs, match", [
    ((4, 4, 3, 3), dict(groups=0), "groups must be a positive int"),
    ((4, 4, 3, 3), dict(groups=3), "groups=3 must divide"),
    ((4, 4, 3, 3), dict(groups=2), "input channels per group x groups=2"),
    ((4, 4, 3, 3), dict(dilation=0), "dilation must be >= 1"),
    ((4, 4, 3, 3), dict(dilation=3), "with dilation"),
])
def test_conv2d_group_dilation_errors(w_shape, kwargs, match):
    x = Tensor(np.zeros((1, 4, 5, 5)))
    with pytest.raises(ValueError, match=match):
        conv2d(x, Tensor(np.zeros(w_shape)), None, 1, 0, **kwargs)


def test_conv2d_groups_torch_golden():
    """Forward and all three gradients equal torch.nn.functional.conv2d's (float64, made by the script)."""
    gold = np.load(GOLDEN)
    tags = sorted({k.split(".")[0] for k in gold.files})
    assert len(tags) >= 4
    for tag in tags:
        x, w, b = (Tensor(gold[f"{tag}.{n}"], requires_grad=True, dtype=np.float64) for n in ("x", "w", "b"))
        s, p, d = (tuple(int(v) for v in gold[f"{tag}.{n}"]) for n in ("stride", "padding", "dilation"))
        y = conv2d(x, w, b, s, p, d, int(gold[f"{tag}.groups"]))
        np.testing.assert_allclose(y.data, gold[f"{tag}.y"], rtol=1e-10, atol=1e-10, err_msg=tag)
        (y * T(gold[f"{tag}.gy"])).sum().backward()
        for n, t in (("x", x), ("w", w), ("b", b)):
            np.testing.assert_allclose(t.grad, gold[f"{tag}.g{n}"], rtol=1e-10, atol=1e-10, err_msg=f"{tag}.g{n}")
