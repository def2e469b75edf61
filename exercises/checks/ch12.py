"""Chapter 12 (data-free quantization): TensorRT's KL threshold, a cross-layer equalization scale,
the analytic bias correction input E[ReLU(z)], ZeroQ's BatchNorm-statistics loss.

The reference for every case is the library: `qnn_lite.quantizers.calibration.kl_threshold`,
`qnn_lite.transforms.equalize.equalization_scales`, `qnn_lite.transforms.bias_correction.relu_normal_mean`.
"""
from __future__ import annotations

import math

import numpy as np

from qnn_lite.quantizers.calibration import expand_quantized, kl_threshold as kl_ref
from qnn_lite.transforms.bias_correction import relu_normal_mean
from qnn_lite.transforms.equalize import equalization_scales

from ..expect import expect_close
from ..registry import exercise
from ..runner import Fail

# ----------------------------------------------------------------------------- 12.1
EX1 = exercise("12.1", "kl_threshold: TensorRT's entropy-calibration threshold of a histogram of |x|")


def _kl_variant(hist, width, levels, outliers=True, half=True, keep_zero=True):
    """The algorithm with switches that reproduce the usual mistakes."""
    hist = np.asarray(hist, np.float64)
    best, best_i = math.inf, None
    for i in range(levels, hist.size + 1):
        p = hist[:i].copy()
        if outliers:
            p[i - 1] += hist[i:].sum()
        if keep_zero:
            q = expand_quantized(hist[:i], levels)
        else:
            m = i // levels
            q = np.concatenate([np.full((i if j == levels - 1 else (j + 1) * m) - j * m,
                                        hist[j * m:(i if j == levels - 1 else (j + 1) * m)].mean())
                                for j in range(levels)])
        p, q = p / p.sum(), q / q.sum()
        mask = p > 0
        kl = math.inf if (q[mask] == 0).any() else float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
        if kl < best:
            best, best_i = kl, i
    if best_i is None:
        return float("nan")
    return ((best_i - 1) + (0.5 if half else 0.0)) * width if half else best_i * width


def _check_kl(fn, hist, width, levels):
    want = kl_ref(hist, width, levels)[0]
    got = fn(np.asarray(hist, np.float64), width, levels)
    if got is None:
        raise Fail("kl_threshold returned None: did you forget `return`?")
    expect_close(got, want, f"kl_threshold({list(hist)}, bin_width={width}, num_levels={levels})", rtol=1e-9,
                 mistakes={
                     "add the clipped outliers sum(hist[i:]) to the last kept bin P[i-1] before normalising":
                         _kl_variant(hist, width, levels, outliers=False),
                     "the threshold is the middle of the last kept bin: (m + 0.5) * bin_width, m = i - 1":
                         _kl_variant(hist, width, levels, half=False),
                     "when expanding Q, spread each group's total over its NON-ZERO bins only; empty bins stay 0":
                         _kl_variant(hist, width, levels, keep_zero=False),
                 },
                 hint="for i = num_levels .. len(hist): P = hist[:i] with the outliers added to P[i-1]; "
                      "Q = hist[:i] merged into num_levels groups and expanded (zeros stay zero); "
                      "KL(P||Q) after normalising; threshold = (argmin_i - 1 + 0.5) * bin_width")


@EX1.case("8 bins into 2 levels: the hand example of the chapter")
def _(fn):
    _check_kl(fn, [4, 2, 0, 1, 1, 0, 0, 2], 1.0, 2)


@EX1.case("a Laplace-like histogram with a long tail, 4 levels", points=2)
def _(fn):
    _check_kl(fn, [50, 30, 20, 12, 8, 5, 3, 2, 1, 1, 0, 0, 1, 0, 0, 1], 0.25, 4)


@EX1.case("empty bins inside the range (Q must keep them empty)")
def _(fn):
    _check_kl(fn, [9, 0, 7, 0, 5, 0, 3, 2, 0, 1], 0.5, 2)


# ----------------------------------------------------------------------------- 12.2
EX2 = exercise("12.2", "equalization_scale: the cross-layer equalization scales s_i of Nagel et al. (2019)")


def _check_scale(fn, r1, r2):
    r1, r2 = np.asarray(r1, np.float64), np.asarray(r2, np.float64)
    want = equalization_scales(r1, r2)
    got = fn(r1.copy(), r2.copy())
    if got is None:
        raise Fail("equalization_scale returned None: did you forget `return`?")
    expect_close(got, want, f"equalization_scale(r1={r1.tolist()}, r2={r2.tolist()})", rtol=1e-9, mistakes={
        "that is 1 / s: layer 1 is DIVIDED by s_i, so s_i = sqrt(r1_i r2_i) / r2_i (not / r1_i)":
            np.sqrt(r1 * r2) / r1,
        "s_i = r1_i / r2_i would swap the ranges; the geometric mean sqrt(r1_i r2_i) equalizes them":
            r1 / r2,
        "take the square root: s_i = sqrt(r1_i r2_i) / r2_i = sqrt(r1_i / r2_i)": r1 * r2 / r2,
    }, hint="s_i = sqrt(r1_i * r2_i) / r2_i, so that r1_i / s_i = r2_i * s_i = sqrt(r1_i r2_i)")


@EX2.case("two channels: r1 = (4, 1), r2 = (1, 4) gives s = (2, 0.5)")
def _(fn):
    _check_scale(fn, [4.0, 1.0], [1.0, 4.0])


@EX2.case("a depthwise layer's very unequal ranges", points=2)
def _(fn):
    _check_scale(fn, [0.01, 0.5, 3.0, 40.0], [2.0, 1.0, 0.3, 0.05])


# ----------------------------------------------------------------------------- 12.3
EX3 = exercise("12.3", "relu_gaussian_mean: E[ReLU(z)] for z ~ N(mu, sigma^2), the input of analytic bias correction")


def _phi(t):
    return np.exp(-t * t / 2) / math.sqrt(2 * math.pi)


def _Phi(t):
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(t) / math.sqrt(2))


def _check_relu(fn, mu, sigma):
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    want = relu_normal_mean(mu, sigma)
    got = fn(mu.copy(), sigma.copy())
    if got is None:
        raise Fail("relu_gaussian_mean returned None: did you forget `return`?")
    t = mu / sigma
    expect_close(got, want, f"relu_gaussian_mean(mu={mu.tolist()}, sigma={sigma.tolist()})", rtol=1e-6, atol=1e-9,
                 mistakes={
                     "ReLU is not linear: E[ReLU(z)] != ReLU(E[z]) (that ignores the spread sigma)": np.maximum(mu, 0),
                     "you have mu Phi(mu/sigma); add the part from the spread: + sigma phi(mu/sigma)": mu * _Phi(t),
                     "use the normal CDF Phi(mu / sigma) and PDF phi(mu / sigma) at t = mu / sigma, not at -t":
                         mu * _Phi(-t) + sigma * _phi(t),
                 },
                 hint="E[max(z, 0)] = mu Phi(mu / sigma) + sigma phi(mu / sigma)")


@EX3.case("mu = 0, sigma = 1: 1 / sqrt(2 pi)")
def _(fn):
    _check_relu(fn, [0.0], [1.0])


@EX3.case("several BatchNorm channels (beta, gamma)", points=2)
def _(fn):
    _check_relu(fn, [-1.0, 0.5, 2.0, 3.0], [0.5, 1.0, 2.0, 0.1])


# ----------------------------------------------------------------------------- 12.4
EX4 = exercise("12.4", "bn_statistics_loss: ZeroQ's loss for one BatchNorm layer")


def _loss(x, mean, var, kind="ok"):
    axes = (0, 2, 3)
    mu = x.mean(axis=axes)
    v = x.var(axis=axes)
    if kind == "per_sample":
        mu, v = x.mean(axis=(2, 3)).mean(0), x.var(axis=(2, 3)).mean(0)
    if kind == "var":
        return float(np.linalg.norm(mu - mean) + np.linalg.norm(v - var))
    if kind == "squared":
        return float(np.sum((mu - mean) ** 2) + np.sum((np.sqrt(v) - np.sqrt(var)) ** 2))
    if kind == "unbiased":
        v = x.var(axis=axes, ddof=1)
    return float(np.linalg.norm(mu - mean) + np.linalg.norm(np.sqrt(v) - np.sqrt(var)))


def _check_bn(fn, seed, n=8, c=3, h=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.5, (n, c, h, h))
    mean, var = rng.normal(0, 1, c), rng.uniform(0.5, 2, c)
    got = fn(x.copy(), mean.copy(), var.copy())
    if got is None:
        raise Fail("bn_statistics_loss returned None: did you forget `return`?")
    expect_close(got, _loss(x, mean, var), f"bn_statistics_loss(x of shape {x.shape})", rtol=1e-6, mistakes={
        "compare standard deviations, sqrt(var), not variances": _loss(x, mean, var, "var"),
        "ZeroQ uses the L2 norms (not their squares): ||mu - mu_BN||_2 + ||sigma - sigma_BN||_2":
            _loss(x, mean, var, "squared"),
        "the batch statistics are over N, H and W together (axes 0, 2, 3), not averaged per sample":
            _loss(x, mean, var, "per_sample"),
        "BatchNorm uses the biased variance (divide by the count, ddof=0)": _loss(x, mean, var, "unbiased"),
    }, hint="mu = x.mean((0, 2, 3)), sigma = x.std((0, 2, 3)); loss = ||mu - mean||_2 + ||sigma - sqrt(var)||_2")


@EX4.case("a batch of 8 samples, 3 channels")
def _(fn):
    _check_bn(fn, 0)


@EX4.case("other batches and shapes", points=2)
def _(fn):
    _check_bn(fn, 1, n=2, c=5, h=3)
    _check_bn(fn, 2, n=16, c=1, h=2)
