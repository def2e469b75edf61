"""Chapter 08 (stochastic rounding, low-precision training): SR given a draw, its mean and variance,
fixed point with saturation, DoReFa's quantize_k and weight quantizer.

The references are `qnn_lite.quantizers.stochastic`, `qnn_lite.transforms.lowprec` and `qnn_lite.quantizers.learned`;
8.2's closed form is checked against the library's stochastic_quantize by Monte Carlo in
tests/exercises/test_ch08_10.py.
"""
from __future__ import annotations

import numpy as np

from qnn_lite.quantizers.learned import dorefa_weight as dorefa_weight_ref
from qnn_lite.quantizers.learned import quantize_k as quantize_k_ref
from qnn_lite.transforms.lowprec import fixed_point_round as fixed_point_round_ref
from qnn_lite.quantizers.stochastic import stochastic_round as stochastic_round_ref

from ..runner import Fail
from ..expect import as_array, expect_close
from ..registry import exercise

# ----------------------------------------------------------------------------- 8.1
EX1 = exercise("8.1", "stochastic_round: floor(x) + (u < x - floor(x)) for a given uniform draw u")


def sr_given_u(x, u):
    """floor(x) + 1{u < x - floor(x)}: the library's rule with its draw u made explicit."""
    x = np.asarray(x, dtype=np.float64)
    lo = np.floor(x)
    return lo + (np.asarray(u) < x - lo)


def _check_sr(fn, x, u, want, label):
    got = as_array(fn(x.copy(), u.copy()), f"stochastic_round({label}, u)", x.shape)
    frac = x - np.floor(x)
    tr = np.trunc(x)
    expect_close(got, want, f"stochastic_round({label}, u)", atol=0, mistakes={
        "that is round-to-nearest: stochastic rounding rounds UP exactly when u < x - floor(x), "
        "whatever the fractional part": np.rint(x),
        "round up when u < p (probability p = x - floor(x)), not when u > p": np.floor(x) + (u > frac),
        "use the rule floor(x) + (u < x - floor(x)): rounding up when u >= 1 - p has the same distribution, "
        "but the check compares draw by draw": np.floor(x) + (u >= 1 - frac),
        "use floor, not trunc / astype(int): for x = -1.3, floor is -2 and the fractional part is 0.7":
            tr + (u < x - tr),
    }, hint="SR(x) = floor(x) + (u < x - floor(x))")


@EX1.case("x = 2.3 rounds up only when u < 0.3")
def _(fn):
    x = np.full(5, 2.3)
    u = np.array([0.0, 0.1, 0.29, 0.31, 0.9])
    _check_sr(fn, x, u, sr_given_u(x, u), "[2.3, ...]")


@EX1.case("random x with the draws of qnn_lite's stochastic_round(x, rng=7)", points=2)
def _(fn):
    x = np.random.default_rng(0).uniform(0, 5, size=200)
    u = np.random.default_rng(7).random(x.shape)    # exactly the draws stochastic_round(x, 7) makes
    _check_sr(fn, x, u, stochastic_round_ref(x, 7), "x")


@EX1.case("negative x: floor(-1.3) = -2, so -1.3 rounds up to -1 with probability 0.7")
def _(fn):
    x = np.random.default_rng(1).uniform(-5, 0, size=200)
    u = np.random.default_rng(8).random(x.shape)
    _check_sr(fn, x, u, stochastic_round_ref(x, 8), "negative x")


@EX1.case("integers come back unchanged, whatever u")
def _(fn):
    x = np.array([-3.0, 0.0, 1.0, 7.0])
    u = np.array([0.0, 0.5, 0.999, 0.0])
    _check_sr(fn, x, u, x, "integers")


# ----------------------------------------------------------------------------- 8.2
EX2 = exercise("8.2", "sr_mean_var: mean and variance of stochastic rounding onto a grid of step delta")


def sr_mean_var_ref(x, delta):
    """p = x/Δ - floor(x/Δ): E[SR_Δ(x)] = Δ (floor(x/Δ) + p) = x, Var = p (1 - p) Δ²."""
    v = np.asarray(x, dtype=np.float64) / delta
    p = v - np.floor(v)
    return delta * (np.floor(v) + p), p * (1 - p) * delta ** 2


def _check_mv(fn, x, delta, label):
    got = fn(x.copy(), delta)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Fail(f"sr_mean_var should return a tuple (mean, var), got {type(got).__name__}")
    mean, var = sr_mean_var_ref(x, delta)
    what = f"sr_mean_var({label}, delta={delta:g})"
    v = x / delta
    p = v - np.floor(v)
    p_raw = x - np.floor(x)
    expect_close(np.broadcast_to(as_array(got[0], f"{what} mean"), x.shape), mean, f"{what} mean",
                 rtol=1e-9, atol=1e-12, mistakes={
                     "that is round-to-nearest's value: stochastic rounding is unbiased, E[SR(x)] = x":
                         np.rint(v) * delta,
                     "E[SR(x)] = floor + p on the grid, not the lower grid point alone": np.floor(v) * delta,
                 }, hint="E[SR(x)] = Δ (floor(x/Δ) + p) = x")
    expect_close(np.broadcast_to(as_array(got[1], f"{what} var"), x.shape), var, f"{what} var",
                 rtol=1e-9, atol=1e-15, mistakes={
                     "the variance is in units of x: multiply p(1 - p) by Δ²": p * (1 - p),
                     "Δ², not Δ: the error is Δ times a Bernoulli(p) shift": p * (1 - p) * delta,
                     "Δ²/12 is nearest rounding's error variance for x spread uniformly; here x is fixed: "
                     "p(1 - p) Δ²": np.full(x.shape, delta ** 2 / 12),
                     "the fractional part is measured in grid steps: p = x/Δ - floor(x/Δ)":
                         p_raw * (1 - p_raw) * delta ** 2,
                 }, hint="Var[SR(x)] = p (1 - p) Δ² with p = x/Δ - floor(x/Δ)")


@EX2.case("delta = 1, x = 2.3: mean 2.3, variance 0.3 * 0.7 = 0.21")
def _(fn):
    _check_mv(fn, np.array([2.3, 2.5, 0.1]), 1.0, "[2.3, 2.5, 0.1]")


@EX2.case("delta = 0.25: random x, variance p(1 - p) delta^2", points=2)
def _(fn):
    _check_mv(fn, np.random.default_rng(0).uniform(-3, 3, size=50), 0.25, "x")


@EX2.case("x on the grid has variance 0")
def _(fn):
    _check_mv(fn, np.array([-0.5, 0.0, 0.125, 1.0]), 0.125, "grid points")


# ----------------------------------------------------------------------------- 8.3
EX3 = exercise("8.3", "fixed_point_round: round to <int_bits, frac_bits> fixed point, nearest, saturating")


def _check_fx(fn, x, il, fl, label):
    want = fixed_point_round_ref(x, il, fl, "nearest")
    what = f"fixed_point_round({label}, {il}, {fl})"
    got = as_array(fn(x.copy(), il, fl), what, x.shape)
    d = 2.0 ** -fl
    top = 2.0 ** (il + fl - 1)
    v = x / d
    mistakes = {
        "saturate: clip the integer code to [-2^(IL+FL-1), 2^(IL+FL-1) - 1] before scaling back": np.rint(v) * d,
        "the largest value is 2^(IL-1) - Δ, one step below 2^(IL-1) (two's complement)":
            np.clip(np.rint(v), -top, top) * d,
        "the smallest value is -2^(IL-1): two's complement has one more negative code than positive ones":
            np.clip(np.rint(v), -top + 1, top - 1) * d,
        "IL counts the sign bit: the range is [-2^(IL-1), 2^(IL-1) - Δ], not [-2^IL, 2^IL - Δ]":
            np.clip(np.rint(v), -2 * top, 2 * top - 1) * d,
        "round to nearest (np.rint), not floor": np.clip(np.floor(v), -top, top - 1) * d,
        "ties go to even (np.rint: 0.5 -> 0, 1.5 -> 2), not up (floor(v + 0.5))":
            np.clip(np.floor(v + 0.5), -top, top - 1) * d,
    }
    expect_close(got, want, what, rtol=0, atol=1e-12, mistakes=mistakes,
                 hint="Δ = 2^-FL; y = Δ clip(rint(x/Δ), -2^(IL+FL-1), 2^(IL+FL-1) - 1)")


@EX3.case("<2, 2> (step 0.25): values inside the range")
def _(fn):
    _check_fx(fn, np.array([0.3, 1.7, -1.1, 0.0, -0.6]), 2, 2, "x")


@EX3.case("ties round half to even")
def _(fn):
    _check_fx(fn, np.array([0.125, 0.375, -0.125, 0.625, -0.375]), 2, 2, "ties")


@EX3.case("saturation: <2, 2> holds [-2, 1.75]", points=2)
def _(fn):
    _check_fx(fn, np.array([1.9, 2.0, 5.0, -2.0, -2.1, -3.0]), 2, 2, "big x")


@EX3.case("8-bit <2, 6> and 16-bit <4, 12> words on Gaussian weights")
def _(fn):
    x = np.random.default_rng(0).normal(0, 1.5, size=200)
    _check_fx(fn, x, 2, 6, "w")
    _check_fx(fn, x * 4, 4, 12, "4 w")


# ----------------------------------------------------------------------------- 8.4
EX4 = exercise("8.4", "quantize_k: DoReFa's k-bit quantizer of x in [0, 1]")


def _check_qk(fn, x, bits, label):
    x = x.astype(np.float32)          # qnn_lite Tensors hold float32
    want = quantize_k_ref(x, bits).data.astype(np.float64)
    what = f"quantize_k({label}, {bits})"
    got = as_array(fn(x.copy(), bits), what, x.shape)
    n = 2 ** bits - 1
    x = x.astype(np.float64)
    expect_close(got, want, what, rtol=1e-6, atol=1e-7, mistakes={
        "k bits give 2^k levels, i.e. 2^k - 1 steps between 0 and 1: multiply and divide by 2^k - 1":
            np.rint(x * 2 ** bits) / 2 ** bits,
        "divide by 2^k - 1 again: the result lives in [0, 1]": np.rint(x * n),
        "round to nearest (np.rint), not floor": np.floor(x * n) / n,
        "ties go to even (np.rint), not up (floor(v + 0.5))": np.floor(x * n + 0.5) / n,
    }, hint="quantize_k(x) = rint((2^k - 1) x) / (2^k - 1)")


@EX4.case("1 bit: {0, 1}; 2 bits: {0, 1/3, 2/3, 1}")
def _(fn):
    x = np.array([0.0, 0.2, 0.45, 0.55, 0.8, 1.0])
    _check_qk(fn, x, 1, "x")
    _check_qk(fn, x, 2, "x")


@EX4.case("4 and 8 bits on random x in [0, 1]")
def _(fn):
    x = np.random.default_rng(0).uniform(0, 1, size=100)
    _check_qk(fn, x, 4, "x")
    _check_qk(fn, x, 8, "x")


@EX4.case("ties round half to even (1 bit: 0.5 -> 0; 2 bits: 0.5 -> 2/3)")
def _(fn):
    _check_qk(fn, np.array([0.5, 0.25, 1.0]), 1, "ties")
    _check_qk(fn, np.array([0.5]), 2, "ties")


# ----------------------------------------------------------------------------- 8.5
EX5 = exercise("8.5", "dorefa_weight: DoReFa's k-bit weights, 2 quantize_k(tanh w / (2 max|tanh w|) + 1/2) - 1")


def _check_dw(fn, w, bits, label):
    w = w.astype(np.float32)          # qnn_lite Tensors hold float32
    want = dorefa_weight_ref(w, bits).data.astype(np.float64)
    what = f"dorefa_weight({label}, {bits})"
    got = as_array(fn(w.copy(), bits), what, w.shape)
    n = 2 ** bits - 1

    def qk(v):
        return np.rint(v * n) / n
    w = w.astype(np.float64)
    t = np.tanh(w)
    m = np.abs(t).max()
    expect_close(got, want, what, rtol=1e-6, atol=1e-6, mistakes={
        "squash with tanh first: t = tanh(w), then divide by max|t|": 2 * qk(w / (2 * np.abs(w).max()) + 0.5) - 1,
        "normalize by max|tanh w|, not max|w|": 2 * qk(t / (2 * np.abs(w).max()) + 0.5) - 1,
        "map back to [-1, 1]: w_q = 2 quantize_k(...) - 1": qk(t / (2 * m) + 0.5),
        "shift by 1/2 into [0, 1] before quantize_k: quantize_k(t / (2 max|t|) + 1/2)": 2 * qk(t / (2 * m)) - 1,
    }, hint="w_q = 2 quantize_k(tanh(w) / (2 max|tanh w|) + 1/2) - 1")


@EX5.case("2 bits: every weight lands on {-1, -1/3, 1/3, 1}", points=2)
def _(fn):
    _check_dw(fn, np.random.default_rng(0).normal(0, 0.5, size=(8, 6)), 2, "w")


@EX5.case("4 bits on a conv weight; the largest |w| maps to +-1")
def _(fn):
    _check_dw(fn, np.random.default_rng(1).normal(0, 0.2, size=(3, 2, 3, 3)), 4, "w")


@EX5.case("8 bits on weights with a wide range (tanh saturates)")
def _(fn):
    _check_dw(fn, np.random.default_rng(2).normal(0, 3.0, size=100), 8, "w")
