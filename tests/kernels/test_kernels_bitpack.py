"""Bit packing: hand-computed words, padding, round trips, bit planes and input errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite.kernels import (num_words, pack_bitplanes_cols, pack_bitplanes_rows, pack_cols,
                              pack_rows, plane_weights, unpack_cols, unpack_rows)

KS = [1, 63, 64, 65, 1000]


def pm1(rng, shape, dtype=np.float32):
    return rng.choice(np.array([-1, 1], dtype), shape)


def test_hand_computed_word():
    # element k -> bit k (LSB first); +1 -> 1, -1 -> 0; sign(0) = +1
    A = np.array([[1, -1, 1, 1], [0.0, -0.5, -3, 2]], np.float32)
    assert pack_rows(A).tolist() == [[0b1101], [0b1001]]
    assert pack_cols(A.T).tolist() == [[0b1101], [0b1001]]


def test_word_boundary_bits():
    A = -np.ones((1, 130), np.float32)
    A[0, [0, 63, 64, 129]] = 1
    assert pack_rows(A).tolist() == [[1 | (1 << 63), 1, 2]]


@pytest.mark.parametrize("k", KS)
def test_round_trip_and_zero_padding(k):
    rng = np.random.default_rng(k)
    A, B = pm1(rng, (5, k)), pm1(rng, (k, 7))
    pa, pb = pack_rows(A), pack_cols(B)
    assert pa.shape == (5, num_words(k)) and pb.shape == (7, num_words(k)) and pa.dtype == np.uint64
    np.testing.assert_array_equal(unpack_rows(pa, k), A)
    np.testing.assert_array_equal(unpack_cols(pb, k), B)
    if k % 64:                                  # padding bits of the last word are 0
        assert not (pa[:, -1] >> np.uint64(k % 64)).any()
        assert not (pb[:, -1] >> np.uint64(k % 64)).any()


@pytest.mark.parametrize("k", [1, 65, 1000])
def test_pack_cols_matches_pack_rows_of_transpose(k):
    rng = np.random.default_rng(0)
    B = pm1(rng, (k, 600))                      # more columns than one 512-column strip
    expect = pack_rows(np.ascontiguousarray(B.T))
    np.testing.assert_array_equal(pack_cols(B), expect)
    np.testing.assert_array_equal(pack_cols(np.asfortranarray(B)), expect)


def test_dtypes_agree():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((9, 70)).astype(np.float32)
    A[0, :5] = 0
    expect = pack_rows(A)
    for x in (A.astype(np.float64), A >= 0, np.where(A >= 0, 1, -1).astype(np.int8),
              np.where(A >= 0, 1, -1).astype(np.int64), A[:, ::1].copy(order="F")):
        np.testing.assert_array_equal(pack_rows(x), expect)
        np.testing.assert_array_equal(pack_cols(np.ascontiguousarray(x.T)), expect)


def test_empty_shapes():
    assert pack_rows(np.ones((0, 5), np.float32)).shape == (0, 1)
    assert pack_rows(np.ones((3, 0), np.float32)).shape == (3, 0)
    assert pack_cols(np.ones((5, 0), np.float32)).shape == (0, 1)
    assert unpack_rows(np.zeros((2, 0), np.uint64), 0).shape == (2, 0)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 9), st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_round_trip_property(m, k, seed):
    rng = np.random.default_rng(seed)
    bits = rng.random((m, k)) < 0.5
    np.testing.assert_array_equal(unpack_rows(pack_rows(bits), k, dtype=bool), bits)
    np.testing.assert_array_equal(unpack_cols(pack_cols(bits.T.copy()), k, dtype=bool), bits.T)


def test_nan_rejected():
    A = np.ones((2, 3), np.float32)
    A[1, 2] = np.nan
    with pytest.raises(ValueError, match="A contains NaN"):
        pack_rows(A)
    with pytest.raises(ValueError, match="B contains NaN"):
        pack_cols(A.astype(np.float64))


def test_bad_inputs_named():
    with pytest.raises(ValueError, match="A must be 2-D"):
        pack_rows(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="B must be a bool, integer or float array, got <U1"):
        pack_cols(np.array([["a"]]))
    with pytest.raises(TypeError, match="A must be a numpy array"):
        pack_rows([[1.0]])
    with pytest.raises(TypeError, match="packed must be a uint64 array, got float32"):
        unpack_rows(np.zeros((1, 1), np.float32), 3)
    with pytest.raises(ValueError, match=r"k must be an int in 65\.\.128 for 2 words, got 200"):
        unpack_rows(np.zeros((1, 2), np.uint64), 200)


@pytest.mark.parametrize("signed", [False, True])
def test_bitplanes_reconstruct_every_width(signed):
    rng = np.random.default_rng(2)
    for bits in range(1, 9):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        A = rng.integers(lo, hi + 1, (6, 70))
        A[0, :2] = lo, hi
        w = plane_weights(bits, signed)
        rows, cols = pack_bitplanes_rows(A, bits, signed), pack_bitplanes_cols(A.T, bits, signed)
        assert rows.shape == (bits, 6, 2) and cols.shape == (bits, 6, 2)
        planes = np.stack([unpack_rows(p, 70, dtype=bool) for p in rows]).astype(np.int64)
        np.testing.assert_array_equal(np.tensordot(w, planes, axes=1), A)
        np.testing.assert_array_equal(cols, rows)


def test_plane_weights():
    assert plane_weights(3, False).tolist() == [1, 2, 4]
    assert plane_weights(3, True).tolist() == [1, 2, -4]
    assert plane_weights(1, True).tolist() == [-1]


def test_bitplane_errors():
    with pytest.raises(ValueError, match=r"A has values outside the 3-bit signed range -4\.\.3: found min -5"):
        pack_bitplanes_rows(np.array([[-5, 0]]), 3, signed=True)
    with pytest.raises(ValueError, match=r"B has values outside the 2-bit unsigned range 0\.\.3"):
        pack_bitplanes_cols(np.array([[4]]), 2)
    with pytest.raises(ValueError, match="a_bits must be an int in 1..8, got 9"):
        pack_bitplanes_rows(np.zeros((1, 1), np.int8), 9)
    with pytest.raises(TypeError, match="A must be an integer array, got float32"):
        pack_bitplanes_rows(np.zeros((1, 1), np.float32), 2)


def test_scalar_popcount_intrinsic():
    from numba import njit
    from qnn_lite.kernels._simd import popcount64

    @njit
    def count_all(words):
        total = 0
        for w in words:
            total += popcount64(w)
        return total

    words = np.array([0, 1, 2**64 - 1, 0x8000000000000001, 12345678987654321], np.uint64)
    assert count_all(words) == int(np.bitwise_count(words).sum()) == 0 + 1 + 64 + 2 + bin(12345678987654321).count("1")


@pytest.mark.parametrize("k", [0, 1, 7, 63, 64, 65, 130, 576])
def test_bool_rows_pack_like_pm1_rows(k):
    # bool rows take the np.packbits path; it must give the float path's words bit for bit
    bits = np.random.default_rng(k).random((5, k)) < 0.5
    pm1 = np.where(bits, np.float32(1), np.float32(-1))
    got = pack_rows(bits)
    assert got.dtype == np.uint64 and got.shape == (5, num_words(k))
    np.testing.assert_array_equal(got, pack_rows(pm1))
    if k:
        np.testing.assert_array_equal(unpack_rows(got, k, dtype=bool), bits)


def test_bool_row_by_hand():
    row = np.zeros((1, 66), bool)
    row[0, [0, 3, 64]] = True                    # bit k -> word k // 64, bit k % 64, LSB first
    np.testing.assert_array_equal(pack_rows(row), np.array([[0b1001, 0b1]], np.uint64))
