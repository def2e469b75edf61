"""Binary GEMM / linear / conv2d against float references of the +-1 operands."""
import numpy as np
import pytest

from qnn_lite.kernels import binary_conv2d, binary_linear, binary_matmul, pack_cols, pack_rows


def pm1(rng, shape):
    return rng.choice(np.array([-1, 1], np.float32), shape)


def test_hand_computed():
    A = np.array([[1, -1, 1]], np.float32)
    B = np.array([[1, 1], [1, -1], [1, 1]], np.float32)       # columns (1,1,1), (1,-1,1)
    assert binary_matmul(pack_rows(A), pack_cols(B), 3).tolist() == [[1, 3]]


@pytest.mark.parametrize("k", [1, 63, 64, 65, 1000])
@pytest.mark.parametrize("m,n", [(1, 1), (3, 5), (5, 33), (37, 31), (70, 65)])
def test_matches_float_matmul(k, m, n):
    rng = np.random.default_rng(k * 1000 + m * 10 + n)
    A, B = pm1(rng, (m, k)), pm1(rng, (k, n))
    got = binary_matmul(pack_rows(A), pack_cols(B), k)
    assert got.dtype == np.int32 and got.shape == (m, n)
    np.testing.assert_array_equal(got, (A @ B).astype(np.int32))


def test_padding_needs_the_true_k():
    # with K = 65 the second word has 63 padding bits; using k = 128 would be off by 63
    rng = np.random.default_rng(3)
    A, B = pm1(rng, (4, 65)), pm1(rng, (65, 4))
    got = binary_matmul(pack_rows(A), pack_cols(B), 65)
    np.testing.assert_array_equal(got, A @ B)
    assert got.min() >= -65 and got.max() <= 65


def test_empty():
    z = np.zeros((0, 2), np.uint64)
    assert binary_matmul(z, np.zeros((3, 2), np.uint64), 100).shape == (0, 3)
    assert binary_matmul(np.zeros((3, 2), np.uint64), z, 100).shape == (3, 0)
    assert binary_linear(np.ones((2, 0), np.float32), np.ones((3, 0), np.float32)).tolist() == [[0] * 3] * 2


def test_binary_linear_uses_sign_with_zero_as_plus_one():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 100)).astype(np.float32)
    x[:, :10] = 0
    w = rng.standard_normal((17, 100))
    sgn = lambda a: np.where(a >= 0, 1.0, -1.0)  # noqa: E731
    np.testing.assert_array_equal(binary_linear(x, w), sgn(x) @ sgn(w).T)


def test_matmul_errors_named():
    a = np.zeros((2, 2), np.uint64)
    with pytest.raises(TypeError, match="A_packed must be uint64, got float32"):
        binary_matmul(a.astype(np.float32), a, 100)
    with pytest.raises(TypeError, match="B_packed must be a numpy uint64 array, got list"):
        binary_matmul(a, [[1]], 100)
    with pytest.raises(ValueError, match=r"k must be an int in 65\.\.128 .*got 200"):
        binary_matmul(a, a, 200)
    with pytest.raises(ValueError, match=r"k must be an int in 65\.\.128 .*got 64"):
        binary_matmul(a, a, 64)
    with pytest.raises(ValueError, match="k must be an int"):
        binary_matmul(a, a, 100.0)
    with pytest.raises(ValueError, match="B_packed must have 2 words"):
        binary_matmul(a, np.zeros((2, 3), np.uint64), 100)
    with pytest.raises(ValueError, match="A_packed must be 2-D"):
        binary_matmul(np.zeros(2, np.uint64), a, 100)
    with pytest.raises(ValueError, match="w_pm1 must have in_features = 3"):
        binary_linear(np.ones((2, 3)), np.ones((2, 4)))


def conv2d_reference(x, w, stride, padding):
    """Plain float conv2d (cross-correlation) of sign(x), sign(w) with zero padding."""
    s = lambda a: np.where(a >= 0, 1.0, -1.0)  # noqa: E731
    xp = np.pad(s(x), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    O, C, kh, kw = w.shape
    Ho = (xp.shape[2] - kh) // stride + 1
    Wo = (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], O, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, s(w))
    return out


def test_conv_hand_computed_zero_padding():
    # 2x2 image of +1, 3x3 kernel of +1, padding 1: every window sees the 4 real pixels
    y = binary_conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), padding=1)
    assert y.tolist() == [[[[4, 4], [4, 4]]]]


@pytest.mark.parametrize("stride,padding,ksize", [(1, 0, (3, 3)), (1, 1, (3, 3)), (2, 1, (3, 3)),
                                                  (1, 2, (2, 3)), (2, 0, (1, 1)), (3, 2, (5, 5))])
def test_conv_matches_float_reference(stride, padding, ksize):
    rng = np.random.default_rng(stride * 100 + padding * 10 + ksize[0])
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((5, 3) + ksize).astype(np.float32)
    got = binary_conv2d(x, w, stride=stride, padding=padding)
    ref = conv2d_reference(x, w, stride, padding)
    assert got.dtype == np.int32 and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


def test_conv_wide_channels_and_pair_arguments():
    rng = np.random.default_rng(5)
    x, w = pm1(rng, (1, 70, 5, 5)), pm1(rng, (4, 70, 3, 3))        # K = 630 spans 10 words
    np.testing.assert_array_equal(binary_conv2d(x, w, stride=(1, 1), padding=(1, 1)),
                                  conv2d_reference(x, w, 1, 1))


def test_conv_errors_named():
    x, w = np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3))
    with pytest.raises(ValueError, match="w must have 2 input channels"):
        binary_conv2d(x, np.ones((3, 1, 3, 3)))
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        binary_conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        binary_conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="x must be 4-D"):
        binary_conv2d(np.ones((2, 4, 4)), w)
    with pytest.raises(ValueError, match="kernel size"):
        binary_conv2d(x, np.ones((3, 2, 5, 5)))
    xn = x.copy()
    xn[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        binary_conv2d(xn, w)
