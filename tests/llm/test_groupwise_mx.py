"""Group-wise weight quantization and OCP MX block formats: hand cases, properties, degenerate inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from qnn_lite.quantizers.formats import round_minifloat
from qnn_lite.quantizers.groupwise import (bits_per_weight, dequantize_groupwise, fake_quantize_groupwise,
                                           groupwise_qparams, quantize_groupwise)
from qnn_lite.quantizers.mx import (MX_FORMATS, mx_bits_per_value, mx_decode, mx_encode, mx_fake_quantize,
                                    round_element)

RNG = np.random.default_rng(0)


# ----- group-wise ------------------------------------------------------------------------------
def test_groupwise_hand_case():
    # row 0: group [0, 1, 2, 3] -> min 0, max 3, 2 bits: s = 1, z = 0, exact
    # row 0: group [-1, 0, 0.5, 2] -> s = 3/3 = 1, z = 1: -1 -> 0, 0.5 -> rint(0.5)=0 (even) -> 0
    w = np.array([[0, 1, 2, 3, -1, 0, 0.5, 2]], np.float32)
    q, s, z = quantize_groupwise(w, bits=2, group_size=4)
    np.testing.assert_array_equal(s, [[1, 1]])
    np.testing.assert_array_equal(z, [[0, 1]])
    np.testing.assert_array_equal(q, [[0, 1, 2, 3, 0, 1, 1, 3]])
    np.testing.assert_array_equal(dequantize_groupwise(q, s, z), [[0, 1, 2, 3, -1, 0, 0, 2]])


def test_groups_are_independent_and_none_means_per_row():
    w = RNG.standard_normal((3, 64)).astype(np.float32)
    w[:, :32] *= 100                                     # a loud first group must not touch the second
    a = fake_quantize_groupwise(w, 4, 32)
    b = fake_quantize_groupwise(w[:, 32:], 4, 32)
    np.testing.assert_array_equal(a[:, 32:], b)
    np.testing.assert_array_equal(fake_quantize_groupwise(w, 4, None), fake_quantize_groupwise(w, 4, 64))
    assert groupwise_qparams(w, 4, 16)[0].shape == (3, 4)


def test_bits_per_weight_counts_scales_and_zeros():
    assert bits_per_weight(4, 128) == 4 + (16 + 4) / 128           # GPTQ checkpoint: fp16 scale, packed zero
    assert bits_per_weight(4, 32, symmetric=True) == 4.5            # llama.cpp Q4_0
    assert bits_per_weight(4, 32, zero_bits=16) == 5.0              # llama.cpp Q4_1 (fp16 min)
    assert bits_per_weight(3, 64) == 3 + 19 / 64
    assert bits_per_weight(4, None, in_features=512) == 4 + 20 / 512


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (4, 32), elements=st.floats(-1e3, 1e3, width=32)), st.sampled_from([2, 3, 4, 8]),
       st.sampled_from([8, 16, 32]))
def test_groupwise_properties(w, bits, gs):
    q, s, z = quantize_groupwise(w, bits, gs)
    assert q.min() >= 0 and q.max() <= 2 ** bits - 1
    wq = dequantize_groupwise(q, s, z)
    se = np.repeat(s, gs, axis=1)
    # within a group: half a step inside the range; the rounded zero point may clip an end by <= 1 step
    assert np.all(np.abs(wq - w) <= se * (1 + 1e-4) + 1e-30)
    ze = np.repeat(z, gs, axis=1)
    np.testing.assert_array_equal(np.clip(np.rint(wq / se) + ze, 0, 2 ** bits - 1), q)  # codes are a fixed point
    assert np.all(wq[w == 0] == 0)                                    # zero is exact


@pytest.mark.parametrize("w", [np.zeros((2, 8)), np.full((2, 8), 3.0), np.ones((1, 1)) * -2, np.full((2, 8), 1e30)])
def test_groupwise_degenerate(w):
    gs = 1 if w.shape[1] == 1 else 4
    wq = fake_quantize_groupwise(w, 4, gs)
    assert np.all(np.isfinite(wq))
    np.testing.assert_allclose(wq, w, rtol=1e-6)                       # constant groups are exact


@pytest.mark.parametrize("call, match", [
    (lambda: fake_quantize_groupwise(np.zeros((2, 96)), 4, 64), "group_size must divide in_features=96"),
    (lambda: fake_quantize_groupwise(np.zeros(8), 4, 4), "2-D"),
    (lambda: fake_quantize_groupwise(np.zeros((2, 8)), 1, 4), "bits"),
    (lambda: fake_quantize_groupwise(np.array([[np.inf, 0]]), 4, 2), "finite"),
    (lambda: fake_quantize_groupwise(np.zeros((2, 8)), 4, 0), "group_size"),
    (lambda: bits_per_weight(4, None), "in_features"),
])
def test_groupwise_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----- MX --------------------------------------------------------------------------------------
def test_mxfp4_hand_block():
    # max |v| = 7.5: floor(log2 7.5) = 2, E2M1 emax = 2 -> X = 2**0
    # 7.5 -> 8 on the E2M1 grid, saturates to 6; 0.26 -> 0.5 (subnormal step 0.5); 0.2 -> 0; 2.5 -> 2 (tie to even)
    v = np.array([-7.5, 0.26, 0.2, 2.5] * 8)
    e, p = mx_encode(v, "mxfp4")
    assert e.tolist() == [0.0]
    np.testing.assert_array_equal(p[0, :4], [-6, 0.5, 0, 2])
    # x 2**-10: the same elements, X = 2**-10
    e2, p2 = mx_encode(v * 2.0 ** -10, "mxfp4")
    assert e2.tolist() == [-10.0]
    np.testing.assert_array_equal(p2, p)


def test_mxint8_and_mxfp8_hand_blocks():
    v = np.zeros(32)
    v[:3] = [1.0, -0.3, 0.01]            # max 1 -> e = 0 - 0: X = 1; int8 grid step 1/64
    e, p = mx_encode(v, "mxint8")
    assert e.tolist() == [0.0]
    np.testing.assert_array_equal(p[0, :3], [1.0, -19 / 64, 1 / 64])
    w = np.zeros(32)
    w[:2] = [1000.0, 3.3]                # floor(log2 1000) = 9, E4M3 emax 8 -> X = 2; 500 -> 512? no: 500 -> 496|512 step 32 -> 512
    e, p = mx_encode(w, "mxfp8_e4m3")
    assert e.tolist() == [1.0]
    np.testing.assert_array_equal(p[0, :2], [round_minifloat(500.0, "fp8_e4m3"), round_minifloat(1.65, "fp8_e4m3")])


def test_mx_nan_and_inf_make_the_whole_block_nan_and_other_blocks_survive():
    v = np.ones(64)
    v[3] = np.nan
    y = mx_fake_quantize(v, "mxfp4")
    assert np.isnan(y[:32]).all() and (y[32:] == 1).all()
    v[3] = -np.inf
    e, _ = mx_encode(v, "mxfp8_e4m3")
    assert np.isnan(e[0]) and e[1] == -8       # block of ones: floor(log2 1) - emax(E4M3) = -8
    assert np.isnan(mx_decode(e, mx_encode(v, "mxfp8_e4m3")[1])[:32]).all()


def test_mx_scale_range_limits():
    tiny = np.full(32, 2.0 ** -140)      # below E8M0's range: scale clamps at 2**-127, elements flush
    e, p = mx_encode(tiny, "mxfp8_e4m3")
    assert e.tolist() == [-127.0]
    assert np.all(mx_fake_quantize(np.zeros(32), "mxfp4") == 0)
    huge = np.full(32, 2.0 ** 130)       # 130 - 2 = 128 > 127: not representable -> NaN scale
    assert np.isnan(mx_encode(huge, "mxfp4")[0][0])
    assert mx_encode(np.full(32, 2.0 ** 129), "mxfp4")[0][0] == 127


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (2, 64), elements=st.floats(-1e4, 1e4)), st.sampled_from(sorted(MX_FORMATS)))
def test_mx_roundtrip_properties(x, fmt):
    e, p = mx_encode(x, fmt)
    y = mx_decode(e, p)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    np.testing.assert_array_equal(mx_fake_quantize(y, fmt), y)                 # decode is a fixed point
    assert np.all(np.abs(p) <= MX_FORMATS[fmt].max)                            # saturation
    amax = np.abs(x.reshape(2, 2, 32)).max(-1)
    scale = 2.0 ** np.nan_to_num(e)
    assert np.all((amax == 0) | (e == -127) | ((amax / scale >= 2.0 ** MX_FORMATS[fmt].emax) & (amax / scale < 2.0 ** (MX_FORMATS[fmt].emax + 1))))


def test_fp8_elements_agree_with_the_formats_module():
    r = RNG.standard_normal(2000) * 50
    np.testing.assert_array_equal(round_element(r, "mxfp8_e4m3"), round_minifloat(r, "fp8_e4m3", saturate=True))
    np.testing.assert_array_equal(round_element(r * 100, "mxfp8_e5m2"), round_minifloat(r * 100, "fp8_e5m2", saturate=True))
    # E2M1 has exactly the values 0, 0.5, 1, 1.5, 2, 3, 4, 6
    grid = np.unique(np.abs(round_element(np.linspace(-10, 10, 4001), "mxfp4")))
    np.testing.assert_array_equal(grid, [0, 0.5, 1, 1.5, 2, 3, 4, 6])
    assert len(np.unique(np.abs(round_element(np.linspace(-30, 30, 20001), "mxfp6_e3m2")))) == 32


def test_mx_bits_and_axis():
    assert mx_bits_per_value("mxfp4") == 4.25 and mx_bits_per_value("mxint8") == 8.25
    assert mx_bits_per_value("mxfp6") == 6.25
    x = RNG.standard_normal((32, 3))
    np.testing.assert_array_equal(mx_fake_quantize(x, "mxfp4", axis=0), mx_fake_quantize(x.T, "mxfp4").T)


@pytest.mark.parametrize("call, match", [
    (lambda: mx_encode(np.zeros(33), "mxfp4"), "multiple of block_size=32"),
    (lambda: mx_encode(np.zeros(32), "mxfp5"), "fmt"),
    (lambda: mx_encode(np.float64(1.0), "mxfp4"), "at least one axis"),
    (lambda: mx_decode(np.zeros(2), np.zeros((3, 32))), "do not match"),
])
def test_mx_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
