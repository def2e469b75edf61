"""Chapters 04-07: known wrong answers fail with their hint; a few right-but-different answers pass.

These call `check()` directly (no kernel), so they are fast. The masters passing every
check is tested for all chapters in test_wrong_answers.py.
"""
import heapq
import math

import numpy as np
import pytest

from exercises import check
from exercises.selftest import assert_covers, assert_rejects, case_ids
from exercises.registry import chapter_exercises

CHAPTERS_HERE = ("04", "05", "06", "07")


# ------------------------------------------------------------------ 04
def _percentile(kind):
    def f(x, p):
        x = np.asarray(x, np.float64).ravel()
        if kind == "same_p":
            return tuple(np.percentile(x, [p, p]))
        if kind == "fraction":
            return tuple(np.percentile(x, [(100 - p) / 100, p / 100]))
        if kind == "minmax":
            return x.min(), x.max()
        xs = np.sort(x)
        n = xs.size
        return xs[min(int((100 - p) / 100 * n), n - 1)], xs[min(int(p / 100 * n), n - 1)]
    return f


def _fold(kind):
    def f(w, b, gamma, beta, mean, var, eps=1e-5):
        den = np.sqrt(var) if kind == "no_eps" else (var + eps if kind == "var" else np.sqrt(var + eps))
        factor = gamma / den
        w_f = w * factor if kind == "last_axis" else w * factor.reshape((-1,) + (1,) * (w.ndim - 1))
        b_f = b * factor + beta if kind == "no_mean" else (b - mean) * factor + beta
        return w_f, b_f
    return f


def _qm(kind):
    def f(m):
        if m == 0:
            return 0, 0
        q, shift = math.frexp(m)
        m0 = int(q * 2 ** 31) if kind == "trunc" else int(math.floor(q * 2 ** 31 + 0.5))
        if kind != "no_renorm" and m0 == 2 ** 31:
            m0, shift = m0 // 2, shift + 1
        return m0, (-shift if kind == "sign" else shift)
    return f


def _requant(kind):
    def f(acc, m0, shift, z, quant_min, quant_max):
        if kind == "float":
            return np.clip(z + np.rint(acc.astype(np.float64) * (m0 * 2.0 ** (shift - 31))), quant_min, quant_max)
        x = acc.astype(np.int64) << max(shift, 0)
        ab = x * np.int64(m0)
        n = ab + np.where(ab >= 0, 2 ** 30, 1 - 2 ** 30)
        high = n // 2 ** 31 if kind == "floor" else np.sign(n) * (np.abs(n) // 2 ** 31)
        r = max(-shift, 0)
        mask = (1 << r) - 1
        y = high >> r if kind == "plain_shift" else (high >> r) + ((high & mask) > ((mask >> 1) + (high < 0)))
        if kind == "no_zero":
            return np.clip(y, quant_min, quant_max)
        return z + y if kind == "no_clip" else np.clip(z + y, quant_min, quant_max)
    return f


# ------------------------------------------------------------------ 05
def _lsq(kind):
    def f(x, s, z, quant_min, quant_max, g):
        q = np.rint(x / s) + z
        v = x / s + z
        if kind == "paper":
            inside = (v > quant_min) & (v < quant_max)
            inner = np.rint(np.clip(v, quant_min, quant_max)) - z - x / s
            below = v <= quant_min
        else:
            inside = (q >= quant_min) & (q <= quant_max)
            inner = (q - z) - x / s
            below = q < quant_min
        lo, hi = (quant_min, quant_max) if kind == "no_z_edges" else (quant_min - z, quant_max - z)
        d = np.where(inside, inner, np.where(below, lo, hi))
        if kind == "no_scale":
            return g * d
        qp = quant_max - quant_min if kind == "range" else quant_max
        return g * d / np.sqrt(x.size * qp)
    return f


def _pact(kind):
    def f(x, alpha, g):
        dx = g * (x <= alpha) if kind == "no_zero_clip" else g * ((x >= 0) & (x <= alpha))
        if kind == "strict":
            return dx, np.sum(g * (x > alpha))
        if kind == "per_element":
            return dx, g * (x >= alpha)
        return dx, np.sum(g * (x >= alpha))
    return f


# ------------------------------------------------------------------ 06
def _approx(kind):
    def f(x, g):
        if kind == "clipped":
            return g * (np.abs(x) <= 1)
        inside = (x >= -1) & (x < 1)
        slope = 1 - np.abs(x) if kind == "half" else (2 - 2 * x if kind == "no_abs" else 2 - 2 * np.abs(x))
        return g * np.where(inside, slope, 0)
    return f


def _twn(kind):
    def f(w):
        a = np.abs(w)
        delta = 0.7 * (np.mean(w) if kind == "signed_delta" else a.mean())
        keep = a >= delta if kind == "ge" else a > delta
        if kind == "all":
            return delta, a.mean()
        if kind == "naive":
            return delta, a[keep].mean()
        return delta, a[keep].mean() if keep.any() else 0.0
    return f


def _ede(kind):
    def f(e, E, t_min=0.1, t_max=10.0):
        if kind == "linear":
            t = t_min + (t_max - t_min) * e / E
        else:
            t = 10 ** (math.log10(t_min) + (math.log10(t_max) - math.log10(t_min)) * e / E)
        return t, (1 / t if kind == "no_max" else max(1 / t, 1.0))
    return f


def _entropy(kind):
    def f(b):
        p = float(np.mean(b > 0))
        if p in (0.0, 1.0):
            return 0.0
        log = np.log if kind == "ln" else np.log2
        return -p * log(p) - (1 - p) * log(1 - p)
    return f


def _entropy_unguarded(b):
    p = float(np.mean(b > 0))
    return float(-p * np.log2(p) - (1 - p) * np.log2(1 - p))  # p = 1: 0 * log2(0) is nan, with a warning


# ------------------------------------------------------------------ 07
def _lloyd(kind):
    def f(w, c):
        d = np.abs(w[:, None] - c[None, :])
        labels = c.size - 1 - np.argmin(d[:, ::-1], axis=1) if kind == "upper" else np.argmin(d, axis=1)
        new = c.astype(np.float64).copy()
        for j in range(c.size):
            m = w[labels == j]
            if kind == "empty_nan":
                new[j] = m.mean() if m.size else np.nan
            elif m.size:
                new[j] = np.median(m) if kind == "median" else m.mean()
        return new
    return f


def _rexp(kind):
    def f(a, rounding):
        m, e = np.frexp(a)
        if kind == "floor":
            return e - 1
        if kind == "swapped":
            rounding = "value" if rounding == "log" else "log"
        if kind == "rint_log2":
            return np.rint(np.log2(a))
        return (e - 1) + (2 * m >= (np.sqrt(2) if rounding == "log" else 1.5))
    return f


def _huffman(kind):
    def f(freq):
        freq = np.asarray(freq, dtype=np.float64)
        if kind == "shannon":
            p = freq / freq.sum()
            with np.errstate(divide="ignore"):
                return np.where(freq > 0, np.ceil(-np.log2(np.where(freq > 0, p, 1))), 0).astype(int)
        lengths = np.zeros(freq.size, dtype=int)
        sign = -1 if kind == "max_heap" else 1
        heap = [(sign * f, i, [i]) for i, f in enumerate(freq) if f > 0]
        heapq.heapify(heap)
        counter = freq.size
        while len(heap) > 1:
            f1, _, s1 = heapq.heappop(heap)
            f2, _, s2 = heapq.heappop(heap)
            lengths[s1 + s2] += 1
            heapq.heappush(heap, (f1 + f2, counter, s1 + s2))
            counter += 1
        return lengths
    return f


def _cg(kind):
    def f(g, idx, K):
        idx = idx.ravel().astype(np.int64)
        if kind == "no_minlength":
            return np.bincount(idx, weights=g.ravel())
        sums = np.bincount(idx, weights=g.ravel(), minlength=K)
        if kind == "mean":
            return sums / np.maximum(np.bincount(idx, minlength=K), 1)
        return np.bincount(idx, minlength=K).astype(float)  # counts
    return f


WRONG = [
    ("4.1", _percentile("same_p"), "(100 - p)-th percentile"),
    ("4.1", _percentile("fraction"), "not a fraction"),
    ("4.1", _percentile("nearest"), "interpolates linearly"),
    ("4.1", _percentile("minmax"), "that is the min-max range"),
    ("4.2", _fold("no_eps"), "add eps inside the square root"),
    ("4.2", _fold("var"), "not by the variance"),
    ("4.2", _fold("last_axis"), "scale each OUTPUT channel"),
    ("4.2", _fold("no_mean"), "subtract the running mean"),
    ("4.3", _qm("trunc"), "do not truncate"),
    ("4.3", _qm("sign"), "shift > 0 is a LEFT shift"),
    ("4.3", _qm("no_renorm"), "halve M0 and add 1 to shift"),
    ("4.4", _requant("float"), "rounds ties to even"),
    ("4.4", _requant("floor"), "not numpy's floor"),
    ("4.4", _requant("plain_shift"), "must round (half away from zero)"),
    ("4.4", _requant("no_zero"), "add the output zero point"),
    ("4.4", _requant("no_clip"), "clip the result"),
    ("5.1", lambda x, g: g, "identity STE"),
    ("5.1", lambda x, g: g * (np.abs(x) < 1), "closed interval"),
    ("5.1", lambda x, g: (np.abs(x) <= 1).astype(float), "not the mask alone"),
    ("5.2", _lsq("no_scale"), "forgot the gradient scale"),
    ("5.2", _lsq("paper"), "clip-then-round"),
    ("5.2", _lsq("no_z_edges"), "subtract z"),
    ("5.2", _lsq("range"), "Qp in the gradient scale is quant_max"),
    ("5.3", _pact("no_zero_clip"), "PACT clips at 0 too"),
    ("5.3", _pact("strict"), "use x >= alpha"),
    ("5.3", _pact("per_element"), "should be one number"),
    ("6.1", lambda w: w.reshape(w.shape[0], -1).mean(axis=1), "mean |W|, not mean W"),
    ("6.1", lambda w: np.abs(w).reshape(w.shape[0], -1).max(axis=1), "not the max"),
    ("6.1", lambda w: np.abs(w).mean(), "one scale per output channel"),
    ("6.1", lambda w: np.abs(w).mean(axis=0).reshape(-1), "reduce over every axis except 0"),
    ("6.2", _approx("clipped"), "hardtanh) STE"),
    ("6.2", _approx("half"), "not 1 - |x|"),
    ("6.2", _approx("no_abs"), "use |x|"),
    ("6.3", _twn("signed_delta"), "take the absolute value first"),
    ("6.3", _twn("all"), "only the survivors"),
    ("6.3", _twn("ge"), "(strictly)"),
    ("6.3", _twn("naive"), "not the mean of an empty array"),
    ("6.4", _ede("linear"), "grows geometrically"),
    ("6.4", _ede("no_max"), "k stays 1"),
    ("6.5", _entropy("ln"), "not the natural log"),
    ("6.5", _entropy_unguarded, "return 0 when p is 0 or 1"),
    ("7.1", _lloyd("upper"), "goes to the LOWER one"),
    ("7.1", _lloyd("empty_nan"), "keeps its old value"),
    ("7.1", _lloyd("median"), "not the median"),
    ("7.2", _rexp("swapped"), "-domain rounding"),
    ("7.2", _rexp("floor"), "floor(log2 a) truncates"),
    ("7.2", _rexp("rint_log2"), "that is log-domain rounding"),  # right for "log", wrong for "value"
    ("7.3", _huffman("shannon"), "Shannon's lengths"),
    ("7.3", _huffman("max_heap"), "RAREST"),
    ("7.4", _cg("mean"), "do not average"),
    ("7.4", _cg("counts"), "not count the members"),
    ("7.4", _cg("no_minlength"), "minlength=K"),
]


@pytest.mark.parametrize("exercise, fn, hint", WRONG, ids=case_ids(WRONG))
def test_wrong_answer_fails_with_its_hint(exercise, fn, hint):
    assert_rejects(exercise, fn, hint)


def test_every_exercise_of_chapters_04_to_07_has_a_wrong_answer_test():
    assert_covers(CHAPTERS_HERE, WRONG)
    assert all(len(chapter_exercises(ch)) >= 3 for ch in CHAPTERS_HERE)


# ------------------------------------------------------------------ right answers written differently pass
def _huffman_tie_last(freq):
    """Huffman with ties broken the other way: other lengths, the same optimal total."""
    freq = list(freq)
    lengths = [0] * len(freq)
    heap = [(f, -i, [i]) for i, f in enumerate(freq) if f > 0]
    heapq.heapify(heap)
    counter = 0
    while len(heap) > 1:
        f1, _, s1 = heapq.heappop(heap)
        f2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        counter -= 1
        heapq.heappush(heap, (f1 + f2, counter - len(freq), s1 + s2))
    return lengths


def test_another_optimal_huffman_code_passes():
    from qnn_lite.quantizers.cluster import huffman_code_lengths
    freq = [1, 1, 2, 2]
    assert list(_huffman_tie_last(freq)) != list(huffman_code_lengths(np.array(freq)))  # really a different code
    r = check("7.3", _huffman_tie_last, quiet=True)
    assert r.passed, r.report()


def test_float32_and_python_int_answers_pass():
    """Answers of another dtype or type are judged by value."""
    r = check("4.1", lambda x, p: np.percentile(x, [100 - p, p]), quiet=True)  # an array, not a tuple
    assert r.passed, r.report()
    r = check("6.1", lambda w: np.abs(w).reshape(w.shape[0], -1).mean(axis=1).astype(np.float32), quiet=True)
    assert r.passed, r.report()
    r = check("7.2", lambda a, rounding: [int(v) for v in _rexp("right")(a, rounding)], quiet=True)
    assert r.passed, r.report()


def test_reference_values_by_hand():
    """The references the checks use, on cases computed by hand."""
    from qnn_lite.transforms.requant import quantize_multiplier, requantize
    from qnn_lite.quantizers.cluster import huffman_code_lengths
    from qnn_lite.quantizers.log import round_exponent
    from qnn_lite.quantizers.ternary import twn_params
    assert quantize_multiplier(0.25) == (2 ** 30, -1) and quantize_multiplier(2.0) == (2 ** 30, 2)
    assert requantize(np.array([3, -3, 5], np.int32), 2 ** 30, 0, 0, -128, 127).tolist() == [2, -1, 3]
    assert huffman_code_lengths(np.array([4, 2, 1, 1])).tolist() == [1, 2, 3, 3]
    assert round_exponent(np.array([1.45]), "log").tolist() == [1]
    assert round_exponent(np.array([1.45]), "value").tolist() == [0]
    delta, alpha = twn_params(np.array([0.7, -2.0, 1.0, 0.3]))
    assert np.isclose(delta, 0.7) and np.isclose(alpha, 1.5)
