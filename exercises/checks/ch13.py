"""Chapter 13 (transformers): group-wise scales and the real bits per weight, one GPTQ column update,
an AWQ scale from a channel statistic, SmoothQuant's migration factors, an MXFP4 block encode/decode.

The reference for every case is the library: `qnn_lite.quantizers.groupwise`, `qnn_lite.transforms.gptq`,
`qnn_lite.transforms.awq`, `qnn_lite.transforms.smoothquant`, `qnn_lite.quantizers.mx`.
"""
from __future__ import annotations

import numpy as np

from qnn_lite.quantizers.groupwise import bits_per_weight, groupwise_qparams
from qnn_lite.quantizers.mx import mx_encode
from qnn_lite.transforms.gptq import gptq_quantize
from qnn_lite.transforms.smoothquant import smooth_scales

from ..expect import as_array, expect_close, expect_equal
from ..registry import exercise
from ..runner import Fail


def _pair(got, what, n=2):
    if got is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    if not isinstance(got, (tuple, list)) or len(got) != n:
        raise Fail(f"{what} should return a tuple of {n} values, got {type(got).__name__}")
    return got


# ----------------------------------------------------------------------------- 13.1
EX1 = exercise("13.1", "group_qparams: per-group scale and zero point, and the real bits per weight")


def _group_ref(w, bits, g, kind="ok"):
    """Per-group min/max qparams; `kind` reproduces the usual mistakes."""
    out, n = w.shape
    grp = w.reshape(out, n // g, g)
    lo, hi = grp.min(axis=2), grp.max(axis=2)
    if kind != "no_zero":
        lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
    levels = 2 ** bits if kind == "levels" else 2 ** bits - 1
    s = np.maximum((hi - lo) / levels, np.finfo(np.float32).eps)
    z = np.clip(-np.rint(lo / s), 0, 2 ** bits - 1)
    return s, z


def _check_group(fn, w, bits, g):
    what = f"group_qparams(w {w.shape}, bits={bits}, group_size={g})"
    got = _pair(fn(w.copy(), bits, g), what, 3)
    s_want, z_want = groupwise_qparams(w, bits, g)
    bpw_want = bits_per_weight(bits, g)
    mistakes = {
        "the codes run 0 .. 2^b - 1: that is 2^b - 1 steps, so s = (max - min) / (2^b - 1)":
            _group_ref(w, bits, g, "levels")[0],
        "keep 0 representable: use min(w_min, 0) and max(w_max, 0) before computing the scale":
            _group_ref(w, bits, g, "no_zero")[0],
    }
    expect_close(got[0], s_want, f"{what} scale", rtol=1e-5, atol=1e-9, mistakes=mistakes,
                 hint="scale = (max(w_max, 0) - min(w_min, 0)) / (2^b - 1) over each group of g inputs")
    expect_close(got[1], z_want, f"{what} zero_point", rtol=0, atol=1e-6,
                 hint="zero_point = clip(-rint(min(w_min, 0) / scale), 0, 2^b - 1), an integer per group")
    mist = {bits + 16 / g: "a GPTQ checkpoint also stores a zero point per group, in b bits: b + (16 + b) / g",
            bits + bits / g: "the fp16 scale costs 16 bits per group too: b + (16 + b) / g",
            bits + (32 + bits) / g: "the scale is stored in fp16 (16 bits), not fp32: b + (16 + b) / g"}
    bpw = float(as_array(got[2], f"{what} bits_per_weight"))
    hint = next((h for v, h in mist.items() if abs(bpw - v) < 1e-9 and abs(v - bpw_want) > 1e-9),
                "bits per weight = b + (16 + b) / g: the codes plus one fp16 scale and one b-bit zero point per group")
    expect_close(bpw, bpw_want, f"{what} bits_per_weight", hint=hint)


@EX1.case("int4, groups of 4 on a (2, 8) weight")
def _(fn):
    w = np.array([[0.1, -0.2, 0.3, 0.05, -1.0, 0.5, 0.25, 0.0],
                  [0.2, 0.4, 0.6, 0.8, -0.3, -0.1, -0.2, -0.4]], np.float32)
    _check_group(fn, w, 4, 4)


@EX1.case("int3 and int4, groups of 32 and 64 on a (16, 128) Gaussian weight", points=2)
def _(fn):
    w = np.random.default_rng(0).normal(0, 0.05, (16, 128)).astype(np.float32)
    _check_group(fn, w, 4, 32)
    _check_group(fn, w, 3, 64)


@EX1.case("an all-positive weight: the zero point is 0, 0 stays representable")
def _(fn):
    w = np.random.default_rng(1).uniform(0.5, 1.0, (4, 64)).astype(np.float32)
    _check_group(fn, w, 4, 32)


# ----------------------------------------------------------------------------- 13.2
EX2 = exercise("13.2", "gptq_step: quantize column j and push its error onto the later columns")


def _step_ref(W, U, j, s, z, qmin, qmax, kind="ok"):
    W = np.array(W, np.float64)
    w = W[:, j].copy()
    q = (np.clip(np.rint(w / s) + z, qmin, qmax) - z) * s
    d = 1.0 if kind == "no_div" else U[j, j]
    err = (w - q) / d
    if kind == "sign":
        W[:, j + 1:] += np.outer(err, U[j, j + 1:])
    elif kind != "no_update":
        W[:, j + 1:] -= np.outer(err, U[j, j + 1:])
    if kind != "keep_col":
        W[:, j] = q
    return W


def _u_factor(X, percdamp=0.01):
    H = 2.0 / X.shape[0] * X.T @ X
    H[np.diag_indices_from(H)] += percdamp * np.mean(np.diag(H))
    return np.linalg.cholesky(np.linalg.inv(H)).T          # H^-1 = U^T U, U upper triangular


def _rowparams(W, bits):
    lo, hi = np.minimum(W.min(axis=1), 0), np.maximum(W.max(axis=1), 0)
    s = np.maximum((hi - lo) / (2 ** bits - 1), np.finfo(np.float32).eps)
    return s, np.clip(-np.rint(lo / s), 0, 2 ** bits - 1)


def _check_step(fn, W, U, j, s, z, qmin, qmax):
    what = f"gptq_step(W {W.shape}, U, j={j})"
    got = fn(W.copy(), U.copy(), j, s.copy(), z.copy(), qmin, qmax)
    want = _step_ref(W, U, j, s, z, qmin, qmax)
    mistakes = {
        "divide the rounding error by U[j, j] (the OBS denominator [H_F^-1]_jj = U[j, j]^2): "
        "err = (w_j - q_j) / U[j, j]": _step_ref(W, U, j, s, z, qmin, qmax, "no_div"),
        "the later columns move AGAINST the error: W[:, j+1:] -= outer(err, U[j, j+1:])":
            _step_ref(W, U, j, s, z, qmin, qmax, "sign"),
        "column j itself must end up quantized: W[:, j] = q": _step_ref(W, U, j, s, z, qmin, qmax, "keep_col"),
        "that is plain rounding: GPTQ also updates the columns after j, W[:, j+1:] -= outer(err, U[j, j+1:])":
            _step_ref(W, U, j, s, z, qmin, qmax, "no_update"),
    }
    expect_close(got, want, what, rtol=1e-6, atol=1e-9, mistakes=mistakes,
                 hint="q = (clip(rint(w_j / s) + z, qmin, qmax) - z) * s; err = (w_j - q) / U[j, j]; "
                      "W[:, j+1:] -= outer(err, U[j, j+1:]); W[:, j] = q")


def _layer(seed, out=6, n=8, tokens=64):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (tokens, n)) @ rng.normal(0, 1, (n, n))      # correlated inputs
    W = rng.normal(0, 0.1, (out, n))
    return W, _u_factor(X)


@EX2.case("one step on column 0 of a (6, 8) layer, int4")
def _(fn):
    W, U = _layer(0)
    s, z = _rowparams(W, 4)
    _check_step(fn, W, U, 0, s, z, 0, 15)


@EX2.case("a step in the middle (column 5) and on the last column")
def _(fn):
    W, U = _layer(1)
    s, z = _rowparams(W, 3)
    _check_step(fn, W, U, 5, s, z, 0, 7)
    _check_step(fn, W, U, 7, s, z, 0, 7)


@EX2.case("all columns in turn give qnn_lite's gptq_quantize exactly", points=2)
def _(fn):
    W, _ = _layer(2, out=5, n=8, tokens=40)
    rng = np.random.default_rng(2)
    X = rng.normal(0, 1, (40, 8)) @ rng.normal(0, 1, (8, 8))
    H = 2.0 / 40 * X.T @ X
    U = _u_factor(X)
    s, z = _rowparams(W, 4)
    cur = W.copy()
    for j in range(W.shape[1]):
        cur = as_array(fn(cur.copy(), U.copy(), j, s.copy(), z.copy(), 0, 15), f"gptq_step(..., j={j})", W.shape)
    want = gptq_quantize(W, H, bits=4, group_size=None, percdamp=0.01)[0]
    expect_close(cur, want, "W after gptq_step for j = 0 .. 7", rtol=1e-4, atol=1e-5,
                 hint="each step must leave W[:, :j+1] quantized and W[:, j+1:] updated for the next step")


# ----------------------------------------------------------------------------- 13.3
EX3 = exercise("13.3", "awq_scale: AWQ's per-channel scale for a given activation statistic and ratio")


def _awq_ref(x_mean, r, kind="ok"):
    s = np.maximum(np.asarray(x_mean, np.float64) ** (1 - r if kind == "flip" else r), 1e-4)
    if kind == "raw":
        return s
    if kind == "max":
        return s / s.max()
    if kind == "mean":
        return s / s.mean()
    return s / np.sqrt(s.max() * s.min())


def _check_awq(fn, x_mean, r):
    what = f"awq_scale(x_mean of {len(x_mean)} channels, ratio={r})"
    got = fn(np.array(x_mean, np.float64), r)
    expect_close(got, _awq_ref(x_mean, r), what, rtol=1e-6, atol=1e-10, mistakes={
        "normalise so that the largest and smallest scale multiply to 1: divide by sqrt(max(s) * min(s))":
            _awq_ref(x_mean, r, "raw"),
        "not by max(s): AWQ centres the scales, s / sqrt(max(s) * min(s))": _awq_ref(x_mean, r, "max"),
        "not by mean(s): AWQ centres the scales, s / sqrt(max(s) * min(s))": _awq_ref(x_mean, r, "mean"),
        "the exponent is the ratio itself: s = x_mean ** ratio": _awq_ref(x_mean, r, "flip"),
    }, hint="s = max(x_mean ** ratio, 1e-4); return s / sqrt(max(s) * min(s))")


@EX3.case("four channels, ratio 0.5")
def _(fn):
    _check_awq(fn, [0.25, 1.0, 4.0, 0.5], 0.5)


@EX3.case("ratio 0 gives all ones; ratio 0.8 on 64 channels", points=2)
def _(fn):
    _check_awq(fn, [0.3, 2.0, 0.7], 0.0)
    _check_awq(fn, list(np.random.default_rng(3).gamma(2.0, 0.3, 64)), 0.8)


@EX3.case("a dead channel (mean |x| = 0) is clamped at 1e-4 before normalising")
def _(fn):
    _check_awq(fn, [0.0, 0.5, 1.5, 3.0], 0.6)


# ----------------------------------------------------------------------------- 13.4
EX4 = exercise("13.4", "smooth_factors: SmoothQuant's per-channel migration factors s_j")


def _smooth_ref(a, W, alpha, kind="ok"):
    a = np.maximum(np.asarray(a, np.float64), 1e-5)
    W = np.asarray(W, np.float64)
    wmax = np.abs(W).max(axis=1 if kind == "rows" else 0)
    if kind == "rows":
        wmax = np.resize(wmax, a.shape)
    wmax = np.maximum(wmax, 1e-5)
    if kind == "swap":
        return a ** (1 - alpha) / wmax ** alpha
    if kind == "inverse":
        return wmax ** (1 - alpha) / a ** alpha
    return a ** alpha / wmax ** (1 - alpha)


def _check_smooth(fn, a, W, alpha):
    what = f"smooth_factors(act_absmax ({len(a)},), W {W.shape}, alpha={alpha})"
    got = fn(np.array(a, np.float64), W.copy(), alpha)
    want = smooth_scales(a, [W], alpha)
    mistakes = {"alpha goes on the activations: s = max|X_j|^alpha / max|W_:,j|^(1 - alpha)":
                _smooth_ref(a, W, alpha, "swap"),
                "that is 1/s: the activations are DIVIDED by s, so s = max|X_j|^alpha / max|W_:,j|^(1 - alpha)":
                _smooth_ref(a, W, alpha, "inverse")}
    if W.shape[0] == W.shape[1]:
        mistakes["take the weight's max over its OUTPUT axis (axis 0): one value per input channel j"] = \
            _smooth_ref(a, W, alpha, "rows")
    expect_close(got, want, what, rtol=1e-5, atol=1e-9, mistakes=mistakes,
                 hint="s_j = max(a_j, 1e-5)^alpha / max(max_o |W[o, j]|, 1e-5)^(1 - alpha)")


@EX4.case("alpha = 0.5 on a 4-channel layer with one outlier channel")
def _(fn):
    W = np.array([[0.5, -0.1, 0.2, 0.3], [0.1, 0.4, -0.2, 0.1], [-0.3, 0.2, 0.1, 0.25], [0.2, 0.1, 0.9, -0.4]])
    _check_smooth(fn, [1.0, 20.0, 0.5, 2.0], W, 0.5)


@EX4.case("alpha = 0.75 and 0.25 on a (8, 16) layer", points=2)
def _(fn):
    rng = np.random.default_rng(4)
    W = rng.normal(0, 0.1, (8, 16))
    a = rng.gamma(2.0, 1.0, 16)
    _check_smooth(fn, a, W, 0.75)
    _check_smooth(fn, a, W, 0.25)


@EX4.case("the rewrite is exact: (X / s) @ (W * s).T == X @ W.T")
def _(fn):
    rng = np.random.default_rng(5)
    W, X = rng.normal(0, 0.1, (6, 12)), rng.normal(0, 1, (10, 12)) * rng.gamma(1.0, 2.0, 12)
    s = as_array(fn(np.abs(X).max(axis=0), W.copy(), 0.5), "smooth_factors(...)", (12,))
    if np.any(s <= 0):
        raise Fail("every s_j must be > 0 (a power of positive numbers)")
    expect_close((X / s) @ (W * s).T, X @ W.T, "(X / s) @ (W * s).T", rtol=1e-9, atol=1e-12)
    _check_smooth(fn, np.abs(X).max(axis=0), W, 0.5)


# ----------------------------------------------------------------------------- 13.5
EX5 = exercise("13.5", "mxfp4_encode: the shared E8M0 exponent and the FP4 (E2M1) elements of one 32-block")

FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def _mx_wrong(x, kind):
    a = np.abs(x).max()
    if kind == "no_emax":
        e = int(np.floor(np.log2(a)))
    elif kind == "ceil":
        e = int(np.ceil(np.log2(a))) - 2
    else:
        e = int(np.floor(np.log2(a))) - 2
    v = x / 2.0 ** e
    mag = np.abs(v)
    idx = np.argmin(np.abs(mag[:, None] - FP4[None, :]), axis=1)       # ties -> the smaller value
    p = FP4[idx]
    return e, np.copysign(p, v)


def _check_mx(fn, x):
    x = np.asarray(x, np.float64)
    what = f"mxfp4_encode(block of 32, max |x| = {np.abs(x).max():.4g})"
    got = _pair(fn(x.copy()), what)
    e_want, p_want = mx_encode(x, "mxfp4")
    e_want, p_want = float(e_want[0]), p_want[0]
    e_got = float(as_array(got[0], f"{what} exponent"))
    hints = {float(_mx_wrong(x, "no_emax")[0]) if np.abs(x).max() > 0 else None:
             "subtract E2M1's largest exponent: e = floor(log2(max |x|)) - 2, so the largest value lands in [4, 8)",
             float(_mx_wrong(x, "ceil")[0]) if np.abs(x).max() > 0 else None:
             "round the exponent DOWN: e = floor(log2(max |x|)) - 2 (then values above 6 saturate to 6)"}
    if e_got != e_want:
        hint = hints.get(e_got, "e = floor(log2(max |x|)) - 2 (E2M1's e_max = 2); an all-zero block gets e = -127")
        expect_equal(e_got, e_want, f"{what} exponent", hint=hint)
    mistakes = {}
    if np.abs(x).max() > 0:
        mistakes["ties go to the EVEN neighbour (the one whose last mantissa bit is 0): 2.5 -> 2, 5 -> 4, "
                 "0.75 -> 1, 1.75 -> 2; don't just take the first nearest level"] = _mx_wrong(x, "first_tie")[1]
    no_sat = np.copysign(np.minimum(np.abs(x / 2.0 ** e_want), 8.0), x)
    expect_close(got[1], p_want, f"{what} elements", rtol=0, atol=1e-12, mistakes=mistakes,
                 hint="elements = round(x / 2^e) to the E2M1 values 0, 0.5, 1, 1.5, 2, 3, 4, 6 (ties to even), "
                      "saturating at 6" + ("" if np.abs(no_sat).max() <= 6 else "; beyond 6 -> 6"))


@EX5.case("a block with max |x| = 5.1: e = 0")
def _(fn):
    _check_mx(fn, [0.3, -1.7, 0.02, 5.1] + [0.1] * 28)


@EX5.case("saturation: max |x| = 7.5 * 2^-3 maps to 6, not 8")
def _(fn):
    x = np.linspace(-0.5, 0.5, 32)
    x[7] = 7.5 / 8
    _check_mx(fn, x)


@EX5.case("ties to even: 2.5 -> 2, 5 -> 4, 0.75 -> 1, 0.25 -> 0", points=2)
def _(fn):
    x = np.array([2.5, 5.0, 0.75, 0.25, -2.5, -5.0, 1.25, 1.75, 3.5, 6.0] + [0.0] * 22) * 2.0 ** -4
    _check_mx(fn, x)


@EX5.case("a Gaussian block of weights")
def _(fn):
    _check_mx(fn, np.random.default_rng(6).normal(0, 0.02, 32))
