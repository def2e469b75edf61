"""Chapter 06 (binary and ternary networks): XNOR-Net's scale, Bi-Real's backward, TWN, IR-Net's EDE schedule.

The reference for every case is `qnn_lite.quantizers.binary`, `qnn_lite.quantizers.ste` and
`qnn_lite.quantizers.ternary`.
"""
from __future__ import annotations

import math

import numpy as np

from qnn_lite.autograd import Tensor
from qnn_lite.quantizers.binary import binary_entropy as binary_entropy_ref
from qnn_lite.quantizers.binary import xnor_alpha as xnor_alpha_ref
from qnn_lite.quantizers.ste import approx_sign, ede_schedule as ede_schedule_ref
from qnn_lite.quantizers.ternary import twn_params

from ..runner import Fail
from ..expect import as_array, expect_close
from ..registry import exercise

# ----------------------------------------------------------------------------- 6.1
EX1 = exercise("6.1", "xnor_alpha: XNOR-Net's scale, mean |W| per output channel")


def _check_xnor(fn, w):
    want = np.asarray(xnor_alpha_ref(w, ch_axis=0), np.float64)
    got = fn(w.copy())
    if np.ndim(got) == 0:
        raise Fail(f"xnor_alpha returned one number; it should return one scale per output channel, "
                   f"shape ({w.shape[0]},): reduce over every axis but 0")
    axes = tuple(range(1, w.ndim))
    w64 = w.astype(np.float64)
    expect_close(got, want, "alpha", rtol=1e-6, atol=1e-9, mistakes={
        "mean |W|, not mean W: the absolute value makes alpha * sign(W) fit W": w64.mean(axis=axes),
        "the L2-optimal alpha is the MEAN of |W| (||W||_1 / n), not the max": np.abs(w64).max(axis=axes),
        "one scale per OUTPUT channel: reduce over every axis except 0": np.abs(w64).mean(axis=0).reshape(-1)
        if w.ndim == 2 else np.zeros(1),
        "mean, not sum: divide ||W||_1 by the n elements of the channel": np.abs(w64).sum(axis=axes),
    }, hint="alpha_c = mean(|W_c|) over the channel's elements")


@EX1.case("Linear weight (4, 4)")
def _(fn):
    _check_xnor(fn, np.random.default_rng(0).normal(size=(4, 4)))


@EX1.case("Conv2d weight (3, 2, 3, 3)")
def _(fn):
    _check_xnor(fn, np.random.default_rng(1).normal(size=(3, 2, 3, 3)))


@EX1.case("an all-zero channel gets alpha = 0")
def _(fn):
    w = np.random.default_rng(2).normal(size=(3, 5))
    w[1] = 0
    _check_xnor(fn, w)


# ----------------------------------------------------------------------------- 6.2
EX2 = exercise("6.2", "approx_sign_grad: Bi-Real's piecewise-linear backward for sign")


def _check_approx(fn, x):
    g = np.random.default_rng(3).normal(size=x.shape)
    t = Tensor(x, requires_grad=True, dtype=np.float64)
    approx_sign(t).backward(g)
    got = as_array(fn(x.copy(), g.copy()), "approx_sign_grad(x, grad)", x.shape)
    inside = (x >= -1) & (x < 1)
    expect_close(got, t.grad, "gradient", rtol=1e-12, atol=1e-15, mistakes={
        "that is the clipped (hardtanh) STE; Bi-Real's slope is a triangle, 2 - 2|x|": g * (np.abs(x) <= 1),
        "the slope is 2 - 2|x| (area 2 = the jump of sign), not 1 - |x|": g * np.where(inside, 1 - np.abs(x), 0),
        "use |x|: 2 + 2x for x < 0, 2 - 2x for x >= 0": g * np.where(inside, 2 - 2 * x, 0),
        "outside [-1, 1) the slope is 0": g * (2 - 2 * np.abs(x)),
    }, hint="dx = grad * (2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere)")


@EX2.case("inside (-1, 1): the triangle 2 - 2|x|")
def _(fn):
    _check_approx(fn, np.linspace(-0.95, 0.95, 20))


@EX2.case("outside: zero")
def _(fn):
    _check_approx(fn, np.linspace(-3, 3, 31))


@EX2.case("x = 0 gets slope 2; x = ±1 get 0")
def _(fn):
    _check_approx(fn, np.array([0.0, -1.0, 1.0, 0.5, -0.5]))


# ----------------------------------------------------------------------------- 6.3
EX3 = exercise("6.3", "twn_params: TWN's threshold delta and scale alpha (per tensor)")


def _check_twn(fn, w):
    delta_ref, alpha_ref = (float(v) for v in twn_params(w))
    got = fn(w.copy())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise Fail(f"twn_params should return (delta, alpha), got {type(got).__name__}")
    a = np.abs(w.astype(np.float64))
    expect_close(got[0], delta_ref, "delta", rtol=1e-9, atol=1e-12, mistakes={
        "delta = 0.7 * mean(|W|): take the absolute value first": 0.7 * np.mean(w),
        "delta = 0.7 * MEAN |W|, not 0.7 * max |W|": 0.7 * a.max(),
        "the factor is 0.7": np.mean(a),
    }, hint="delta = 0.7 * mean(|W|)")
    d = 0.7 * a.mean()
    if got[1] is not None and np.size(got[1]) == 1 and np.isnan(float(np.asarray(got[1]).ravel()[0])):
        raise Fail("alpha is NaN: when no element survives (e.g. all zeros), alpha = 0, "
                   "not the mean of an empty array")
    expect_close(got[1], alpha_ref, "alpha", rtol=1e-9, atol=1e-12, mistakes={
        "alpha averages only the survivors |W| > delta, not every |W|": a.mean(),
        "survivors are |W| > delta (strictly)": a[a >= d].mean() if (a >= d).any() else np.nan,
        "average |W| over the survivors, not W": np.mean(w[a > d]) if (a > d).any() else np.nan,
    }, hint="alpha = mean of |W| over the elements with |W| > delta (0 if there are none)")


@EX3.case("a Gaussian weight")
def _(fn):
    _check_twn(fn, np.random.default_rng(4).normal(size=(6, 5)))


@EX3.case("an element exactly at delta is dropped (|W| > delta, strict)")
def _(fn):
    _check_twn(fn, np.array([0.7, -2.0, 1.0, 0.3]))


@EX3.case("all zeros: delta = 0, alpha = 0, no division warning")
def _(fn):
    _check_twn(fn, np.zeros((3, 3)))


# ----------------------------------------------------------------------------- 6.4
EX4 = exercise("6.4", "ede_schedule: IR-Net's (t, k) for epoch e of E")


def _check_ede(fn, epoch, epochs, t_min=0.1, t_max=10.0):
    got = fn(epoch, epochs, t_min, t_max)
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise Fail(f"ede_schedule should return (t, k), got {got!r}")
    t_ref, k_ref = ede_schedule_ref(epoch, epochs, t_min, t_max)
    frac = epoch / epochs
    t_lin = t_min + (t_max - t_min) * frac
    expect_close(got[0], t_ref, f"t at epoch {epoch}/{epochs}", rtol=1e-9, mistakes={
        "t grows geometrically: interpolate log10 t linearly, t = 10^(log10 t_min + (log10 t_max - log10 t_min) e/E)":
            t_lin,
        "t starts at t_min (e = 0) and ends at t_max (e = E)": 10 ** (math.log10(t_max) + (math.log10(t_min)
                                                                                           - math.log10(t_max)) * frac),
    }, hint="t = 10^(log10 t_min + (log10 t_max - log10 t_min) * e / E)")
    expect_close(got[1], k_ref, f"k at epoch {epoch}/{epochs}", rtol=1e-9, mistakes={
        "k = max(1/t, 1): once t > 1, k stays 1": 1 / t_ref,
        "k = max(1/t, 1), not max(t, 1)": max(t_ref, 1.0),
    }, hint="k = max(1/t, 1)")


@EX4.case("first and last epoch: t = t_min and t = t_max")
def _(fn):
    _check_ede(fn, 0, 10)
    _check_ede(fn, 10, 10)


@EX4.case("the middle of training")
def _(fn):
    for e in (2, 5, 7):
        _check_ede(fn, e, 10)


@EX4.case("other t_min / t_max")
def _(fn):
    _check_ede(fn, 3, 8, 1e-3, 100.0)
    _check_ede(fn, 1, 4, 0.5, 2.0)


# ----------------------------------------------------------------------------- 6.5
EX5 = exercise("6.5", "binary_entropy: information entropy (bits) of a binary code")


def _check_entropy(fn, b):
    got = fn(b.copy())
    want = binary_entropy_ref(b)
    p = float(np.mean(b > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = -p * np.log(p) - (1 - p) * np.log(1 - p) if 0 < p < 1 else 0.0
        half = -p * np.log2(p) if 0 < p < 1 else 0.0
    expect_close(got, want, f"entropy (p = {p:.3g})", rtol=1e-9, atol=1e-12, mistakes={
        "entropy in bits uses log2, not the natural log": ln,
        "add both terms: -p log2 p - (1 - p) log2(1 - p)": half,
        "p is the fraction of +1 (b > 0), not the mean of the code": 0.0,
    }, hint="H = -p log2 p - (1 - p) log2 (1 - p), p = mean(b > 0); H = 0 when p is 0 or 1")


@EX5.case("balanced signs: 1 bit")
def _(fn):
    _check_entropy(fn, np.array([1.0, -1.0] * 8))


@EX5.case("unbalanced ±1 codes")
def _(fn):
    _check_entropy(fn, np.where(np.random.default_rng(5).random(100) < 0.2, 1.0, -1.0))
    _check_entropy(fn, np.array([1.0, 1.0, 1.0, -1.0]))


@EX5.case("all +1: 0 bits, no log(0) warning")
def _(fn):
    got = fn(np.ones(10))
    if got is None or not np.isfinite(got) or abs(got) > 1e-12:
        raise Fail(f"entropy of an all +1 code: got {got!r}, expected 0.0 (return 0 when p is 0 or 1; "
                   "0 log 0 is taken as 0)")
