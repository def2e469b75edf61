"""Chapter 07 (non-uniform quantization): a Lloyd step, power-of-two rounding, Huffman lengths, codebook gradients.

The reference for every case is `qnn_lite.quantizers.cluster` and `qnn_lite.quantizers.log`.
"""
from __future__ import annotations

import numpy as np

from qnn_lite.quantizers.cluster import codebook_gradient as codebook_gradient_ref
from qnn_lite.quantizers.cluster import huffman_code_lengths as huffman_ref
from qnn_lite.quantizers.cluster import kmeans_quantize
from qnn_lite.quantizers.log import round_exponent as round_exponent_ref

from ..runner import Fail
from ..expect import as_array, expect_close
from ..registry import exercise

# ----------------------------------------------------------------------------- 7.1
EX1 = exercise("7.1", "lloyd_step: one k-means iteration (assign to nearest, move to the mean)")


def _assign(w, c, upper=False):
    d = np.abs(w[:, None] - c[None, :])
    if upper:
        d = d[:, ::-1]
        return c.size - 1 - np.argmin(d, axis=1)
    return np.argmin(d, axis=1)


def _update(w, c, labels, reduce=np.mean, keep_empty=True):
    out = c.astype(np.float64).copy()
    for j in range(c.size):
        members = w[labels == j]
        if members.size:
            out[j] = reduce(members)
        elif not keep_empty:
            out[j] = 0.0
    return out


def _check_lloyd(fn, w, c):
    want = np.asarray(kmeans_quantize(w, init=c, n_iter=1, tol=0.0)[0], np.float64)
    got = fn(w.copy(), c.copy())
    w64, c64 = w.astype(np.float64), c.astype(np.float64)
    labels = _assign(w64, c64)
    if got is not None and np.isnan(np.asarray(got, dtype=np.float64)).any():
        raise Fail("new centroids contain NaN: the mean of no weights is NaN; "
                   "a centroid that gets no weights keeps its old value")
    expect_close(got, want, "new centroids", rtol=1e-9, atol=1e-12, mistakes={
        "a weight exactly halfway between two centroids goes to the LOWER one":
            _update(w64, c64, _assign(w64, c64, upper=True)),
        "a centroid that gets no weights keeps its old value": _update(w64, c64, labels, keep_empty=False),
        "move each centroid to the MEAN of its weights, not the median": _update(w64, c64, labels, np.median),
        "assign every weight to its nearest centroid first, then average": c64,
    }, hint="labels = argmin_j |w - c_j| (ties to the lower j); c_j = mean(w[labels == j]), "
            "unchanged if empty")


@EX1.case("linear init on Gaussian weights")
def _(fn):
    w = np.random.default_rng(0).normal(size=200)
    _check_lloyd(fn, w, np.linspace(w.min(), w.max(), 4))


@EX1.case("a weight exactly on a midpoint goes to the lower centroid")
def _(fn):
    _check_lloyd(fn, np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0.0, 2.0, 4.0]))


@EX1.case("an empty cluster keeps its centroid")
def _(fn):
    _check_lloyd(fn, np.array([-1.0, -0.9, -1.1, 1.0, 1.2, 0.8]), np.array([-1.0, 0.1, 0.2, 1.0]))


# ----------------------------------------------------------------------------- 7.2
EX2 = exercise("7.2", "round_exponent: nearest power of two in the log domain or the value domain")


def _check_rexp(fn, a, rounding):
    want = round_exponent_ref(a, rounding).astype(np.float64)
    got = as_array(fn(a.copy(), rounding), f"round_exponent(a, {rounding!r})", a.shape)
    m, e = np.frexp(a)
    f = 2 * m
    other = "value" if rounding == "log" else "log"
    expect_close(got, want, f"round_exponent(a, {rounding!r})", rtol=0, atol=0, mistakes={
        f"that is {other}-domain rounding: {rounding!r} rounds up when the mantissa f (a = f 2^k, 1 <= f < 2) "
        f"is >= {'sqrt(2) ~ 1.414' if rounding == 'log' else '1.5'}":
            round_exponent_ref(a, other).astype(np.float64),
        "floor(log2 a) truncates: round to the NEAREST power of two": (e - 1).astype(np.float64),
        "ceil goes up always: round to the NEAREST power of two": np.ceil(np.log2(a)),
    }, hint="a = f 2^k with f in [1, 2) (np.frexp); 'log': k + (f >= sqrt 2); 'value': k + (f >= 1.5)")


_BAND = np.array([1.45, 2.9, 0.72, 0.36, 5.8, 11.5])          # f in [sqrt 2, 1.5): the two rules disagree
_EASY = np.array([1.0, 0.5, 4.0, 1.2, 1.9, 0.3, 100.0, 3e-3])


@EX2.case("log-domain rounding (round log2 a)")
def _(fn):
    _check_rexp(fn, np.concatenate([_EASY, _BAND]), "log")


@EX2.case("value-domain rounding (nearest on the real line)")
def _(fn):
    _check_rexp(fn, np.concatenate([_EASY, _BAND]), "value")


@EX2.case("ties: 1.5 goes up to 2 in the value domain; sqrt(2)-band values differ between the two")
def _(fn):
    a = np.array([1.5, 3.0, 0.75, 1.4142, 1.4143, 1.49])
    _check_rexp(fn, a, "value")
    _check_rexp(fn, a, "log")


# ----------------------------------------------------------------------------- 7.3
EX3 = exercise("7.3", "huffman_code_lengths: bits per symbol of a Huffman code")


def _shannon(freq):
    p = freq / freq.sum()
    with np.errstate(divide="ignore"):
        return np.where(freq > 0, np.ceil(-np.log2(np.where(freq > 0, p, 1))), 0)


def _check_huffman(fn, freq):
    freq = np.asarray(freq)
    want = huffman_ref(freq)
    got = as_array(fn(freq.copy()), "huffman_code_lengths(freq)", freq.shape)
    if np.any(got != np.rint(got)) or np.any(got < 0):
        raise Fail(f"code lengths must be whole numbers of bits >= 0, got {got}")
    if np.any((freq == 0) & (got != 0)):
        raise Fail("a symbol that never occurs gets 0 bits (leave it out of the tree)")
    used = freq > 0
    total, best = float(np.sum(freq * got)), float(np.sum(freq * want))
    if used.sum() > 1 and (np.sum(2.0 ** -got[used]) > 1 + 1e-12 or np.any(got[used] == 0)):
        raise Fail(f"lengths {got.astype(int).tolist()} break the Kraft inequality sum 2^-l <= 1: no prefix code has "
                   "them. Merge the two rarest groups, adding one bit to every symbol in both")
    if total != best:
        shannon = _shannon(freq)
        hint = ("those are Shannon's lengths ceil(-log2 p); Huffman's are optimal: repeatedly merge "
                "the two RAREST groups, adding one bit to every symbol in both"
                if np.array_equal(got, shannon) else
                "merge the two RAREST groups each time (heapq pops the smallest), adding one bit to each symbol inside")
        raise Fail(f"total size sum(freq * length) = {total:g} bits, the optimum is {best:g} "
                   f"(e.g. lengths {want.tolist()})\n{hint}")


@EX3.case("(4, 2, 1, 1) -> (1, 2, 3, 3)")
def _(fn):
    _check_huffman(fn, [4, 2, 1, 1])


@EX3.case("skewed cluster counts beat ceil(log2 K) bits")
def _(fn):
    _check_huffman(fn, [400, 90, 30, 20, 5, 3, 1, 1])
    _check_huffman(fn, [1, 4, 9, 2, 30])


@EX3.case("unused symbols get 0 bits; one used symbol gets 0 bits")
def _(fn):
    _check_huffman(fn, [0, 5, 3, 0, 2])
    _check_huffman(fn, [0, 7, 0])


# ----------------------------------------------------------------------------- 7.4
EX4 = exercise("7.4", "codebook_gradient: the gradient of each shared value (sum over its weights)")


def _check_cg(fn, grad_w, idx, k):
    want = np.asarray(codebook_gradient_ref(grad_w, idx, k), np.float64)
    got = fn(grad_w.copy(), idx.copy(), k)
    if got is not None and np.shape(got) != (k,):
        raise Fail(f"the codebook gradient has shape {np.shape(got)}, expected ({k},): one entry per centroid, "
                   "0 for a centroid no weight uses (np.bincount(..., minlength=K))")
    counts = np.bincount(idx.ravel(), minlength=k)
    sums = np.bincount(idx.ravel(), weights=grad_w.ravel(), minlength=k)
    expect_close(got, want, "dL/dc", rtol=1e-9, atol=1e-12, mistakes={
        "a shared value moves every weight that uses it: SUM their gradients, do not average":
            sums / np.maximum(counts, 1),
        "weights are grad_w at those positions: sum the gradients, not count the members": counts.astype(float),
    }, hint="dL/dc_k = sum of grad_w[indices == k]")


@EX4.case("a (4, 5) layer with 4 clusters")
def _(fn):
    rng = np.random.default_rng(0)
    _check_cg(fn, rng.normal(size=(4, 5)), rng.integers(0, 4, size=(4, 5)), 4)


@EX4.case("an unused centroid gets gradient 0 (also the last one)")
def _(fn):
    g = np.array([0.5, -1.0, 2.0, 0.25, 1.0])
    _check_cg(fn, g, np.array([0, 2, 2, 0, 2]), 4)


@EX4.case("16 clusters on a conv weight (uint8 indices)")
def _(fn):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3, 3, 3))
    _, idx = kmeans_quantize(w, n_clusters=16)
    _check_cg(fn, rng.normal(size=w.shape), idx, 16)
