"""Chapter 10 (hardware): systolic-array cycles, Bit Fusion products per cycle, the roofline,
a 4-bit x 4-bit product from 2-bit bricks.

The reference for every case is `qnn_lite.hw` (estimate, bitbrick, roofline).
"""
from __future__ import annotations

import math

import numpy as np

from qnn_lite.hw import DEVICES, attainable, estimate_cycles, gemm_intensity, products_per_cycle as pf_ref
from qnn_lite.hw.bitbrick import BitBrick, FusionUnit, slices

from ..runner import Fail
from ..expect import as_array, expect_close, expect_equal
from ..registry import exercise

# ----------------------------------------------------------------------------- 10.1
EX1 = exercise("10.1", "systolic_cycles: cycles of a GEMM on a rows x cols array (WS, OS, IS)")


def _cycles(M, K, N, rows, cols, df, minus=2, preload="ws is", fold=math.ceil, is_map=True):
    """The closed form with switches that reproduce the usual mistakes."""
    mapping = {"ws": (K, N, M), "os": (M, N, K), "is": (K, M, N) if is_map else (K, N, M)}
    Sr, Sc, T = mapping[df]
    folds = fold(Sr / rows) * fold(Sc / cols) if fold else 1
    return folds * ((rows if df in preload else 0) + T + rows + cols - minus)


def _check_cycles(fn, M, K, N, rows, cols, df):
    want = estimate_cycles(M, K, N, rows, cols, df)
    got = fn(M, K, N, rows, cols, df)
    what = f"systolic_cycles(M={M}, K={K}, N={N}, rows={rows}, cols={cols}, {df!r})"
    if got is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    mistakes = [
        ("the skewed wavefront takes T + rows + cols - 2 cycles per fold: you forgot the - 2",
         _cycles(M, K, N, rows, cols, df, minus=0)),
        ("WS and IS first spend `rows` cycles loading the stationary tile: 2 rows + cols + T - 2 per fold",
         _cycles(M, K, N, rows, cols, df, preload="")),
        ("OS has nothing to preload (the outputs start at 0): rows + cols + T - 2 per fold",
         _cycles(M, K, N, rows, cols, df, preload="ws is os")),
        ("a partial fold still takes a whole pass: folds = ceil(Sr / rows) * ceil(Sc / cols)",
         _cycles(M, K, N, rows, cols, df, fold=lambda v: max(1, math.floor(v)))),
        ("a partial fold still takes a whole pass: folds = ceil(Sr / rows) * ceil(Sc / cols)",
         _cycles(M, K, N, rows, cols, df, fold=math.floor)),
        ("a layer larger than the array is cut into ceil(Sr / rows) * ceil(Sc / cols) folds",
         _cycles(M, K, N, rows, cols, df, fold=None)),
        ("IS keeps A^T in the PEs: Sr = K, Sc = M, and N streams through time",
         _cycles(M, K, N, rows, cols, df, is_map=False)),
    ]
    hint = next((h for h, v in mistakes if v == got and v != want),
                "cycles = ceil(Sr/rows) ceil(Sc/cols) (preload + T + rows + cols - 2), preload = rows "
                "for WS/IS, 0 for OS; (Sr, Sc, T) = (K, N, M) WS, (M, N, K) OS, (K, M, N) IS")
    expect_equal(got, want, what, hint=hint)


@EX1.case("WS, one fold: 5x4 @ 4x3 on a 4x4 array takes 2*4 + 4 + 5 - 2 = 15 cycles")
def _(fn):
    _check_cycles(fn, 5, 4, 3, 4, 4, "ws")


@EX1.case("WS with folds: a ResNet layer (M=3136, K=576, N=64) on 32x32", points=2)
def _(fn):
    _check_cycles(fn, 3136, 576, 64, 32, 32, "ws")
    _check_cycles(fn, 100, 70, 33, 16, 8, "ws")


@EX1.case("OS: no preload")
def _(fn):
    _check_cycles(fn, 5, 4, 3, 4, 4, "os")
    _check_cycles(fn, 3136, 576, 64, 32, 32, "os")


@EX1.case("IS: A^T stays, N streams")
def _(fn):
    _check_cycles(fn, 5, 4, 3, 4, 4, "is")
    _check_cycles(fn, 100, 70, 33, 16, 8, "is")


# ----------------------------------------------------------------------------- 10.2
EX2 = exercise("10.2", "products_per_cycle: products a 16-brick Bit Fusion unit makes per cycle")


def _check_pf(fn, a, w):
    want = pf_ref(a, w)
    got = fn(a, w)
    hints = {
        (8 // a) * (8 // w): "a 1-bit operand still occupies a whole 2-bit slice: use max(b, 2)",
        16 // want: "that is the bricks per product, (B_a/2)(B_w/2); products per cycle = 16 / bricks",
    }
    hint = hints.get(got, "pf = floor(8 / max(a_bits, 2)) * floor(8 / max(w_bits, 2))") if got != want else ""
    expect_equal(got, want, f"products_per_cycle({a}, {w})", hint=hint)


@EX2.case("8x8: 1, 4x4: 4, 2x2: 16")
def _(fn):
    for b in (8, 4, 2):
        _check_pf(fn, b, b)


@EX2.case("mixed widths: 8x4, 4x2, 2x8")
def _(fn):
    for a, w in ((8, 4), (4, 2), (2, 8)):
        _check_pf(fn, a, w)


@EX2.case("1-bit operands gain nothing over 2 bits: 1x1 = 16, 1x8 = 4", points=2)
def _(fn):
    for a, w in ((1, 1), (1, 8), (4, 1)):
        _check_pf(fn, a, w)


# ----------------------------------------------------------------------------- 10.3
EX3 = exercise("10.3", "roofline: arithmetic intensity of a GEMM and its attainable ops/s")


def _check_roof(fn, M, K, N, a_bits, w_bits, out_bits, peak, bw, label):
    what = f"roofline({label})"
    got = fn(M, K, N, a_bits, w_bits, out_bits, peak, bw)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Fail(f"roofline should return a tuple (intensity, attainable), got {type(got).__name__}")
    i_ref = gemm_intensity(M, K, N, a_bits, w_bits, out_bits)
    bits = M * K * a_bits + K * N * w_bits + M * N * out_bits
    expect_close(got[0], i_ref, f"{what} intensity", rtol=1e-9, mistakes={
        "count 2 ops per multiply-accumulate (a multiply and an add)": M * K * N / (bits / 8),
        "bytes = bits / 8: divide the bits moved by 8": 2 * M * K * N / bits,
        "the output C (M x N at out_bits) crosses the memory interface too":
            2 * M * K * N / ((M * K * a_bits + K * N * w_bits) / 8),
        "each tensor moves at its own bit-width: C at out_bits, not at a_bits":
            2 * M * K * N / ((M * K * a_bits + K * N * w_bits + M * N * a_bits) / 8),
    }, hint="I = 2 M K N / ((M K a_bits + K N w_bits + M N out_bits) / 8) ops per byte")
    p_ref = float(attainable(i_ref, peak, bw))
    expect_close(got[1], p_ref, f"{what} attainable", rtol=1e-9, mistakes={
        "cap the memory roof at the peak: min(peak, I x bandwidth)": i_ref * bw,
        "the attainable throughput is the LOWER roof: min(peak, I x bandwidth)": max(peak, i_ref * bw),
        "that is the ridge point (ops/byte); the attainable throughput is min(peak, I x bandwidth) ops/s":
            peak / bw,
    }, hint="attainable = min(peak, I x bandwidth)")


@EX3.case("a 64x64x64 int8 GEMM, 32-bit outputs: I = 2*64^3 / 24576 = 21.3 ops/byte")
def _(fn):
    t4 = DEVICES["Tesla T4"]
    _check_roof(fn, 64, 64, 64, 8, 8, 32, t4.peak["int8"], t4.bandwidth, "64^3 int8, T4")


@EX3.case("memory bound on the T4: a ResNet layer at int8 and int4", points=2)
def _(fn):
    t4 = DEVICES["Tesla T4"]
    _check_roof(fn, 3136, 576, 64, 8, 8, 32, t4.peak["int8"], t4.bandwidth, "ResNet int8, T4")
    _check_roof(fn, 3136, 576, 64, 4, 4, 32, t4.peak["int4"], t4.bandwidth, "ResNet int4, T4")


@EX3.case("compute bound on the Zynq-7020 in fp32")
def _(fn):
    z = DEVICES["Zynq-7020"]
    _check_roof(fn, 3136, 576, 64, 32, 32, 32, z.peak["fp32"], z.bandwidth, "ResNet fp32, Zynq")


# ----------------------------------------------------------------------------- 10.4
EX4 = exercise("10.4", "fusion_multiply: a 4-bit x 4-bit product from four 2-bit BitBrick products")


def _slice_values(x, signed, top_signed=True, low_signed=False):
    s = slices(x, 4)
    vals = s.astype(np.int64).copy()
    for i, sgn in ((0, signed and low_signed), (1, signed and top_signed)):
        if sgn and vals[i] >= 2:
            vals[i] -= 4
    return vals


def _check_fm(fn, a, w, a_signed, w_signed):
    sa, sw = slices(a, 4), slices(w, 4)
    s, t = np.arange(2)[:, None], np.arange(2)[None, :]
    pp_ref = BitBrick.multiply(sa[:, None], sw[None, :], x_signed=a_signed & (s == 1), y_signed=w_signed & (t == 1))
    prod_ref = int(FusionUnit(4, 4, a_signed, w_signed).multiply(a, w))
    what = f"fusion_multiply({a}, {w}, a_signed={a_signed}, w_signed={w_signed})"
    got = fn(a, w, a_signed, w_signed)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Fail(f"fusion_multiply should return a tuple (partial_products, product), got {type(got).__name__}")
    pp = as_array(got[0], f"{what} partial products", (2, 2))
    unsigned = np.outer(_slice_values(a, False), _slice_values(w, False))
    all_signed = np.outer(_slice_values(a, a_signed, low_signed=True), _slice_values(w, w_signed, low_signed=True))
    expect_close(pp, pp_ref, f"{what} partial products", rtol=0, atol=0, mistakes={
        "the top slice of a signed operand is signed: pattern 2 or 3 means -2 or -1": unsigned,
        "only the top slice carries the sign; the low slice of a signed operand is unsigned 0..3": all_signed,
        "slice 0 is the low 2 bits (LSB first): pp[s, t] = a_s * w_t": pp_ref[::-1, ::-1],
    }, hint="pp[s, t] = a_s * w_t, a = a_0 + 4 a_1 (a_1 signed -2..1 if a is signed, a_0 unsigned 0..3)")
    shifted = sum(int(pp_ref[i, j]) << (i + j) for i in range(2) for j in range(2))
    p = got[1]
    hint = ("each slice is 2 bits wide: shift by 2(s + t), i.e. multiply by 4^(s+t)" if p == shifted
            else "product = sum over s, t of pp[s, t] * 4^(s + t)")
    try:
        p = int(p) if np.ndim(p) == 0 and float(p).is_integer() else p
    except (TypeError, ValueError):
        pass
    expect_equal(p, prod_ref, f"{what} product", hint=hint)


@EX4.case("unsigned 13 x 11 = 143: slices (1, 3) and (3, 2)")
def _(fn):
    _check_fm(fn, 13, 11, False, False)


@EX4.case("signed -3 x 5 = -15 and -8 x -7 = 56", points=2)
def _(fn):
    _check_fm(fn, -3, 5, True, True)
    _check_fm(fn, -8, -7, True, True)


@EX4.case("unsigned activation x signed weight: 9 x -6 = -54")
def _(fn):
    _check_fm(fn, 9, -6, False, True)


@EX4.case("every pair of 4-bit operands, signed and unsigned (3 x 256 products)")
def _(fn):
    for a_signed, w_signed in ((False, False), (True, True), (False, True)):
        a = np.arange(-8, 8) if a_signed else np.arange(16)
        w = np.arange(-8, 8) if w_signed else np.arange(16)
        want = FusionUnit(4, 4, a_signed, w_signed).multiply(a[:, None], w[None, :])  # all 256 at once
        s, t = np.arange(2)[:, None], np.arange(2)[None, :]
        pp_all = BitBrick.multiply(slices(a, 4)[:, None, :, None], slices(w, 4)[None, :, None, :],
                                   x_signed=a_signed & (s == 1), y_signed=w_signed & (t == 1))
        for i, ai in enumerate(a.tolist()):
            for j, wj in enumerate(w.tolist()):
                got = fn(ai, wj, a_signed, w_signed)
                ok = (isinstance(got, tuple) and len(got) == 2 and np.ndim(got[1]) == 0 and got[1] == want[i, j]
                      and np.shape(got[0]) == (2, 2) and np.array_equal(np.asarray(got[0]), pp_all[i, j]))
                if not ok:
                    _check_fm(fn, ai, wj, a_signed, w_signed)     # the full check names the mistake
                    raise Fail(f"fusion_multiply({ai}, {wj}, a_signed={a_signed}, w_signed={w_signed}): "
                               f"got {got!r}, expected ({pp_all[i, j].tolist()}, {int(want[i, j])})")
