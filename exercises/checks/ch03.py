"""Chapter 03 (uniform quantization): qrange, qparams, fake quant and its STE, per-channel, SQNR.

The reference for every case is `qnn_lite.quantizers.uniform` (bit-exact with PyTorch).
"""
from __future__ import annotations

import numpy as np

from qnn_lite.quantizers.uniform import calc_qparams as calc_qparams_ref
from qnn_lite.quantizers.uniform import fake_quantize as fake_quantize_ref
from qnn_lite.quantizers.uniform import qrange as qrange_ref

from ..runner import Fail
from ..expect import as_array, expect_close, expect_equal
from ..registry import exercise

# ----------------------------------------------------------------------------- 3.1
EX1 = exercise("3.1", "qrange: the integer range of a b-bit format")


def _check_qrange(fn, bits, signed, narrow):
    got = fn(bits, signed=signed, narrow=narrow)
    try:
        got = tuple(int(v) for v in got)
    except TypeError:
        raise Fail(f"qrange should return a tuple (quant_min, quant_max), got {got!r}") from None
    want = qrange_ref(bits, signed=signed, narrow=narrow)
    hints = {(want[0], want[1] + 1): "off by one at the top: quant_max = 2^(b-1) - 1 (signed), 2^b - 1 (unsigned)",
             (want[0], want[1] - 1): "narrow drops the lowest code (-2^(b-1)), not the highest",
             (want[0] - 1, want[1]): "narrow=True drops the lowest code: (-127, 127) for 8 bits"}
    expect_equal(got, want, f"qrange({bits}, signed={signed}, narrow={narrow})",
                 hint=hints.get(got, "signed: (-2^(b-1), 2^(b-1) - 1); unsigned: (0, 2^b - 1)"))


@EX1.case("8 bits: (-128, 127) signed, (0, 255) unsigned")
def _(fn):
    _check_qrange(fn, 8, True, False)
    _check_qrange(fn, 8, False, False)


@EX1.case("narrow=True: (-127, 127)")
def _(fn):
    _check_qrange(fn, 8, True, True)
    _check_qrange(fn, 4, True, True)


@EX1.case("4 bits and 1 bit")
def _(fn):
    for bits in (4, 1):
        _check_qrange(fn, bits, True, False)
        _check_qrange(fn, bits, False, False)


@EX1.case("bits=0 raises ValueError naming `bits`")
def _(fn):
    try:
        fn(0, signed=True, narrow=False)
    except ValueError as e:
        if "bits" not in str(e):
            raise Fail(f"the ValueError should name the argument: 'bits must be an int in 1..16, got 0', got {e!r}")
        return
    raise Fail("qrange(0) returned instead of raising ValueError('bits must be an int in 1..16, got 0')")


# ----------------------------------------------------------------------------- 3.2
EX2 = exercise("3.2", "calc_qparams: affine scale and zero point from min/max, PyTorch's way")
EPS = float(np.finfo(np.float32).eps)


def _check_qparams(fn, lo, hi, quant_min, quant_max):
    got = fn(lo, hi, quant_min, quant_max)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Fail(f"calc_qparams should return (scale, zero_point), got {got!r}")
    s_ref, z_ref = calc_qparams_ref(lo, hi, quant_min, quant_max)
    what = f"calc_qparams({lo}, {hi}, {quant_min}, {quant_max})"
    s_raw = (hi - lo) / (quant_max - quant_min)
    mistakes = {f"a constant range gives scale 0: clamp the scale to at least eps = {EPS:.3g} "
                "(float32 machine epsilon)": 0.0}
    if lo > 0 or hi < 0:
        mistakes["include zero in the range first: min' = min(min_val, 0), max' = max(max_val, 0)"] = \
            max(s_raw, EPS)
    expect_close(got[0], s_ref, f"{what} scale", rtol=1e-6, mistakes=mistakes,
                 hint="scale = max((max' - min') / (quant_max - quant_min), eps)")
    z = got[1]
    s = np.float32(s_ref)
    lo0 = min(lo, 0.0)
    hints = {
        int(quant_min - np.floor(np.float32(lo0) / s)): "round with np.rint (half to even), not floor",
        int(-np.rint(np.float32(lo0) / s)): "zero_point = quant_min - rint(min' / scale): you forgot quant_min",
    }
    if z != z_ref:
        raise Fail(f"{what} zero_point: got {z!r}, expected {int(z_ref)}\n"
                   + hints.get(int(z) if np.ndim(z) == 0 else None,
                               "zero_point = clip(quant_min - rint(min' / scale), quant_min, quant_max), min' = min(min_val, 0)"))
    if not float(z).is_integer():
        raise Fail(f"{what} zero_point must be an integer, got {z!r}")


@EX2.case("ranges (-1, 3) and (-0.21, 1) onto 0..255")
def _(fn):
    _check_qparams(fn, -1.0, 3.0, 0, 255)
    _check_qparams(fn, -0.21, 1.0, 0, 255)


@EX2.case("signed range: (-0.7, 1.9) onto -128..127")
def _(fn):
    _check_qparams(fn, -0.7, 1.9, -128, 127)


@EX2.case("range (0.5, 2.0) must include 0")
def _(fn):
    _check_qparams(fn, 0.5, 2.0, 0, 255)
    _check_qparams(fn, -3.0, -1.0, -128, 127)


@EX2.case("constant zeros: scale = eps, no division by zero")
def _(fn):
    _check_qparams(fn, 0.0, 0.0, 0, 255)


# ----------------------------------------------------------------------------- 3.3
EX3 = exercise("3.3", "fake_quantize: quantize then dequantize, round half to even")


def _data(seed, n=200, s=0.05, z=3):
    """float32 samples in and beyond the range, without near-ties where x/s and x*(1/s) round apart."""
    x = np.random.default_rng(seed).uniform(-8, 8, size=n).astype(np.float32)
    s32 = np.float32(s)
    keep = np.rint(x / s32) == np.rint(x * (np.float32(1) / s32))
    return x[keep]


def _check_fq(fn, x, s, z, quant_min, quant_max):
    want = np.asarray(fake_quantize_ref(x, s, z, quant_min, quant_max), dtype=np.float64)
    got = as_array(fn(x.copy(), s, z, quant_min, quant_max), "fake_quantize(x, ...)", x.shape)
    q = np.rint(x.astype(np.float64) / s) + z
    mistakes = {
        "you used floor: round to nearest (half to even) is np.rint": (np.clip(np.floor(x / s) + z, quant_min, quant_max) - z) * s,
        "ties must go to even (2.5 -> 2, -0.5 -> -0): use np.rint, not floor(x / s + 0.5)":
            (np.clip(np.floor(x / s + 0.5) + z, quant_min, quant_max) - z) * s,
        "clamp q to [quant_min, quant_max] before dequantizing": (q - z) * s,
        "subtract the zero point when dequantizing: (q - z) * s": np.clip(q, quant_min, quant_max) * s,
    }
    err = np.abs(got - want).max()
    mistake = next((h for h, v in mistakes.items() if np.allclose(got, v, rtol=1e-6, atol=1e-7)), None)
    if mistake is None and err > s / 2 and np.all(np.abs(got - np.clip(x, (quant_min - z) * s, (quant_max - z) * s)) <= s):
        mistake = f"max error {err:.3g} exceeds Δ/2 = {s / 2:.3g}: check your rounding (use np.rint)"
    expect_close(got, want, "fake_quantize(x, ...)", rtol=1e-6, atol=1e-7,
                 hint=mistake or "y = (clip(rint(x / s) + z, quant_min, quant_max) - z) * s")


@EX3.case("values inside the range: error at most Δ/2")
def _(fn):
    x = _data(0)
    x = x[np.abs(x) < 5]
    _check_fq(fn, x, 0.05, 0, -128, 127)


@EX3.case("ties round half to even")
def _(fn):
    _check_fq(fn, np.array([0.25, 0.75, -0.25, 1.25, -1.25, 0.5], dtype=np.float32), 0.5, 0, -8, 7)


@EX3.case("values beyond the range are clipped")
def _(fn):
    _check_fq(fn, _data(1), 0.05, 0, -128, 127)


@EX3.case("a zero point (unsigned 0..255, z = 100)")
def _(fn):
    _check_fq(fn, _data(2), 0.03, 100, 0, 255)


# ----------------------------------------------------------------------------- 3.4
EX4 = exercise("3.4", "fake_quantize_grad: the straight-through estimator's mask")


def _check_ste(fn, x, s, z, quant_min, quant_max):
    from qnn_lite.autograd import Tensor
    g = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    fake_quantize_ref(t, s, z, quant_min, quant_max).backward(g)
    want = t.grad.astype(np.float64)
    got = as_array(fn(x.copy(), s, z, quant_min, quant_max, g.copy()), "fake_quantize_grad(...)", x.shape)
    q = np.rint(x / np.float32(s)) + z
    expect_close(got, want, "gradient", rtol=1e-6, atol=0, mistakes={
        "elements clipped to quant_min/quant_max must get zero gradient: multiply grad by the mask": g,
        "take the mask on the rounded value q = rint(x/s) + z, not on x: "
        "an x just past the range that rounds inside still passes its gradient":
            g * ((x >= (quant_min - z) * s) & (x <= (quant_max - z) * s)),
        "q = quant_min and q = quant_max are inside the range: use quant_min <= q <= quant_max": g * ((q > quant_min) & (q < quant_max)),
        "return grad * mask, not the mask alone": ((q >= quant_min) & (q <= quant_max)).astype(np.float64),
    }, hint="dx = grad * (quant_min <= rint(x/s) + z <= quant_max)")


@EX4.case("inside the range the gradient passes unchanged")
def _(fn):
    _check_ste(fn, np.linspace(-0.6, 0.6, 13, dtype=np.float32), 0.1, 0, -8, 7)


@EX4.case("clipped values get zero gradient")
def _(fn):
    _check_ste(fn, np.linspace(-2, 2, 41, dtype=np.float32), 0.1, 0, -8, 7)


@EX4.case("the mask is on the rounded value (x = 0.74 rounds to 7 = quant_max: passes)")
def _(fn):
    _check_ste(fn, np.array([0.74, 0.76, -0.84, -0.86, 0.7, -0.8], dtype=np.float32), 0.1, 0, -8, 7)


# ----------------------------------------------------------------------------- 3.5
EX5 = exercise("3.5", "per_channel_qparams: symmetric scale per output channel (axis 0)")


def _check_pc(fn, w, quant_min, quant_max):
    axes = tuple(range(1, w.ndim))
    s_ref, z_ref = calc_qparams_ref(w.min(axis=axes), w.max(axis=axes), quant_min, quant_max, symmetric=True)
    got = fn(w.copy(), quant_min, quant_max)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Fail(f"per_channel_qparams should return (scale, zero_point), got {type(got).__name__}")
    C = w.shape[0]
    s = np.asarray(got[0])
    if s.shape != (C,):
        raise Fail(f"scale has shape {s.shape}, expected ({C},): one scale per output channel (axis 0), "
                   "reduce over all other axes")
    amax = np.maximum(-np.minimum(w.min(axis=axes), 0), np.maximum(w.max(axis=axes), 0))
    half = (quant_max - quant_min) / 2
    expect_close(s, s_ref, "scale", rtol=1e-6, mistakes={
        "symmetric uses max(|min|, |max|) of the channel, not max": np.maximum(w.max(axis=axes), 0) / half,
        f"PyTorch divides by (quant_max - quant_min) / 2 = {half:g}, not quant_max = {quant_max}": amax / quant_max,
        "an all-zero channel must get scale eps: clamp AFTER dividing, "
        "max(max|w_c| / ((quant_max - quant_min) / 2), eps) (clamping before the division leaves eps / ((quant_max - quant_min) / 2))":
            amax / half,
    }, hint="scale_c = max(max|w_c| / ((quant_max - quant_min) / 2), eps)")
    expect_close(got[1], z_ref, "zero_point", atol=0, hint="symmetric signed: zero_point = 0 for every channel")


@EX5.case("Linear weight (4, 6): one scale per row")
def _(fn):
    _check_pc(fn, np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32), -128, 127)


@EX5.case("channels with very different ranges")
def _(fn):
    w = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32) * np.array([[0.01], [1.0], [30.0]], np.float32)
    _check_pc(fn, w, -8, 7)


@EX5.case("Conv2d weight (2, 3, 3, 3) with an all-zero channel")
def _(fn):
    w = np.random.default_rng(2).normal(size=(2, 3, 3, 3)).astype(np.float32)
    w[1] = 0
    _check_pc(fn, w, -128, 127)


# ----------------------------------------------------------------------------- 3.6
EX6 = exercise("3.6", "sqnr_db: signal-to-quantization-noise ratio in dB")


def sqnr_db_ref(x, x_hat):
    """10 log10(sum x^2 / sum (x - x_hat)^2); inf when x_hat == x."""
    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    noise = np.sum((x - x_hat) ** 2)
    return np.inf if noise == 0 else 10 * np.log10(np.sum(x ** 2) / noise)


def _check_sqnr(fn, x, x_hat):
    got = fn(x.copy(), x_hat.copy())
    want = sqnr_db_ref(x, x_hat)
    ratio = np.sum(x.astype(np.float64) ** 2) / max(np.sum((x - x_hat).astype(np.float64) ** 2), 1e-300)
    expect_close(got, want, "SQNR", rtol=1e-5, mistakes={
        "a power ratio in dB is 10 log10, not 20 log10": 20 * np.log10(ratio),
        "use log10, not the natural log": 10 * np.log(ratio),
        "signal over noise, not noise over signal": -10 * np.log10(ratio),
        "use the noise power sum((x - x_hat)^2), not the mean absolute error":
            10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(np.abs(x - x_hat))),
    }, hint="SQNR = 10 log10(sum(x^2) / sum((x - x_hat)^2))")


@EX6.case("8-bit fake quant of a Gaussian: about 40 dB")
def _(fn):
    x = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    s, z = calc_qparams_ref(x.min(), x.max(), -128, 127)
    _check_sqnr(fn, x, fake_quantize_ref(x, s, z, -128, 127))


@EX6.case("a hand-computed case: x = (3, 4), noise (0.3, 0.4) gives 20 dB")
def _(fn):
    _check_sqnr(fn, np.array([3.0, 4.0]), np.array([2.7, 3.6]))


@EX6.case("no noise (x_hat == x) gives inf, with no division warning")
def _(fn):
    x = np.array([1.0, -2.0, 0.5])
    got = fn(x.copy(), x.copy())
    if not (np.ndim(got) == 0 and np.isposinf(got)):
        raise Fail(f"SQNR with zero noise: got {got!r}, expected inf (return np.inf when the noise power is 0)")
