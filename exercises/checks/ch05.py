"""Chapter 05 (STE and QAT): the clipped STE, LSQ's step-size gradient, PACT's clip gradient.

The reference for every case is `qnn_lite.quantizers.ste`, `qnn_lite.quantizers.lsq` (PyTorch's
LSQ kernel) and `qnn_lite.quantizers.learned`, run through qnn_lite's autograd.
"""
from __future__ import annotations

import math

import numpy as np

from qnn_lite.autograd import Tensor
from qnn_lite.quantizers.learned import pact
from qnn_lite.quantizers.lsq import fake_quantize_learnable_per_channel_affine
from qnn_lite.quantizers.ste import clipped_ste

from ..runner import Fail
from ..expect import as_array, expect_close
from ..registry import exercise

# ----------------------------------------------------------------------------- 5.1
EX1 = exercise("5.1", "clipped_ste_grad: the backward of sign with the hardtanh STE")


def _check_clipped(fn, x):
    g = np.random.default_rng(0).normal(size=x.shape)
    t = Tensor(x, requires_grad=True, dtype=np.float64)
    clipped_ste(t).backward(g)
    want = t.grad.astype(np.float64)
    got = as_array(fn(x.copy(), g.copy()), "clipped_ste_grad(x, grad)", x.shape)
    expect_close(got, want, "gradient", rtol=1e-12, atol=0, mistakes={
        "that is the identity STE: zero the gradient where |x| > 1": g,
        "|x| = 1 is inside: the mask is |x| <= 1 (the derivative of hardtanh, closed interval)": g * (np.abs(x) < 1),
        "return grad * mask, not the mask alone": (np.abs(x) <= 1).astype(np.float64),
        "the mask is on |x|, both sides: -1 <= x <= 1": g * (x <= 1),
    }, hint="dx = grad * 1{|x| <= 1}")


@EX1.case("inside [-1, 1] the gradient passes")
def _(fn):
    _check_clipped(fn, np.linspace(-0.9, 0.9, 7))


@EX1.case("outside [-1, 1] it is zero, on both sides")
def _(fn):
    _check_clipped(fn, np.linspace(-3, 3, 25))


@EX1.case("x = ±1 exactly pass (closed interval)")
def _(fn):
    _check_clipped(fn, np.array([-1.0, 1.0, -1.0000001, 1.0000001, 0.0]))


# ----------------------------------------------------------------------------- 5.2
EX2 = exercise("5.2", "lsq_scale_grad: LSQ's per-element step-size gradient, with the gradient scale")


def _lsq_data(seed, n, s, spread):
    """float64 samples with no near-ties (x/s within 1e-6 of k + 1/2)."""
    x = np.random.default_rng(seed).uniform(-spread, spread, size=n)
    frac = np.abs((x / s) % 1 - 0.5)
    return x[frac > 1e-6]


def _check_lsq(fn, x, s, z, quant_min, quant_max):
    n = x.size
    g = np.random.default_rng(1).normal(size=n)
    gf = 1 / math.sqrt(n * quant_max)
    scale = Tensor(np.full(n, s), requires_grad=True, dtype=np.float64)
    xt = Tensor(x.copy(), requires_grad=True, dtype=np.float64)
    fake_quantize_learnable_per_channel_affine(xt, scale, np.full(n, float(z)), 0, quant_min, quant_max, gf).backward(g)
    want = scale.grad.astype(np.float64)
    got = as_array(fn(x.copy(), s, z, quant_min, quant_max, g.copy()), "lsq_scale_grad(...)", x.shape)
    q = np.rint(x / s) + z
    inside = (q >= quant_min) & (q <= quant_max)
    edge = np.where(q < quant_min, quant_min - z, quant_max - z)
    raw = np.where(inside, (q - z) - x / s, edge) * g
    v = x / s + z
    paper_inside = (v > quant_min) & (v < quant_max)
    mistakes = {
        f"forgot the gradient scale: multiply by 1/sqrt(N * Qp) = 1/sqrt({n} * {quant_max})": raw,
        "the sign is (x_q - x) / s inside, i.e. (q - z) - x/s, not x/s - (q - z)":
            np.where(inside, x / s - (q - z), edge) * g * gf,
        "that is the paper's clip-then-round mask on x/s; PyTorch masks the ROUNDED value: "
        "quant_min <= rint(x/s) + z <= quant_max": np.where(paper_inside, (np.rint(np.clip(v, quant_min, quant_max)) - z) - x / s,
                                                  edge) * g * gf,
        "outside the range the gradient is quant_min - z (below) or quant_max - z (above): subtract z":
            np.where(inside, (q - z) - x / s, np.where(q < quant_min, quant_min, quant_max)) * g * gf,
        "Qp in the gradient scale is quant_max, not quant_max - quant_min": raw / math.sqrt(n * (quant_max - quant_min)),
        "multiply by the upstream grad": np.where(inside, (q - z) - x / s, edge) * gf,
    }
    expect_close(got, want, "dscale", rtol=1e-9, atol=1e-12, mistakes=mistakes,
                 hint="q = rint(x/s) + z; inside quant_min <= q <= quant_max: (q - z) - x/s; below: quant_min - z; "
                      "above: quant_max - z; times grad / sqrt(N * quant_max)")


@EX2.case("values inside the range, z = 0 (signed 4 bits)")
def _(fn):
    _check_lsq(fn, _lsq_data(0, 60, 0.1, 0.7), 0.1, 0, -8, 7)


@EX2.case("values clipped below and above")
def _(fn):
    _check_lsq(fn, _lsq_data(1, 80, 0.1, 2.0), 0.1, 0, -8, 7)


@EX2.case("the half-step bands just outside the range (x/s = 7.3 rounds to 7: inside)")
def _(fn):
    x = np.array([0.73, 0.76, -0.83, -0.86, 0.3, -0.8, 0.7])
    _check_lsq(fn, x, 0.1, 0, -8, 7)


@EX2.case("unsigned with a zero point (0..15, z = 3)")
def _(fn):
    _check_lsq(fn, _lsq_data(2, 80, 0.05, 1.0), 0.05, 3, 0, 15)


# ----------------------------------------------------------------------------- 5.3
EX3 = exercise("5.3", "pact_grads: PACT's gradients for x and for the clip alpha")


def _check_pact(fn, x, alpha):
    g = np.random.default_rng(2).normal(size=x.shape)
    xt = Tensor(x.copy(), requires_grad=True, dtype=np.float64)
    at = Tensor(np.array(alpha), requires_grad=True, dtype=np.float64)
    pact(xt, at, 4).backward(g)
    got = fn(x.copy(), alpha, g.copy())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise Fail(f"pact_grads should return (dx, dalpha), got {type(got).__name__}")
    expect_close(got[0], xt.grad, "dx", rtol=1e-12, atol=0, mistakes={
        "PACT clips at 0 too: dx = grad * 1{0 <= x <= alpha}": g * (x <= alpha),
        "x = alpha is inside the clip (the paper's convention): use x <= alpha": g * ((x >= 0) & (x < alpha)),
        "x = 0 is inside: use x >= 0": g * ((x > 0) & (x <= alpha)),
    }, hint="dx = grad * 1{0 <= x <= alpha}")
    dalpha = np.asarray(got[1], dtype=np.float64) if got[1] is not None else None
    if dalpha is not None and dalpha.shape == x.shape and x.size > 1:
        raise Fail("dalpha should be one number: alpha is a single parameter, sum over the elements")
    expect_close(got[1], at.grad, "dalpha", rtol=1e-9, atol=1e-12, mistakes={
        "x = alpha exactly also sends its gradient to alpha: use x >= alpha": np.sum(g * (x > alpha)),
        "alpha's gradient comes from the clipped elements x >= alpha, not the ones inside":
            np.sum(g * ((x >= 0) & (x < alpha))),
        "sum the upstream grads, do not count the clipped elements": np.sum(x >= alpha).astype(np.float64),
    }, hint="dalpha = sum of grad over the elements with x >= alpha")


@EX3.case("a mix of negative, inside and clipped values")
def _(fn):
    _check_pact(fn, np.random.default_rng(0).normal(1.0, 2.0, size=50), 2.5)


@EX3.case("x = 0 and x = alpha exactly")
def _(fn):
    _check_pact(fn, np.array([0.0, 1.5, 1.5, -0.1, 1.0, 3.0]), 1.5)


@EX3.case("nothing clipped: dalpha = 0")
def _(fn):
    _check_pact(fn, np.linspace(0.0, 0.9, 10), 1.0)
