"""Chapters 08-10 exercises: known wrong answers fail with their hint, and the checks' references equal qnn_lite.

The masters scoring 100 % (here and in a real kernel), the student notebooks scoring 0 and
matching `build` are covered by the dynamic tests in test_wrong_answers.py, test_grade.py and
test_build.py, which enumerate every master.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exercises import check
from exercises.selftest import assert_covers, assert_rejects, case_ids
from exercises.registry import chapter_exercises

CHAPTERS = ("08", "09", "10")


# ------------------------------------------------------------------ 08: wrong answers
def _sr(rule):
    def f(x, u):
        lo = np.trunc(x) if rule == "trunc" else np.floor(x)
        frac = x - lo
        return lo + {"gt": u > frac, "flip": u >= 1 - frac, "trunc": u < frac}[rule]
    return f


def _mv(kind):
    def f(x, delta):
        v = x / delta
        p = v - np.floor(v)
        mean, var = x, p * (1 - p) * delta ** 2
        if kind == "no_delta2":
            var = p * (1 - p)
        elif kind == "delta1":
            var = p * (1 - p) * delta
        elif kind == "nearest":
            mean = np.rint(v) * delta
        elif kind == "twelfth":
            var = np.full(x.shape, delta ** 2 / 12)
        elif kind == "raw_p":
            q = x - np.floor(x)
            var = q * (1 - q) * delta ** 2
        return mean, var
    return f


def _fx(lo_off=0, hi_off=-1, scale=1, rounder=np.rint, clip=True):
    def f(x, il, fl):
        d, top = 2.0 ** -fl, scale * 2.0 ** (il + fl - 1)
        q = rounder(x / d)
        return (np.clip(q, -top + lo_off, top + hi_off) if clip else q) * d
    return f


def _qk(kind):
    def f(x, bits):
        n = 2 ** bits - 1
        if kind == "2^k":
            return np.rint(x * 2 ** bits) / 2 ** bits
        if kind == "no_div":
            return np.rint(x * n)
        if kind == "floor":
            return np.floor(x * n) / n
        return np.floor(x * n + 0.5) / n
    return f


def _qk_ok(x, bits):
    n = 2 ** bits - 1
    return np.rint(x * n) / n


def _dw(kind):
    def f(w, bits):
        t = w if kind == "no_tanh" else np.tanh(w)
        m = np.abs(w).max() if kind in ("no_tanh", "max_w") else np.abs(t).max()
        if kind == "no_map":
            return _qk_ok(t / (2 * m) + 0.5, bits)
        if kind == "no_shift":
            return 2 * _qk_ok(t / (2 * m), bits) - 1
        return 2 * _qk_ok(t / (2 * m) + 0.5, bits) - 1
    return f


# ------------------------------------------------------------------ 09: wrong answers
def _pack_wrong(kind):
    def f(x):
        x = np.asarray(x)
        bits = x > 0 if kind == "gt" else (x < 0 if kind == "inv" else x >= 0)
        words = -(-bits.size // 64)
        full = np.full(words * 64, kind == "pad1", dtype=np.uint64)
        full[:bits.size] = bits
        shifts = np.arange(64, dtype=np.uint64)
        if kind == "msb":
            shifts = shifts[::-1].copy()
        out = np.bitwise_or.reduce(full.reshape(words, 64) << shifts, axis=1)
        return out.astype(np.float64) if kind == "float" else out
    return f


def _bmm(kind):
    def f(A, B, k):
        if kind == "xnor":
            return 2 * np.bitwise_count(~(A[:, None] ^ B[None])).sum(-1, dtype=np.int64) - k
        op = np.bitwise_and if kind == "and" else np.bitwise_xor
        if kind == "wrap":
            return k - 2 * np.bitwise_count(op(A[:, None], B[None])).sum(-1, dtype=np.uint64)
        pc = np.bitwise_count(op(A[:, None], B[None])).sum(-1, dtype=np.int64)
        return {"count": pc, "k-pc": k - pc, "64w": 64 * A.shape[1] - 2 * pc, "and": k - 2 * pc}[kind]
    return f


def _planes(kind):
    def f(x, bits):
        src = np.abs(x) if kind == "mag" else x
        p = np.stack([(src >> m) & 1 for m in range(bits)])
        return p[::-1] if kind == "msb" else p
    return f


def _bsd(kind):
    def f(xp, yp, xs, ys):
        def wts(bits, signed):
            w = [2 ** m for m in range(bits)]
            if signed and kind != "unsigned":
                w[-1] = -w[-1]
            return w
        wx, wy = wts(len(xp), xs), wts(len(yp), ys and kind != "ignore_y")
        op = np.bitwise_xor if kind == "xor" else np.bitwise_and
        total = 0
        for m in range(len(xp)):
            for n in range(len(yp)):
                wn = 1 if kind == "x_only" else wy[n]
                total += wx[m] * wn * int(np.bitwise_count(op(xp[m], yp[n])).sum())
        return total
    return f


# ------------------------------------------------------------------ 10: wrong answers
def _cyc(minus=2, preload=("ws", "is"), fold=math.ceil, is_map=(None,)):
    def f(M, K, N, rows, cols, df):
        Sr, Sc, T = {"ws": (K, N, M), "os": (M, N, K), "is": (K, M, N) if is_map else (K, N, M)}[df]
        folds = fold(Sr / rows) * fold(Sc / cols) if fold else 1
        return folds * ((rows if df in preload else 0) + T + rows + cols - minus)
    return f


def _roof(kind):
    def f(M, K, N, ab, wb, ob, peak, bw):
        ops = M * K * N if kind == "macs" else 2 * M * K * N
        bits = M * K * ab + K * N * wb + (0 if kind == "no_out" else M * N * (ab if kind == "out_a" else ob))
        i = ops / (bits if kind == "bits" else bits / 8)
        p = {"max": max(peak, i * bw), "nocap": i * bw, "ridge": peak / bw}.get(kind, min(peak, i * bw))
        return i, p
    return f


def _fm(kind):
    def f(a, w, a_signed, w_signed):
        def vals(x, signed):
            pat = x & 15
            low, high = pat & 3, (pat >> 2) & 3
            if signed and kind != "unsigned_top":
                if high >= 2:
                    high -= 4
                if kind == "all_signed" and low >= 2:
                    low -= 4
            return [low, high]
        av, wv = vals(a, a_signed), vals(w, w_signed)
        pp = np.array([[av[s] * wv[t] for t in range(2)] for s in range(2)])
        shift = 1 if kind == "shift1" else 2
        prod = sum(int(pp[s, t]) << (shift * (s + t)) for s in range(2) for t in range(2))
        return (pp[::-1, ::-1] if kind == "msb" else pp), prod
    return f


WRONG = [
    ("8.1", lambda x, u: np.rint(x), "that is round-to-nearest"),
    ("8.1", _sr("gt"), "not when u > p"),
    ("8.1", _sr("flip"), "draw by draw"),
    ("8.1", _sr("trunc"), "use floor, not trunc"),
    ("8.2", _mv("no_delta2"), "multiply p(1 - p) by Δ²"),
    ("8.2", _mv("delta1"), "Δ², not Δ"),
    ("8.2", _mv("nearest"), "unbiased"),
    ("8.2", _mv("twelfth"), "Δ²/12"),
    ("8.2", _mv("raw_p"), "measured in grid steps"),
    ("8.3", _fx(clip=False), "saturate"),
    ("8.3", _fx(hi_off=0), "2^(IL-1) - Δ"),
    ("8.3", _fx(lo_off=1), "one more negative code"),
    ("8.3", _fx(scale=2), "IL counts the sign bit"),
    ("8.3", _fx(rounder=np.floor), "not floor"),
    ("8.3", _fx(rounder=lambda v: np.floor(v + 0.5)), "ties go to even"),
    ("8.4", _qk("2^k"), "2^k levels"),
    ("8.4", _qk("no_div"), "divide by 2^k - 1 again"),
    ("8.4", _qk("floor"), "not floor"),
    ("8.4", _qk("half_up"), "ties go to even"),
    ("8.5", _dw("no_tanh"), "squash with tanh"),
    ("8.5", _dw("max_w"), "not max|w|"),
    ("8.5", _dw("no_map"), "map back to [-1, 1]"),
    ("8.5", _dw("no_shift"), "shift by 1/2"),
    ("9.1", _pack_wrong("gt"), "sign(0) = +1"),
    ("9.1", _pack_wrong("inv"), "bit 1 stands for +1"),
    ("9.1", _pack_wrong("msb"), "LSB first"),
    ("9.1", _pack_wrong("pad1"), "pad the last word with 0 bits"),
    ("9.1", _pack_wrong("float"), "float64 cannot hold"),
    ("9.2", _bmm("count"), "counts the mismatches"),
    ("9.2", _bmm("k-pc"), "subtract 2 popcount"),
    ("9.2", _bmm("64w"), "use the true k"),
    ("9.2", _bmm("xnor"), "XNOR sets the padding"),
    ("9.2", _bmm("and"), "AND only where both"),
    ("9.2", _bmm("wrap"), "wrapped around"),
    ("9.3", _planes("msb"), "plane 0 is the least significant"),
    ("9.3", _planes("mag"), "two's-complement pattern"),
    ("9.4", _bsd("xor"), "AND, not XOR"),
    ("9.4", _bsd("unsigned"), "-2^(bits-1)"),
    ("9.4", _bsd("x_only"), "2^(m+n)"),
    ("9.4", _bsd("ignore_y"), "y is signed too"),
    ("10.1", _cyc(minus=0), "you forgot the - 2"),
    ("10.1", _cyc(preload=()), "first spend `rows` cycles"),
    ("10.1", _cyc(preload=("ws", "is", "os")), "OS has nothing to preload"),
    ("10.1", _cyc(fold=lambda v: max(1, math.floor(v))), "partial fold"),
    ("10.1", _cyc(fold=lambda v: int(v)), "partial fold"),
    ("10.1", _cyc(fold=None), "is cut into"),
    ("10.1", _cyc(is_map=()), "IS keeps A^T"),
    ("10.2", lambda a, w: (8 // a) * (8 // w), "max(b, 2)"),
    ("10.2", lambda a, w: 16 // ((8 // max(a, 2)) * (8 // max(w, 2))), "bricks per product"),
    ("10.3", _roof("macs"), "2 ops per multiply"),
    ("10.3", _roof("bits"), "bytes = bits / 8"),
    ("10.3", _roof("no_out"), "the output C"),
    ("10.3", _roof("out_a"), "its own bit-width"),
    ("10.3", _roof("max"), "LOWER roof"),
    ("10.3", _roof("nocap"), "cap the memory roof"),
    ("10.3", _roof("ridge"), "ridge point"),
    ("10.4", _fm("unsigned_top"), "top slice of a signed operand is signed"),
    ("10.4", _fm("all_signed"), "only the top slice carries the sign"),
    ("10.4", _fm("msb"), "LSB first"),
    ("10.4", _fm("shift1"), "shift by 2(s + t)"),
]


@pytest.mark.parametrize("exercise, fn, hint", WRONG, ids=case_ids(WRONG))
def test_wrong_answer_fails_with_its_hint(exercise, fn, hint):
    assert_rejects(exercise, fn, hint)


def test_every_exercise_of_chapters_08_to_10_has_a_wrong_answer_test():
    assert_covers(CHAPTERS, WRONG)
    assert all(len(chapter_exercises(ch)) >= 3 for ch in CHAPTERS)


def test_a_stub_scores_zero_and_a_correct_answer_ignores_stdout():
    def stub(*args):
        raise NotImplementedError("Exercise 10.2: do it")

    def chatty(a, w):
        print("debug", a, w)
        return (8 // max(a, 2)) * (8 // max(w, 2))
    r = check("10.2", stub, quiet=True)
    assert r.points == 0 and all(c.hint.startswith("not attempted yet") for c in r.cases)
    assert check("10.2", chatty, quiet=True).points == 4


# ------------------------------------------------------------------ references = qnn_lite
def test_8_1_draws_are_the_library_draws():
    from exercises.checks.ch08 import sr_given_u
    from qnn_lite.quantizers.stochastic import stochastic_round
    x = np.random.default_rng(3).uniform(-6, 6, size=500)
    for seed in (0, 7, 8):
        got = sr_given_u(x, np.random.default_rng(seed).random(x.shape))
        np.testing.assert_array_equal(got, stochastic_round(x, seed))
    assert not np.array_equal(sr_given_u(x, np.random.default_rng(1).random(x.shape)), stochastic_round(x, 0))


def test_8_2_reference_matches_the_library_by_monte_carlo():
    """mean and variance of 20 000 draws of qnn_lite's stochastic_quantize, within 5 standard errors."""
    from exercises.checks.ch08 import sr_mean_var_ref
    from qnn_lite.quantizers.stochastic import stochastic_quantize
    x, delta, n = np.array([0.3, -0.61, 1.0, 0.124]), 0.25, 20_000
    draws = stochastic_quantize(np.tile(x, (n, 1)), delta, -100, 100, rng=0)
    mean, var = sr_mean_var_ref(x, delta)
    np.testing.assert_allclose(mean, x, atol=1e-12)
    assert abs(var[2]) < 1e-15 and var[0] == pytest.approx(0.2 * 0.8 * delta ** 2)
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) <= 5 * se_mean + 1e-12)
    se_var = delta ** 2 / np.sqrt(n)      # sd of the sample variance of delta * Bernoulli(p) is at most this
    assert np.all(np.abs(draws.var(axis=0) - var) <= 5 * se_var)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 200), seed=st.integers(0, 2 ** 16))
def test_9_references_equal_the_kernels(k, seed):
    """The ch09 numpy mirrors equal pack_rows, pack_bitplanes_rows, binary_matmul and bit_serial_matmul."""
    from exercises.checks.ch09 import bitplanes_ref, pack_bits_ref, packed_planes_ref
    from qnn_lite.kernels import binary_matmul, bit_serial_matmul, pack_bitplanes_rows, pack_rows
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(3, k))
    A[0, : k // 2] = 0.0                                              # sign(0) = +1
    packed = np.stack([pack_bits_ref(r) for r in A])
    np.testing.assert_array_equal(packed, pack_rows(A))
    pm = np.where(A >= 0, 1, -1)
    np.testing.assert_array_equal(binary_matmul(packed, packed, k), pm @ pm.T)
    for bits, signed in ((2, False), (4, True), (8, True)):
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if signed else (0, 2 ** bits)
        x, y = rng.integers(lo, hi, size=k), rng.integers(lo, hi, size=k)
        lib = pack_bitplanes_rows(x[None], bits, signed)[:, 0, :]
        np.testing.assert_array_equal(packed_planes_ref(x, bits), lib)
        assert bitplanes_ref(x, bits).shape == (bits, k)
        assert bit_serial_matmul(x[None], y[:, None], bits, bits, signed, signed)[0, 0] == int(x @ y)


def test_9_1_hand_example_is_0xb9():
    from exercises.checks.ch09 import pack_bits_ref
    assert pack_bits_ref(np.array([1, -1, -1, 1, 1, 1, -1, 1])).tolist() == [0xB9]


def test_10_hand_values():
    from qnn_lite.hw import estimate_cycles, gemm_intensity
    assert estimate_cycles(5, 4, 3, 4, 4, "ws") == 2 * 4 + 4 + 5 - 2
    assert gemm_intensity(64, 64, 64, 8, 8, 32) == pytest.approx(2 * 64 ** 3 / 24576)
