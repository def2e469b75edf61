"""Bit-serial GEMM: every (a_bits, b_bits) pair, signed and unsigned, against numpy int64."""
import numpy as np
import pytest

from qnn_lite.kernels import bit_serial_matmul


def rand_int(rng, bits, signed, shape):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    x = rng.integers(lo, hi + 1, shape)
    x.flat[:2] = [lo, hi][:x.size]                  # always include both ends of the range
    return x


def test_hand_computed_signed_2bit():
    # 2-bit two's complement: -2 = 0b10 (top plane weight -2), 1 = 0b01, -1 = 0b11
    A = np.array([[-2, 1]])
    B = np.array([[-2], [-1]])
    assert bit_serial_matmul(A, B, 2, 2, True, True).tolist() == [[3]]
    assert bit_serial_matmul(np.array([[1, 1, 0]]), np.array([[1], [0], [1]]), 1, 1).tolist() == [[1]]


def test_all_bit_width_pairs_and_signedness():
    rng = np.random.default_rng(0)
    for a_bits in range(1, 9):
        for b_bits in range(1, 9):
            for a_signed in (False, True):
                for b_signed in (False, True):
                    A = rand_int(rng, a_bits, a_signed, (3, 70))
                    B = rand_int(rng, b_bits, b_signed, (70, 5))
                    got = bit_serial_matmul(A, B, a_bits, b_bits, a_signed, b_signed)
                    assert got.dtype == np.int32
                    np.testing.assert_array_equal(got, A @ B, err_msg=f"{a_bits}x{b_bits} {a_signed} {b_signed}")


@pytest.mark.parametrize("k", [0, 1, 63, 64, 65, 1000])
@pytest.mark.parametrize("m,n", [(1, 1), (5, 33), (37, 3), (0, 4), (4, 0)])
def test_random_shapes(k, m, n):
    rng = np.random.default_rng(k + 7 * m + n)
    A = rand_int(rng, 8, True, (m, k)).astype(np.int8)
    B = rand_int(rng, 3, False, (k, n)).astype(np.uint8)
    got = bit_serial_matmul(A, B, 8, 3, True, False)
    assert got.shape == (m, n)
    np.testing.assert_array_equal(got, A.astype(np.int64) @ B)


def test_extremes_8bit():
    A = np.full((2, 1000), -128)
    B = np.full((1000, 3), -128)
    assert (bit_serial_matmul(A, B, 8, 8, True, True) == 128 * 128 * 1000).all()
    assert (bit_serial_matmul(A + 383, B + 383, 8, 8) == 255 * 255 * 1000).all()


def test_errors_named():
    A, B = np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64)
    with pytest.raises(ValueError, match=r"A has values outside the 2-bit unsigned range 0\.\.3"):
        bit_serial_matmul(A - 1, B, 2, 2)
    with pytest.raises(ValueError, match=r"B has values outside the 4-bit signed range -8\.\.7"):
        bit_serial_matmul(A, B + 8, 2, 4, False, True)
    with pytest.raises(ValueError, match="a_bits must be an int in 1..8, got 0"):
        bit_serial_matmul(A, B, 0, 2)
    with pytest.raises(ValueError, match="b_bits must be an int in 1..8, got 9"):
        bit_serial_matmul(A, B, 2, 9)
    with pytest.raises(TypeError, match="B must be an integer array, got float64"):
        bit_serial_matmul(A, B.astype(float), 2, 2)
    with pytest.raises(ValueError, match="B must have 3 rows"):
        bit_serial_matmul(A, B.T, 2, 2)
    with pytest.raises(ValueError, match="A must be 2-D"):
        bit_serial_matmul(A[0], B, 2, 2)


def test_k_too_large_for_int32():
    A = np.zeros((1, 40000), np.uint8)
    with pytest.raises(ValueError, match="K = 40000 is too large"):
        bit_serial_matmul(A, A.T, 8, 8)
    assert bit_serial_matmul(A, A.T, 4, 4).tolist() == [[0]]     # 40000 * 15 * 15 fits
