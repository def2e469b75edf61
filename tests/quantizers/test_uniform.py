"""Tests of qnn_lite.quantizers.uniform: hand-computed cases, PyTorch 2.13 golden values
(tests/data/torch_golden_uniform.npz, made by make_torch_golden_uniform.py), properties,
the STE backward and error messages."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qnn_lite.autograd.tensor import Tensor
from qnn_lite.quantizers.uniform import (FLOAT32_EPS, FakeQuantizeFunction, calc_qparams, dequantize,
                                         fake_quantize, qrange, quantize)

f32 = np.float32
GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "torch_golden_uniform.npz"))


# ----- qrange ---------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    ((8,), (-128, 127)), ((8, True, True), (-127, 127)), ((8, False), (0, 255)),
    ((4,), (-8, 7)), ((2, True, True), (-1, 1)), ((1,), (-1, 0)), ((1, False), (0, 1)),
    ((16,), (-32768, 32767)), ((16, False), (0, 65535)),
    ((8, True, False, True), (-64, 63)), ((8, False, False, True), (0, 127)),
    ((8, True, True, True), (-64, 63)), ((4, True, False, True), (-4, 3)),
])
def test_qrange_table(args, expected):
    assert qrange(*args) == expected


@pytest.mark.parametrize("bits", [0, 17, 8.0, "8", True, None])
def test_qrange_rejects_bad_bits(bits):
    with pytest.raises(ValueError, match="bits must be an int in 1..16"):
        qrange(bits)


def test_qrange_narrow_errors():
    with pytest.raises(ValueError, match="narrow=True needs bits >= 2"):
        qrange(1, signed=True, narrow=True)
    with pytest.raises(ValueError, match="signed ranges only"):
        qrange(8, signed=False, narrow=True)


# ----- hand-computed tiny case --------------------------------------------------------------
def test_hand_computed_affine_uint8():
    # x = [-1, 0, 0.5, 2], 8-bit unsigned affine (0..255):
    #   min' = -1, max' = 2, s = 3/255 = 0.011764706 (float32), z = 0 - rint(-1/s) = 0 - (-85) = 85
    #   x/s = [-85, 0, 42.5, 170] -> rint (half to even: 42.5 -> 42) + z = q = [0, 85, 127, 255]
    #   y = (q - z) * s = [-85 s, 0, 42 s, 170 s] = [-1.0, 0.0, 0.49411765, 2.0]
    x = np.array([-1.0, 0.0, 0.5, 2.0], f32)
    s, z = calc_qparams(x.min(), x.max(), 0, 255)
    assert s == f32(3.0) / f32(255.0) and s.dtype == np.float32 and z == 85
    assert quantize(x, s, z, 0, 255).tolist() == [0, 85, 127, 255]
    y = fake_quantize(x, s, z, 0, 255)
    expected = np.array([-85, 0, 42, 170], f32) * s
    assert np.array_equal(y, expected) and y.dtype == np.float32
    assert np.allclose(y, [-1.0, 0.0, 0.49411765, 2.0], rtol=0, atol=1e-7)
    # the same range signed (-128..127): z = -128 - rint(-85) = -43, q = [-128, -43, -1, 127]
    s8, z8 = calc_qparams(-1.0, 2.0, -128, 127)
    assert s8 == s and z8 == -43
    assert quantize(x, s8, z8, -128, 127).tolist() == [-128, -43, -1, 127]


def test_hand_computed_symmetric_and_degenerate_qparams():
    # symmetric: max(|min'|, max') = 2, s = 2 / (255 / 2) = 2 / 127.5; z = 0 signed, 128 unsigned
    s, z = calc_qparams(-1.0, 2.0, -128, 127, symmetric=True)
    assert s == f32(2.0) / f32(127.5) and z == 0
    assert calc_qparams(-1.0, 2.0, 0, 255, symmetric=True)[1] == 128
    # all zeros: s = eps; affine z = quant_min - rint(0) = quant_min (torch gives -128 for qint8 too)
    assert calc_qparams(0.0, 0.0, -128, 127) == (f32(FLOAT32_EPS), -128)
    # a positive constant 1.5: min' = 0, s = 1.5/255, z = 0
    s, z = calc_qparams(1.5, 1.5, 0, 255)
    assert s == f32(1.5) / f32(255) and z == 0
    # per-channel: 1-D in, 1-D out
    s, z = calc_qparams(np.array([-1.0, 0.0]), np.array([2.0, 0.0]), -128, 127)
    assert s.shape == (2,) and z.tolist() == [-43, -128] and z.dtype == np.int64


# ----- golden values from PyTorch 2.13 --------------------------------------------------------
def _fq_cases():
    """Unpack the fake-quant cases stored one after another in fq_x, fq_y, ... (see the generator)."""
    cases, at, at_s = [], 0, 0
    for quant_min, quant_max, axis, ndim, *shape in GOLDEN["fq_meta"]:
        shape = tuple(int(n) for n in shape[:ndim])
        n, c = int(np.prod(shape)), (1 if axis == -99 else shape[axis])
        case = {k: GOLDEN[f"fq_{k}"][at:at + n].reshape(shape) for k in ("x", "y", "g", "grad")}
        case.update(scale=GOLDEN["fq_scale"][at_s:at_s + c], zp=GOLDEN["fq_zp"][at_s:at_s + c],
                    quant_min=int(quant_min), quant_max=int(quant_max), axis=None if axis == -99 else int(axis))
        cases.append(case)
        at, at_s = at + n, at_s + c
    return cases


@pytest.mark.parametrize("g", _fq_cases())
def test_fake_quantize_matches_torch(g):
    quant_min, quant_max, axis = g["quant_min"], g["quant_max"], g["axis"]
    scale, zp = (g["scale"], g["zp"]) if axis is not None else (float(g["scale"][0]), int(g["zp"][0]))
    x = Tensor(g["x"], requires_grad=True)
    y = fake_quantize(x, scale, zp, quant_min, quant_max, ch_axis=axis)
    y.backward(g["g"])
    assert np.array_equal(y.data, g["y"]), np.flatnonzero(y.data != g["y"])[:10]
    assert np.array_equal(x.grad, g["grad"])
    assert np.array_equal(dequantize(quantize(g["x"], scale, zp, quant_min, quant_max, axis), scale, zp, axis), g["y"])


def _rows():
    for r, (bits, signed, symmetric, rr) in enumerate(GOLDEN["qp_rows"]):
        yield r, int(bits), bool(signed), bool(symmetric), bool(rr)


@pytest.mark.parametrize("r, bits, signed, symmetric, rr", list(_rows()))
def test_calc_qparams_matches_torch(r, bits, signed, symmetric, rr):
    quant_min, quant_max = qrange(bits, signed, reduce_range=rr)
    lo, hi = GOLDEN["qp_lo"], GOLDEN["qp_hi"]
    for j in range(len(lo)):  # per tensor, one (min, max) at a time
        s, z = calc_qparams(lo[j], hi[j], quant_min, quant_max, symmetric=symmetric)
        assert (s, z) == (GOLDEN["qp_scale"][r, j], GOLDEN["qp_zp"][r, j]), (lo[j], hi[j])
    s, z = calc_qparams(lo, hi, quant_min, quant_max, symmetric=symmetric)  # per channel
    assert np.array_equal(s, GOLDEN["qp_pc_scale"][r]) and np.array_equal(z, GOLDEN["qp_pc_zp"][r])


# ----- infinities, huge values, shapes, types -----------------------------------------------
def test_infinities_clamp_with_zero_mask():
    x = Tensor(np.array([np.inf, -np.inf, 1e30, -1e30, 0.3], f32), requires_grad=True)
    y = fake_quantize(x, 0.1, 0, -128, 127)
    y.backward(np.ones(5, f32))
    assert np.array_equal(y.data, np.array([127, -128, 127, -128, 3], f32) * f32(0.1))
    assert x.grad.tolist() == [0, 0, 0, 0, 1]
    assert quantize(x.data, 0.1, 0, -128, 127).tolist() == [127, -128, 127, -128, 3]


def test_array_in_array_out_tensor_in_tensor_out():
    y = fake_quantize([0.26, -1.0], 0.1, 0, -8, 7)
    assert type(y) is np.ndarray and y.dtype == np.float32
    assert np.array_equal(y, np.array([3, -8], f32) * f32(0.1))
    t = fake_quantize(Tensor(np.array([0.26], f32)), 0.1, 0, -8, 7)
    assert isinstance(t, Tensor) and not t.requires_grad
    one = fake_quantize(np.float32(0.26), 0.1, 0, -8, 7)
    assert one.shape == () and one == f32(3) * f32(0.1)
    assert quantize([0.26], 0.1, 0, -8, 7).dtype == np.int32
    assert dequantize(np.array([3], np.int8), 0.1, 0).dtype == np.float32


# ----- the STE backward ------------------------------------------------------------------
def test_backward_is_grad_times_mask_on_a_grid():
    s, z, quant_min, quant_max = f32(0.25), 2, -8, 7
    xs = np.linspace(-4, 4, 321, dtype=f32)  # covers both clipping sides and ties
    g = np.random.default_rng(0).standard_normal(xs.shape).astype(f32)
    x = Tensor(xs, requires_grad=True)
    fake_quantize(x, s, z, quant_min, quant_max).backward(g)
    q = np.rint(xs * (f32(1) / s)) + z
    mask = (q >= quant_min) & (q <= quant_max)
    assert np.array_equal(x.grad, g * mask)
    assert 0 < mask.sum() < mask.size  # the grid really reaches both regions
    # second backward accumulates (PyTorch's rule)
    y = FakeQuantizeFunction.apply(x, s, z, quant_min, quant_max)
    y.backward(g)
    assert np.array_equal(x.grad, 2 * g * mask)


def test_backward_matches_finite_differences_of_the_surrogate():
    # The STE backward is the exact derivative of the surrogate clip(x, lo, hi) with
    # lo = (quant_min - z - 1/2) s and hi = (quant_max - z + 1/2) s, away from the two kinks.
    s, z, quant_min, quant_max = 0.5, 1, -4, 3
    lo, hi = (quant_min - z - 0.5) * s, (quant_max - z + 0.5) * s
    xs = np.linspace(-4.1, 3.3, 200)
    xs = xs[(np.abs(xs - lo) > 1e-2) & (np.abs(xs - hi) > 1e-2)]
    h = 1e-4
    numeric = (np.clip(xs + h, lo, hi) - np.clip(xs - h, lo, hi)) / (2 * h)
    x = Tensor(xs.astype(f32), requires_grad=True)
    fake_quantize(x, s, z, quant_min, quant_max).backward(np.ones(xs.size, f32))
    assert np.allclose(x.grad, numeric, atol=1e-6), (x.grad, numeric)


# ----- properties ------------------------------------------------------------------------------
def _setup(data):
    bits = data.draw(st.sampled_from([2, 3, 4, 8]), label="bits")
    quant_min, quant_max = qrange(bits, data.draw(st.booleans(), label="signed"))
    s = f32(2.0 ** data.draw(st.floats(-10, 4), label="log2 s"))
    z = data.draw(st.integers(quant_min, quant_max), label="z")
    lim = float(f32(s * (quant_max - quant_min + 6)))
    x = data.draw(hnp.arrays(np.float32, st.integers(1, 30), elements=st.floats(-lim, lim, width=32)), label="x")
    return x, s, z, quant_min, quant_max


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_properties_per_tensor(data):
    x, s, z, quant_min, quant_max = _setup(data)
    y = fake_quantize(x, s, z, quant_min, quant_max)
    assert np.array_equal(fake_quantize(y, s, z, quant_min, quant_max), y)  # idempotent
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(y[order]) >= 0)  # monotonic non-decreasing
    assert np.array_equal(dequantize(quantize(x, s, z, quant_min, quant_max), s, z), y)
    inside = (x >= (quant_min - z) * s) & (x <= (quant_max - z) * s)
    err = np.abs(y.astype(np.float64) - x)[inside]
    assert np.all(err <= s / 2 * (1 + 2.0 ** -20) + 2 * np.spacing(np.abs(x[inside])))


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_per_channel_equals_per_tensor_on_each_slice(data):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    quant_min, quant_max = qrange(data.draw(st.sampled_from([2, 4, 8])), data.draw(st.booleans()))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    x = (rng.standard_normal(shape) * 3).astype(f32)
    C = shape[axis]
    s = np.exp(rng.uniform(-3, 1, C)).astype(f32)
    z = rng.integers(quant_min, quant_max + 1, C)
    y = fake_quantize(x, s, z, quant_min, quant_max, ch_axis=axis)
    q = quantize(x, s, z, quant_min, quant_max, ch_axis=axis)
    for c in range(C):
        sl = np.take(x, c, axis=axis)
        assert np.array_equal(np.take(y, c, axis=axis), fake_quantize(sl, s[c], z[c], quant_min, quant_max))
        assert np.array_equal(np.take(q, c, axis=axis), quantize(sl, s[c], z[c], quant_min, quant_max))


# ----- error messages ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(quant_min=5, quant_max=4), "quant_min must be <= quant_max, got quant_min=5, quant_max=4"),
    (dict(quant_min=0.5), "quant_min must be an int"),
    (dict(scale=0.0), "scale must be positive and finite"),
    (dict(scale=-1.0), "scale must be positive"),
    (dict(scale=np.inf), "scale must be positive and finite"),
    (dict(scale=np.nan), "scale must be positive"),
    (dict(scale=1e-45), "finite float32 1/scale"),
    (dict(zero_point=200), r"zero_point must lie in \[quant_min, quant_max\] = \[-128, 127\], got 200"),
    (dict(zero_point=1.5), "zero_point must be integer-valued"),
    (dict(scale=[0.1, 0.2], zero_point=[0, 0]), "pass ch_axis= for per-channel"),
    (dict(ch_axis=2, scale=[0.1, 0.2], zero_point=[0, 0]), r"ch_axis must be an int in \[-2, 2\) for x with ndim=2, got ch_axis=2"),
    (dict(ch_axis=-3, scale=[0.1, 0.2], zero_point=[0, 0]), "ch_axis=-3"),
    (dict(ch_axis=0, scale=[0.1, 0.2, 0.3], zero_point=[0, 0, 0]), r"must have shape \(2,\) \(x.shape\[0\]\), got \(3,\)"),
    (dict(ch_axis=1, scale=[0.1, 0.2, 0.3], zero_point=[0, 0]), "zero_point must have shape"),
])
def test_fake_quantize_errors(kwargs, match):
    args = dict(x=np.ones((2, 3), f32), scale=0.1, zero_point=0, quant_min=-128, quant_max=127)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fake_quantize(**args)
    if "axis" not in kwargs and "quant_min" not in kwargs:
        with pytest.raises(ValueError, match=match):
            quantize(**args)


def test_nan_is_rejected_everywhere():
    x = np.array([0.0, np.nan], f32)
    for fn in (fake_quantize, quantize):
        with pytest.raises(ValueError, match="x contains NaN"):
            fn(x, 0.1, 0, -128, 127)
    with pytest.raises(ValueError, match="x contains NaN"):
        fake_quantize(Tensor(x, requires_grad=True), 0.1, 0, -128, 127)


@pytest.mark.parametrize("args, match", [
    ((2.0, 1.0, -128, 127), "min_val must be <= max_val"),
    ((np.nan, 1.0, -128, 127), "min_val must be finite"),
    ((0.0, np.inf, -128, 127), "max_val must be finite"),
    ((0.0, 1.0, 3, 3), "quant_min must be < quant_max"),
    (([0.0, 1.0], [1.0], -128, 127), "one shape"),
])
def test_calc_qparams_errors(args, match):
    with pytest.raises(ValueError, match=match):
        calc_qparams(*args)
    with pytest.raises(ValueError, match="eps must be a positive"):
        calc_qparams(0.0, 1.0, -128, 127, eps=0.0)


def test_dequantize_rejects_float_codes():
    with pytest.raises(TypeError, match="q must hold integer codes"):
        dequantize(np.array([1.5]), 0.1, 0)
