"""int8 x int8 -> int32 GEMM against numpy int64."""
import numpy as np
import pytest

from qnn_lite.kernels import int8_matmul


def test_hand_computed():
    A = np.array([[1, -2, 3]], np.int8)
    B = np.array([[4], [5], [-6]], np.int8)
    assert int8_matmul(A, B).tolist() == [[4 - 10 - 18]]


@pytest.mark.parametrize("k", [0, 1, 2, 63, 64, 65, 1000])
@pytest.mark.parametrize("m,n", [(1, 1), (3, 63), (5, 64), (37, 65), (70, 129), (0, 3), (3, 0)])
def test_matches_numpy(k, m, n):
    rng = np.random.default_rng(k * 1000 + m * 10 + n)
    A = rng.integers(-128, 128, (m, k), dtype=np.int8)
    B = rng.integers(-128, 128, (k, n), dtype=np.int8)
    got = int8_matmul(A, B)
    assert got.dtype == np.int32 and got.shape == (m, n)
    np.testing.assert_array_equal(got, A.astype(np.int64) @ B.astype(np.int64))


def test_extremes_no_overflow():
    A = np.full((3, 1001), -128, np.int8)
    B = np.full((1001, 5), -128, np.int8)
    assert (int8_matmul(A, B) == 128 * 128 * 1001).all()
    assert (int8_matmul(A, -(B + 1)) == -128 * 127 * 1001).all()


def test_non_contiguous_inputs():
    rng = np.random.default_rng(1)
    A = rng.integers(-128, 128, (20, 30), dtype=np.int8)
    B = rng.integers(-128, 128, (40, 20), dtype=np.int8)
    np.testing.assert_array_equal(int8_matmul(A[::2, ::3], B[::4, ::2]),
                                  A[::2, ::3].astype(np.int64) @ B[::4, ::2])
    np.testing.assert_array_equal(int8_matmul(A.T, A), A.T.astype(np.int64) @ A)


def test_errors_named():
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(TypeError, match="A must be int8, got int16"):
        int8_matmul(a.astype(np.int16), a.T)
    with pytest.raises(TypeError, match="B must be a numpy int8 array, got list"):
        int8_matmul(a, [[1]])
    with pytest.raises(ValueError, match=r"B must have 3 rows \(A is \(2, 3\)\), got shape \(2, 3\)"):
        int8_matmul(a, a)
    with pytest.raises(ValueError, match="A must be 2-D"):
        int8_matmul(a[0], a.T)


def test_k_too_large_for_int32():
    with pytest.raises(ValueError, match="exact only for K <= 131071"):
        int8_matmul(np.zeros((1, 131073), np.int8), np.zeros((131073, 1), np.int8))
