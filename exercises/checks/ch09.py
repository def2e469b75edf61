"""Chapter 09 (bitwise kernels): packing signs into uint64 words, the XNOR-popcount product,
bit planes, the bit-serial dot product.

The conventions are `qnn_lite.kernels`' (bitpack, bgemm, bitserial). The references here are
small numpy mirrors of it (`pack_bits_ref`, `bitplanes_ref`) and the exact integer products,
so a check never imports numba (its first call costs seconds); tests/exercises/test_ch08_10.py
proves the mirrors equal `pack_rows`, `pack_bitplanes_rows`, `binary_matmul` and `bit_serial_matmul`.
"""
from __future__ import annotations

import numpy as np

from ..runner import Fail
from ..expect import as_array, expect_close
from ..registry import exercise

WORD = 64

# ----------------------------------------------------------------------------- 9.1
EX1 = exercise("9.1", "pack_bits: pack the signs of a vector into uint64 words, LSB first")


def _pack(bits, msb_first=False, pad_one=False):
    """bool (K,) -> uint64 (ceil(K/64),); bit k % 64 of word k // 64, LSB first unless `msb_first`."""
    k = bits.size
    w = -(-k // WORD)
    full = np.full(w * WORD, pad_one, dtype=bool)
    full[:k] = bits
    shifts = np.arange(WORD, dtype=np.uint64)
    if msb_first:
        shifts = shifts[::-1].copy()
    return (full.reshape(w, WORD).astype(np.uint64) << shifts).sum(axis=1, dtype=np.uint64)


def pack_bits_ref(x):
    """qnn_lite.kernels.pack_rows for one row: bit = (x >= 0), LSB first, padding 0."""
    return _pack(np.asarray(x) >= 0)


def _as_words(got, what, shape):
    if got is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    arr = np.asarray(got)
    if arr.dtype.kind not in "iu":
        raise Fail(f"{what} should be unsigned 64-bit integers (np.uint64), got dtype {arr.dtype}: "
                   "float64 cannot hold 64 bits exactly")
    if arr.shape != tuple(shape):
        raise Fail(f"{what} has shape {arr.shape}, expected {tuple(shape)}: ceil(K / 64) words")
    return arr.astype(np.uint64)


def _check_pack(fn, v, label):
    want = pack_bits_ref(v)
    what = f"pack_bits({label})"
    got = _as_words(fn(v.copy()), what, want.shape)
    if np.array_equal(got, want):
        return
    pos = v >= 0
    mistakes = {
        "sign(0) = +1: the bit is (x >= 0), so a 0 packs as 1": _pack(v > 0),
        "bit 1 stands for +1 (x >= 0) and bit 0 for -1, not the other way round": _pack(~pos),
        "element k goes to bit k % 64 counted from the least significant bit (LSB first): "
        "word |= bit << (k % 64)": _pack(pos, msb_first=True),
        "pad the last word with 0 bits, not 1 bits": _pack(pos, pad_one=True),
    }
    hint = next((h for h, m in mistakes.items() if np.array_equal(got, m)),
                "word w, bit t holds element 64 w + t: bit = (x >= 0); pad with 0 bits")
    i = int(np.argmax(got != want))
    raise Fail(f"{what}: word {i} is {int(got[i]):#x}, expected {int(want[i]):#x}\n{hint}")


@EX1.case("8 signs fit in one word: [+1, -1, -1, +1, +1, +1, -1, +1] -> 0b10111001 = 0xb9")
def _(fn):
    _check_pack(fn, np.array([1.0, -1, -1, 1, 1, 1, -1, 1]), "8 signs")


@EX1.case("real values: bit = (x >= 0), so sign(0) = +1")
def _(fn):
    _check_pack(fn, np.array([0.0, -0.5, 2.0, -3.0, 0.0, 1e-9, -1e-9]), "x")


@EX1.case("K = 64 is exactly one word; K = 100 needs two, padded with 0 bits", points=2)
def _(fn):
    rng = np.random.default_rng(0)
    _check_pack(fn, rng.choice([-1.0, 1.0], size=64), "64 signs")
    _check_pack(fn, rng.choice([-1.0, 1.0], size=100), "100 signs")


@EX1.case("K = 300 random signs (= qnn_lite.kernels.pack_rows)")
def _(fn):
    _check_pack(fn, np.random.default_rng(1).normal(size=300), "300 values")


# ----------------------------------------------------------------------------- 9.2
EX2 = exercise("9.2", "binary_matmul: A @ B for packed +-1 operands, k - 2 popcount(a XOR b)")


def _popcounts(A, B, op):
    return np.bitwise_count(op(A[:, None, :], B[None, :, :])).sum(axis=-1).astype(np.int64)


def _check_bmm(fn, A, B, label):
    k = A.shape[1]
    Ap, Bp = np.stack([pack_bits_ref(r) for r in A]), np.stack([pack_bits_ref(c) for c in B.T])
    want = A @ B                                  # +-1 entries: exact in float64
    what = f"binary_matmul({label}, k={k})"
    got = as_array(fn(Ap.copy(), Bp.copy(), k), what, want.shape)
    if np.any(np.abs(got) > 2.0 ** 62):
        raise Fail(f"{what}: got values near 2^64: unsigned integers wrapped around below 0. "
                   "np.bitwise_count returns uint8: sum the counts with dtype=np.int64 before subtracting")
    xor = _popcounts(Ap, Bp, np.bitwise_xor)
    full = WORD * Ap.shape[1]
    expect_close(got, want, what, rtol=0, atol=0, mistakes={
        "popcount(a XOR b) counts the mismatches; the dot product is matches - mismatches = k - 2 popcount":
            xor,
        "each mismatch turns a +1 into a -1: subtract 2 popcount(a XOR b), not popcount": k - xor,
        "use the true k, not 64 * words: the zero padding bits match in both operands and must not count":
            full - 2 * xor,
        "XNOR sets the padding bits too: count mismatches with XOR and use k - 2 popcount(a XOR b)":
            2 * _popcounts(Ap, Bp, lambda a, b: ~(a ^ b)) - k,
        "XOR marks the positions where the signs differ; AND only where both are +1":
            k - 2 * _popcounts(Ap, Bp, np.bitwise_and),
    }, hint="C[i, j] = k - 2 * sum over words of popcount(A_packed[i] XOR B_packed[j])")


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


@EX2.case("one row times one column, k = 8 (fits one word)")
def _(fn):
    a = np.array([[1.0, -1, -1, 1, 1, 1, -1, 1]])
    b = np.array([[1.0, 1, -1, -1, 1, -1, -1, 1]]).T
    _check_bmm(fn, a, b, "1x8 @ 8x1")


@EX2.case("k = 100 (two words, the second padded): equals the float product", points=2)
def _(fn):
    rng = np.random.default_rng(0)
    _check_bmm(fn, _signs(rng, (3, 100)), _signs(rng, (100, 4)), "3x100 @ 100x4")


@EX2.case("k = 64 and k = 300")
def _(fn):
    rng = np.random.default_rng(1)
    _check_bmm(fn, _signs(rng, (2, 64)), _signs(rng, (64, 5)), "2x64 @ 64x5")
    _check_bmm(fn, _signs(rng, (6, 300)), _signs(rng, (300, 3)), "6x300 @ 300x3")


# ----------------------------------------------------------------------------- 9.3
EX3 = exercise("9.3", "bitplanes: the bit planes of integers, two's complement, plane m = bit m")


def bitplanes_ref(x, bits):
    """(bits, K) 0/1: plane m = bit m of the two's-complement code (qnn_lite.kernels' planes)."""
    return np.stack([(np.asarray(x, dtype=np.int64) >> m) & 1 for m in range(bits)])


def packed_planes_ref(x, bits):
    """(bits, ceil(K/64)) uint64: qnn_lite.kernels.pack_bitplanes_rows for one row."""
    return np.stack([_pack(p.astype(bool)) for p in bitplanes_ref(x, bits)])


def _check_planes(fn, x, bits, signed, label):
    want = bitplanes_ref(x, bits)
    what = f"bitplanes({label}, {bits})"
    got = as_array(fn(x.copy(), bits), what, want.shape)
    mag = np.stack([(np.abs(x) >> m) & 1 for m in range(bits)])
    expect_close(got, want, what, rtol=0, atol=0, mistakes={
        "plane m holds bit m (weight 2^m): plane 0 is the least significant bit": want[::-1],
        "negative x: take the bits of the two's-complement pattern ((x >> m) & 1 does it), "
        "not of |x|": mag,
    }, hint="plane[m, k] = (x[k] >> m) & 1 for m = 0 .. bits - 1")


@EX3.case("2-bit unsigned [0, 1, 2, 3]: planes [[0, 1, 0, 1], [0, 0, 1, 1]]")
def _(fn):
    _check_planes(fn, np.array([0, 1, 2, 3]), 2, False, "[0, 1, 2, 3]")


@EX3.case("4-bit unsigned, random")
def _(fn):
    _check_planes(fn, np.random.default_rng(0).integers(0, 16, size=50), 4, False, "x")


@EX3.case("signed: -1 = 1111, -8 = 1000 in 4 bits (two's complement)", points=2)
def _(fn):
    _check_planes(fn, np.array([-1, -8, 7, 0, -3, 5]), 4, True, "[-1, -8, 7, 0, -3, 5]")
    _check_planes(fn, np.random.default_rng(1).integers(-128, 128, size=70), 8, True, "x")


# ----------------------------------------------------------------------------- 9.4
EX4 = exercise("9.4", "bit_serial_dot: x . y from packed bit planes, sum of 2^(m+n) popcount(AND)")


def _pair_counts(xp, yp, op):
    return np.array([[int(np.bitwise_count(op(xp[m], yp[n])).sum()) for n in range(len(yp))]
                     for m in range(len(xp))], dtype=np.int64)


def _weights(bits, signed):
    w = 2 ** np.arange(bits)
    if signed:
        w[-1] = -w[-1]
    return w


def _check_bs(fn, x, y, xb, yb, xs, ys, label):
    xp, yp = packed_planes_ref(x, xb), packed_planes_ref(y, yb)
    want = float(np.dot(x.astype(np.int64), y.astype(np.int64)))
    what = f"bit_serial_dot({label}, x_signed={xs}, y_signed={ys})"
    got = as_array(fn(xp.copy(), yp.copy(), xs, ys), what, ())
    c_and = _pair_counts(xp, yp, np.bitwise_and)
    wx, wy = _weights(xb, xs), _weights(yb, ys)
    ux, uy = _weights(xb, False), _weights(yb, False)
    mistakes = {
        "AND, not XOR: c_m(x) AND c_n(y) is 1 exactly where both bits are 1, i.e. where the bit product is 1":
            wx @ _pair_counts(xp, yp, np.bitwise_xor) @ wy,
        "the top plane of a signed (two's-complement) operand has weight -2^(bits-1)": ux @ c_and @ uy,
        "plane pair (m, n) has weight 2^m * 2^n = 2^(m+n)": wx @ c_and @ np.ones_like(wy),
    }
    if xs and ys:
        mistakes["y is signed too: negate the top plane of y as well"] = wx @ c_and @ uy
        mistakes["x is signed too: negate the top plane of x as well"] = ux @ c_and @ wy
    expect_close(got, want, what, rtol=0, atol=0, mistakes=mistakes,
                 hint="x . y = sum_m sum_n w_m w_n popcount(xp[m] AND yp[n]), "
                      "w_m = 2^m (-2^(bits-1) for a signed top plane)")


@EX4.case("2-bit unsigned: [1, 2, 3] . [3, 1, 2] = 11")
def _(fn):
    _check_bs(fn, np.array([1, 2, 3]), np.array([3, 1, 2]), 2, 2, False, False, "[1, 2, 3] . [3, 1, 2]")


@EX4.case("2-bit x 2-bit unsigned, K = 100 (two words per plane)")
def _(fn):
    rng = np.random.default_rng(0)
    _check_bs(fn, rng.integers(0, 4, size=100), rng.integers(0, 4, size=100), 2, 2, False, False, "x . y")


@EX4.case("4-bit signed x times 2-bit unsigned y", points=2)
def _(fn):
    rng = np.random.default_rng(1)
    _check_bs(fn, rng.integers(-8, 8, size=70), rng.integers(0, 4, size=70), 4, 2, True, False, "x . y")


@EX4.case("8-bit signed x 8-bit signed, K = 150: equals x @ y")
def _(fn):
    rng = np.random.default_rng(2)
    _check_bs(fn, rng.integers(-128, 128, size=150), rng.integers(-128, 128, size=150), 8, 8, True, True, "x . y")
