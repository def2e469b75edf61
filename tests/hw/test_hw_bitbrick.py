"""Bit Fusion bit-bricks: exhaustive products, fusion, array GEMM / conv and cycles."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite.hw import BitBrick, BitFusionArray, FusionUnit, products_per_cycle
from qnn_lite.hw.bitbrick import slices, value_range

WIDTHS = (1, 2, 4, 8)


def test_bitbrick_all_16_pairs_signed_and_unsigned():
    x, y = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    as_signed = np.array([0, 1, -2, -1])          # 2-bit two's complement of 0..3
    for xs, ys in itertools.product((False, True), repeat=2):
        xv = as_signed[x] if xs else x
        yv = as_signed[y] if ys else y
        np.testing.assert_array_equal(BitBrick.multiply(x, y, xs, ys), xv * yv)
    # hand values: 3 x 3 unsigned = 9; signed (-1)(-1) = 1; signed -2 x unsigned 3 = -6
    assert BitBrick.multiply(3, 3) == 9
    assert BitBrick.multiply(3, 3, True, True) == 1
    assert BitBrick.multiply(2, 3, True, False) == -6


@pytest.mark.parametrize("a_bits,w_bits", list(itertools.product(WIDTHS, WIDTHS)))
@pytest.mark.parametrize("a_signed,w_signed", list(itertools.product((False, True), repeat=2)))
def test_fusion_unit_every_operand_pair(a_bits, w_bits, a_signed, w_signed):
    unit = FusionUnit(a_bits, w_bits, a_signed, w_signed)
    a = np.arange(value_range(a_bits, a_signed)[0], value_range(a_bits, a_signed)[1] + 1)
    w = np.arange(value_range(w_bits, w_signed)[0], value_range(w_bits, w_signed)[1] + 1)
    assert len(a) == 2 ** a_bits and len(w) == 2 ** w_bits
    got = unit.multiply(a[:, None], w[None, :])
    np.testing.assert_array_equal(got, a[:, None] * w[None, :])


def test_products_per_cycle_and_brick_map():
    assert products_per_cycle(8, 8) == 1
    assert products_per_cycle(4, 4) == 4
    assert products_per_cycle(2, 2) == 16
    assert products_per_cycle(1, 1) == 16
    assert products_per_cycle(4, 2) == 8      # two 4b x 2b products per 4 bricks
    assert products_per_cycle(8, 2) == 4
    for a_bits, w_bits in itertools.product(WIDTHS, WIDTHS):
        unit = FusionUnit(a_bits, w_bits)
        bmap = unit.brick_map()
        assert len(bmap) == 16                 # every brick used exactly once
        assert len(set(bmap)) == 16
        assert unit.pf * unit.bricks_per_product == 16
    # a 4b x 4b multiply is four 2b x 2b bricks
    assert FusionUnit(4, 4).brick_map()[:4] == [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1)]


def test_slices_signed_decomposition():
    # -7 in 4 bits is 1001: slices (LSB first) 01, 10; top slice signed: 1 + 4*(-2) = -7
    np.testing.assert_array_equal(slices(-7, 4), [1, 2])
    np.testing.assert_array_equal(slices(200, 8), [0, 2, 0, 3])
    assert slices(-1, 1).tolist() == [3]       # a 1-bit signed -1 sign-extends to 11


def conv_reference(x, w, stride):
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(2, 3))
    return np.einsum("bchwrs,fcrs->bfhw", win[:, :, ::stride, ::stride], w)


@pytest.mark.parametrize("a_bits,w_bits", [(8, 8), (4, 4), (2, 2), (8, 2), (1, 4), (2, 8)])
@pytest.mark.parametrize("signed", [False, True])
def test_bitfusion_conv_exact_and_cycles(a_bits, w_bits, signed):
    rng = np.random.default_rng(a_bits * 10 + w_bits)
    lo_a, hi_a = value_range(a_bits, signed)
    lo_w, hi_w = value_range(w_bits, True)
    x = rng.integers(lo_a, hi_a + 1, (2, 5, 6, 5))
    w = rng.integers(lo_w, hi_w + 1, (3, 5, 3, 2))
    arr = BitFusionArray(N=2, M=2)
    y, rep = arr.conv2d(x, w, stride=2, a_bits=a_bits, w_bits=w_bits, a_signed=signed,
                        max_chunk=37)
    np.testing.assert_array_equal(y, conv_reference(x, w, 2))
    pf = products_per_cycle(a_bits, w_bits)
    OH, OW = 2, 2
    assert rep.cycles == 2 * math.ceil(3 / 2) * OH * OW * 3 * 2 * math.ceil(5 / (2 * pf))
    assert rep.cycles == arr.conv_cycles(2, 5, 3, OH, OW, 3, 2, a_bits, w_bits)
    assert 0 < rep.utilization <= 1


def test_bitfusion_gemm_hand_cycles():
    rng = np.random.default_rng(0)
    A = rng.integers(-8, 8, (7, 20))
    B = rng.integers(-8, 8, (20, 5))
    C, rep = BitFusionArray(N=4, M=2).gemm(A, B, a_bits=4, w_bits=4)
    np.testing.assert_array_equal(C, A @ B)
    # 7 rows * ceil(5/2) oc tiles * ceil(20 / (4*4)) ic tiles = 7 * 3 * 2
    assert rep.cycles == 42
    assert rep.utilization == pytest.approx(7 * 20 * 5 / (42 * 4 * 2 * 4))
    # 8-bit on the same array: pf 1, ceil(20/4) = 5 ic tiles
    A8 = rng.integers(-128, 128, (3, 20))
    B8 = rng.integers(-128, 128, (20, 5))
    C8, rep8 = BitFusionArray(N=4, M=2).gemm(A8, B8)
    np.testing.assert_array_equal(C8, A8 @ B8)
    assert rep8.cycles == 3 * 3 * 5


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), K=st.integers(1, 40), cols=st.integers(1, 6),
       N=st.integers(1, 4), M=st.integers(1, 4), a_bits=st.sampled_from((1, 2, 4, 8)),
       w_bits=st.sampled_from((1, 2, 4, 8)), a_signed=st.booleans(), w_signed=st.booleans(),
       seed=st.integers(0, 2**16))
def test_bitfusion_gemm_property(rows, K, cols, N, M, a_bits, w_bits, a_signed, w_signed,
                                 seed):
    rng = np.random.default_rng(seed)
    lo_a, hi_a = value_range(a_bits, a_signed)
    lo_w, hi_w = value_range(w_bits, w_signed)
    A = rng.integers(lo_a, hi_a + 1, (rows, K))
    B = rng.integers(lo_w, hi_w + 1, (K, cols))
    C, rep = BitFusionArray(N, M).gemm(A, B, a_bits, w_bits, a_signed, w_signed)
    np.testing.assert_array_equal(C, A @ B)
    pf = products_per_cycle(a_bits, w_bits)
    assert rep.cycles == rows * math.ceil(cols / M) * math.ceil(K / (N * pf))


def test_bitfusion_errors():
    with pytest.raises(ValueError, match="a_bits"):
        FusionUnit(3, 8)
    with pytest.raises(ValueError, match="w_bits"):
        products_per_cycle(8, 16)
    with pytest.raises(ValueError, match="N"):
        BitFusionArray(0, 4)
    with pytest.raises(ValueError, match="M"):
        BitFusionArray(4, -2)
    with pytest.raises(ValueError, match="a"):
        FusionUnit(4, 4).multiply(np.array([8]), np.array([1]))     # 8 is not signed 4-bit
    with pytest.raises(ValueError, match="w"):
        FusionUnit(4, 4, w_signed=False).multiply(np.array([1]), np.array([-1]))
    with pytest.raises(TypeError, match="a"):
        FusionUnit().multiply(np.array([1.5]), np.array([1]))
    with pytest.raises(ValueError, match="x"):
        BitFusionArray(2, 2).conv2d(np.ones((1, 2, 3, 3), int), np.ones((1, 3, 2, 2), int))
    with pytest.raises(ValueError, match="stride"):
        BitFusionArray(2, 2).conv2d(np.ones((1, 2, 3, 3), int), np.ones((1, 2, 2, 2), int),
                                    stride=0)
    with pytest.raises(ValueError, match="BitBrick"):
        BitBrick.multiply(4, 1)
