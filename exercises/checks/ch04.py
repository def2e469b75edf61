"""Chapter 04 (calibration and PTQ): clip ranges, BatchNorm folding, fixed-point multipliers, requantization.

The reference for every case is `qnn_lite.quantizers.observers`, `qnn_lite.transforms.ptq` and
`qnn_lite.transforms.requant` (TFLite's / gemmlowp's integer arithmetic, bit-exact).
"""
from __future__ import annotations

import math

import numpy as np

from qnn_lite.nn import BatchNorm2d, Conv2d, BatchNorm1d, Linear
from qnn_lite.quantizers.observers import PercentileObserver
from qnn_lite.transforms.ptq import fuse_conv_bn
from qnn_lite.transforms.requant import quantize_multiplier as quantize_multiplier_ref
from qnn_lite.transforms.requant import requantize as requantize_ref

from ..runner import Fail
from ..expect import as_array, expect_close, expect_equal
from ..registry import exercise

# ----------------------------------------------------------------------------- 4.1
EX1 = exercise("4.1", "clip_range: min-max (p = 100) or percentile clip range of an activation")


def _check_clip(fn, x, p):
    got = fn(x.copy(), p)
    try:
        pair = np.asarray(got, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        pair = None
    if got is None or pair is None or pair.shape != (2,):
        raise Fail(f"clip_range should return a tuple (lo, hi), got {got!r}")
    obs = PercentileObserver(percentile=p)
    obs(x)
    want = np.array(obs.clip_range(), dtype=np.float64)
    x64 = np.sort(x.astype(np.float64).ravel())
    n = x64.size
    nearest = (x64[int(np.clip(math.floor((100 - p) / 100 * n), 0, n - 1))],
               x64[int(np.clip(math.floor(p / 100 * n), 0, n - 1))])
    mistakes = {
        "the low end is the (100 - p)-th percentile: np.percentile(x, [100 - p, p])": np.percentile(x64, [p, p]),
        "np.percentile takes percent (0..100), not a fraction: use p, not p / 100":
            np.percentile(x64, [(100 - p) / 100, p / 100]),
        "that is the min-max range: clip at the percentiles instead": (x64[0], x64[-1]),
    }
    if nearest != (x64[0], x64[-1]):
        mistakes["np.percentile interpolates linearly between sorted values; do not pick one sorted element"] = nearest
    expect_close(pair, want, f"clip_range(x, p={p})", rtol=1e-6, atol=1e-7,
                 mistakes=mistakes, hint="(lo, hi) = np.percentile(x, [100 - p, p])")


@EX1.case("p = 100 is the min-max range")
def _(fn):
    _check_clip(fn, np.random.default_rng(0).normal(size=500).astype(np.float32), 100.0)


@EX1.case("p = 99 on heavy-tailed activations clips the outliers")
def _(fn):
    x = np.random.default_rng(1).standard_t(2, size=1000).astype(np.float32)
    _check_clip(fn, x, 99.0)


@EX1.case("p = 99.9 on ReLU outputs (many exact zeros)")
def _(fn):
    x = np.maximum(np.random.default_rng(2).normal(size=(8, 4, 5, 5)), 0).astype(np.float32)
    _check_clip(fn, x, 99.9)


# ----------------------------------------------------------------------------- 4.2
EX2 = exercise("4.2", "fold_bn: fold BatchNorm into the preceding layer's weight and bias")


def _fused_ref(w, b, gamma, beta, mean, var, eps):
    n_out = w.shape[0]
    if w.ndim == 4:
        layer, bn = Conv2d(w.shape[1], n_out, w.shape[2:]), BatchNorm2d(n_out, eps=eps)
    else:
        layer, bn = Linear(w.shape[1], n_out), BatchNorm1d(n_out, eps=eps)
    layer.weight.data = w.astype(np.float32)
    layer.bias.data = b.astype(np.float32)
    bn.weight.data, bn.bias.data = gamma.astype(np.float32), beta.astype(np.float32)
    bn.running_mean[...], bn.running_var[...] = mean, var
    fused = fuse_conv_bn(layer, bn)
    return fused.weight.data.astype(np.float64), fused.bias.data.astype(np.float64)


def _bn_data(seed, shape):
    rng = np.random.default_rng(seed)
    n = shape[0]
    w = rng.normal(size=shape).astype(np.float32)
    return (w, rng.normal(size=n).astype(np.float32), rng.uniform(0.5, 2, n).astype(np.float32),
            rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32),
            rng.uniform(0.01, 3, n).astype(np.float32))


def _check_fold(fn, w, b, gamma, beta, mean, var, eps=1e-5):
    got = fn(w.copy(), b.copy(), gamma.copy(), beta.copy(), mean.copy(), var.copy(), eps)
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise Fail(f"fold_bn should return (w_fused, b_fused), got {type(got).__name__}")
    w_ref, b_ref = _fused_ref(w, b, gamma, beta, mean, var, eps)
    w64, b64 = (np.asarray(v, np.float64) for v in (w, b))
    g64, be64, m64, v64 = (np.asarray(v, np.float64) for v in (gamma, beta, mean, var))
    factor = g64 / np.sqrt(v64 + eps)
    col = (-1,) + (1,) * (w.ndim - 1)
    w_mistakes = {
        "add eps inside the square root: gamma / sqrt(var + eps)": w64 * (g64 / np.sqrt(v64)).reshape(col),
        "divide by the standard deviation sqrt(var + eps), not by the variance": w64 * (g64 / (v64 + eps)).reshape(col),
    }
    if w.shape[-1] == w.shape[0]:
        w_mistakes["scale each OUTPUT channel (axis 0): w * factor.reshape(-1, 1, ...), not the last axis"] = \
            w64 * factor
    expect_close(got[0], w_ref, "w_fused", rtol=1e-5, atol=1e-6, mistakes=w_mistakes,
                 hint="w_fused = w * gamma / sqrt(var + eps), one factor per output channel")
    expect_close(got[1], b_ref, "b_fused", rtol=1e-5, atol=1e-6, mistakes={
        "subtract the running mean from the bias: (b - mean) * factor + beta": b64 * factor + be64,
        "add beta after scaling: (b - mean) * factor + beta": (b64 - m64) * factor,
        "the mean is subtracted before scaling: (b - mean) * factor, not b * factor - mean":
            b64 * factor - m64 + be64,
    }, hint="b_fused = (b - mean) * gamma / sqrt(var + eps) + beta")


@EX2.case("Linear (3, 3) + BatchNorm1d")
def _(fn):
    _check_fold(fn, *_bn_data(0, (3, 3)))


@EX2.case("Conv2d (4, 2, 3, 3) + BatchNorm2d")
def _(fn):
    _check_fold(fn, *_bn_data(1, (4, 2, 3, 3)))


@EX2.case("a tiny running variance: eps matters")
def _(fn):
    w, b, gamma, beta, mean, var = _bn_data(2, (4, 4))
    var[:] = np.float32(1e-6)
    _check_fold(fn, w, b, gamma, beta, mean, var, eps=1e-3)


# ----------------------------------------------------------------------------- 4.3
EX3 = exercise("4.3", "quantize_multiplier: real M as (M0, shift), M = M0 * 2^shift / 2^31")


def _check_qm(fn, real):
    got = fn(real)
    try:
        got = (int(got[0]), int(got[1]))
    except (TypeError, IndexError, ValueError):
        raise Fail(f"quantize_multiplier({real!r}) should return a tuple of two ints (M0, shift), got {got!r}") \
            from None
    want = quantize_multiplier_ref(real)
    m0, shift = want
    hints = {}
    if real > 0:
        q, e = math.frexp(real)
        hints[(int(q * 2 ** 31), e)] = "round q * 2^31 to the nearest integer, do not truncate it with int()"
        hints[(m0, -shift)] = "TFLite's sign convention: shift > 0 is a LEFT shift; 0.25 -> (2^30, -1)"
        hints[(2 ** 31, shift - 1)] = ("M0 rounded up to 2^31, which does not fit an int32: "
                                       "then halve M0 and add 1 to shift")
        hints[(m0, shift - 1)] = "M = M0 * 2^shift / 2^31 with M0 in [2^30, 2^31): use math.frexp's exponent as is"
    expect_equal(got, want, f"quantize_multiplier({real!r})",
                 hint=hints.get(got, "q, shift = math.frexp(M); M0 = round(q * 2^31) (half away from zero); "
                                     "if M0 == 2^31: M0 //= 2, shift += 1"))


@EX3.case("powers of two: 0.5 -> (2^30, 0), 0.25 -> (2^30, -1), 2.0 -> (2^30, 2)")
def _(fn):
    for m in (0.5, 0.25, 2.0):
        _check_qm(fn, m)


@EX3.case("typical layer multipliers s_x s_w / s_y")
def _(fn):
    for m in (0.0123456, 0.3, 0.7071067811865476, 1.37, 0.000489):
        _check_qm(fn, m)


@EX3.case("a multiplier that rounds up to 2^31: 1 - 2^-33")
def _(fn):
    _check_qm(fn, 1.0 - 2.0 ** -33)


@EX3.case("M = 0 gives (0, 0)")
def _(fn):
    _check_qm(fn, 0.0)


# ----------------------------------------------------------------------------- 4.4
EX4 = exercise("4.4", "requantize: int32 accumulator -> output code with integers only")


def _high_mul(x, m0, trunc=True):
    """gemmlowp's rounding doubling high multiply, with C's truncating division (or numpy's floor)."""
    ab = x * np.int64(m0)
    n = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    return np.sign(n) * (np.abs(n) // (1 << 31)) if trunc else n // (1 << 31)


def _round_div_pot(x, right):
    mask = (1 << right) - 1
    return (x >> right) + ((x & mask) > ((mask >> 1) + (x < 0)))


def _check_requant(fn, acc, real, z_out, quant_min, quant_max):
    m0, shift = quantize_multiplier_ref(real)
    want = requantize_ref(acc, m0, shift, z_out, quant_min, quant_max).astype(np.float64)
    got = fn(acc.copy(), m0, shift, z_out, quant_min, quant_max)
    arr = as_array(got, "requantize(...)", acc.shape)
    if np.any(arr != np.rint(arr)):
        raise Fail("requantize should return integer codes, got fractional values")
    a64 = acc.astype(np.int64)
    M = m0 * 2.0 ** (shift - 31)
    right = max(-shift, 0)
    left = a64 << max(shift, 0)
    expect_close(arr, want, f"requantize(acc, M = {M:.6g}, z_out={z_out})", rtol=0, atol=0, mistakes={
        "np.rint(M * acc) in floating point rounds ties to even; the integer pipeline rounds them "
        "up (and may differ by 1 elsewhere): follow the fixed-point steps":
            np.clip(z_out + np.rint(M * a64), quant_min, quant_max),
        "the high multiply divides with C's truncation toward zero, not numpy's floor `//`: "
        "np.sign(n) * (np.abs(n) // 2**31)": np.clip(z_out + _round_div_pot(_high_mul(left, m0, False), right),
                                                     quant_min, quant_max),
        "the right shift must round (half away from zero), not just `>>`":
            np.clip(z_out + (_high_mul(left, m0) >> right), quant_min, quant_max),
        "add the output zero point before clipping: clip(z_out + ..., quant_min, quant_max)":
            np.clip(want - z_out, quant_min, quant_max),
        "clip the result to [quant_min, quant_max]": requantize_ref(acc, m0, shift, z_out, -2 ** 31, 2 ** 31 - 1),
    }, hint="high = trunc((acc * 2^max(shift,0) * M0 + nudge) / 2^31); "
            "y = rounding_divide(high, 2^max(-shift,0)); clip(z_out + y, quant_min, quant_max)")


@EX4.case("M = 0.5: ties (acc odd) round up, as gemmlowp does (-1.5 -> -1, 1.5 -> 2)")
def _(fn):
    _check_requant(fn, np.arange(-7, 8, dtype=np.int32), 0.5, 0, -128, 127)


@EX4.case("a typical multiplier, positive and negative accumulators")
def _(fn):
    acc = np.random.default_rng(0).integers(-20000, 20000, size=200).astype(np.int32)
    _check_requant(fn, acc, 0.00372, 3, -128, 127)


@EX4.case("unsigned output with a zero point, values clipped at 0 and 255")
def _(fn):
    acc = np.random.default_rng(1).integers(-60000, 60000, size=200).astype(np.int32)
    _check_requant(fn, acc, 0.0049, 128, 0, 255)


@EX4.case("M > 1 (left shift): M = 1.37")
def _(fn):
    acc = np.random.default_rng(2).integers(-90, 90, size=50).astype(np.int32)
    _check_requant(fn, acc, 1.37, 0, -128, 127)
