"""Bit Fusion: 2-bit BitBricks fused into 1/2/4/8-bit multipliers (Sharma et al., ISCA 2018).

A ``b_a x b_w`` multiply is split into 2-bit slices, ``a = sum_s a_s 4^s`` and
``w = sum_t w_t 4^t``; then ``a*w = sum_{s,t} (a_s * w_t) << 2(s + t)``. Each
``a_s * w_t`` is one BitBrick: a 2-bit x 2-bit multiplier whose operands carry a
third, sign-extension bit, so a slice is read as unsigned (0..3) or signed (-2..1).
Only the top slice of a signed operand is signed; the lower slices are unsigned.

A FusionUnit has 16 BitBricks. A product needs ``(B_a/2)(B_w/2)`` bricks, with
``B = max(b, 2)`` (a 1-bit operand uses a 2-bit slice), so per cycle it makes
``pf = floor(8/B_a) * floor(8/B_w)`` products: 1 at 8x8, 4 at 4x4, 16 at 2x2.

``BitFusionArray(N, M)``: N rows x M columns of fusion units. Each cycle column m
works on one output channel and the N units of a column each take ``pf`` input
channels; so a conv layer takes (BitFusion simulator's model)
``B * ceil(OC/M) * OH * OW * KH * KW * ceil(IC / (N*pf))`` cycles.
"""
from __future__ import annotations

from dataclasses import dataclass
import itertools
import math
import numbers

import numpy as np

from ..validate import check_int

BIT_WIDTHS = (1, 2, 4, 8)


def check_bits(name: str, bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits not in BIT_WIDTHS:
        raise ValueError(f"{name} must be one of {BIT_WIDTHS}, got {bits!r}")
    return int(bits)


def value_range(bits: int, signed: bool) -> tuple[int, int]:
    """(lo, hi) of a bits-wide two's-complement (signed) or unsigned integer."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _check_operand(name: str, x, bits: int, signed: bool) -> np.ndarray:
    x = np.asarray(x)  # not validate.as_array: that imports autograd, and hw stays a leaf
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {x.dtype}")
    lo, hi = value_range(bits, signed)
    if x.size and (x.min() < lo or x.max() > hi):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} must hold {bits}-bit {kind} values in [{lo}, {hi}], "
                         f"got values in [{x.min()}, {x.max()}]")
    return x.astype(np.int64)


class BitBrick:
    """2-bit x 2-bit multiplier; each operand is sign-extended to 3 bits when signed."""

    @staticmethod
    def multiply(x, y, x_signed=False, y_signed=False) -> np.ndarray:
        """Product of 2-bit patterns x, y in 0..3 (arrays broadcast; signed flags too).

        The 3-bit operand is (e, b1, b0) with e = signed & b1, worth -4e + 2b1 + b0;
        the product is the shift-add of y by each bit of x: sum_i x_i * y * 2^i
        with bit 2 weighted -4.
        """
        x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
        if np.any((x < 0) | (x > 3)) or np.any((y < 0) | (y > 3)):
            raise ValueError("BitBrick operands x and y must be 2-bit patterns in 0..3")
        x_bits = [x & 1, (x >> 1) & 1, np.asarray(x_signed, bool) & ((x >> 1) & 1)]
        y_val = (y & 1) + 2 * ((y >> 1) & 1) - 4 * (np.asarray(y_signed, bool) & ((y >> 1) & 1))
        return x_bits[0] * y_val + 2 * x_bits[1] * y_val - 4 * x_bits[2] * y_val


def slices(x, bits: int) -> np.ndarray:
    """2-bit slices (..., n) of x's two's-complement pattern, n = max(bits, 2) // 2, LSB first."""
    width = max(bits, 2)
    pattern = np.asarray(x, dtype=np.int64) & ((1 << width) - 1)
    return np.stack([(pattern >> (2 * s)) & 3 for s in range(width // 2)], axis=-1)


def products_per_cycle(a_bits: int, w_bits: int) -> int:
    """pf = floor(8 / max(a_bits, 2)) * floor(8 / max(w_bits, 2))."""
    a_bits, w_bits = check_bits("a_bits", a_bits), check_bits("w_bits", w_bits)
    return (8 // max(a_bits, 2)) * (8 // max(w_bits, 2))


class FusionUnit:
    """16 BitBricks fused into ``pf`` multipliers of a_bits x w_bits each."""

    n_bricks = 16

    def __init__(self, a_bits: int = 8, w_bits: int = 8, a_signed: bool = True,
                 w_signed: bool = True):
        self.a_bits, self.w_bits = check_bits("a_bits", a_bits), check_bits("w_bits", w_bits)
        self.a_signed, self.w_signed = bool(a_signed), bool(w_signed)
        self.pf = products_per_cycle(a_bits, w_bits)
        self.bricks_per_product = self.n_bricks // self.pf

    def __repr__(self):
        return (f"FusionUnit(a_bits={self.a_bits}, w_bits={self.w_bits}, "
                f"a_signed={self.a_signed}, w_signed={self.w_signed}) -> {self.pf} products/cycle")

    def brick_map(self) -> list[tuple[int, int, int]]:
        """(product, a_slice, w_slice) handled by each of the 16 bricks, in brick order."""
        na, nw = max(self.a_bits, 2) // 2, max(self.w_bits, 2) // 2
        return [(p, s, t) for p in range(self.pf)
                for s, t in itertools.product(range(na), range(nw))]

    def multiply(self, a, w) -> np.ndarray:
        """Elementwise a * w (broadcast) computed brick by brick, exact in int64."""
        a = _check_operand("a", a, self.a_bits, self.a_signed)
        w = _check_operand("w", w, self.w_bits, self.w_signed)
        sa, sw = slices(a, self.a_bits), slices(w, self.w_bits)
        na, nw = sa.shape[-1], sw.shape[-1]
        s, t = np.arange(na)[:, None], np.arange(nw)[None, :]
        pp = BitBrick.multiply(sa[..., :, None], sw[..., None, :],
                               x_signed=self.a_signed & (s == na - 1),
                               y_signed=self.w_signed & (t == nw - 1))
        return np.sum(pp << (2 * (s + t)), axis=(-2, -1))


@dataclass
class BitFusionReport:
    """Cycles of a BitFusionArray run; utilization = useful products / (cycles*N*M*pf)."""
    cycles: int
    pf: int
    products: int
    utilization: float


class BitFusionArray:
    """N rows x M columns of FusionUnits (Sharma et al., 2018), bit-exact GEMM / conv."""

    def __init__(self, N: int = 16, M: int = 16):
        self.N, self.M = check_int(N, "N", 1), check_int(M, "M", 1)

    def __repr__(self):
        return f"BitFusionArray(N={self.N}, M={self.M})"

    def conv_cycles(self, batch, IC, OC, OH, OW, KH, KW, a_bits=8, w_bits=8) -> int:
        """B * ceil(OC/M) * OH * OW * KH * KW * ceil(IC / (N * pf)) (BitFusion's model)."""
        for name, v in (("batch", batch), ("IC", IC), ("OC", OC), ("OH", OH), ("OW", OW),
                        ("KH", KH), ("KW", KW)):
            check_int(v, name, 1)
        pf = products_per_cycle(a_bits, w_bits)
        return batch * math.ceil(OC / self.M) * OH * OW * KH * KW * math.ceil(IC / (self.N * pf))

    def conv2d(self, x, w, stride=1, a_bits=8, w_bits=8, a_signed=True, w_signed=True,
               max_chunk=4096):
        """y = conv2d(x, w) (no padding) computed cycle by cycle on the fusion units.

        x: (B, IC, H, W), w: (OC, IC, KH, KW) integers in range for their bit-widths.
        Cycle c handles one (b, oc tile, oh, ow, kh, kw, ic tile); fusion unit (n, m)
        multiplies pf activations by pf weights of output channel oc_tile*M + m and the
        column sums them. Cycles are processed ``max_chunk`` at a time (vectorised
        over cycles, units and bricks). Returns (y int64 (B, OC, OH, OW), report).
        """
        unit = FusionUnit(a_bits, w_bits, a_signed, w_signed)
        x = _check_operand("x", x, unit.a_bits, unit.a_signed)
        w = _check_operand("w", w, unit.w_bits, unit.w_signed)
        if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
            raise ValueError(f"x must be (B, IC, H, W) and w (OC, IC, KH, KW) with the same IC; "
                             f"got x {x.shape}, w {w.shape}")
        stride = check_int(stride, "stride", 1)
        B, IC, H, W = x.shape
        OC, _, KH, KW = w.shape
        if 0 in x.shape + w.shape:
            raise ValueError(f"x and w must have no empty axis, got x {x.shape}, w {w.shape}")
        if KH > H or KW > W:
            raise ValueError(f"kernel {KH}x{KW} must fit in the {H}x{W} input; got x {x.shape}")
        OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
        N, M, pf = self.N, self.M, unit.pf
        n_ic, n_oc = math.ceil(IC / (N * pf)), math.ceil(OC / M)
        xp = np.zeros((B, n_ic * N * pf, H, W), np.int64)
        xp[:, :IC] = x
        wp = np.zeros((n_oc * M, n_ic * N * pf, KH, KW), np.int64)
        wp[:OC, :IC] = w
        # the schedule: one row per cycle, loop order (b, oc tile, oh, ow, kh, kw, ic tile)
        sched = np.indices((B, n_oc, OH, OW, KH, KW, n_ic)).reshape(7, -1).T
        y = np.zeros((B, n_oc * M, OH, OW), np.int64)
        lanes, cols = np.arange(N * pf), np.arange(M)
        for start in range(0, len(sched), max_chunk):
            b, ot, oh, ow, kh, kw, it = sched[start:start + max_chunk].T
            ic = it[:, None] * N * pf + lanes                               # (cyc, N*pf)
            acts = xp[b[:, None], ic, (oh * stride + kh)[:, None], (ow * stride + kw)[:, None]]
            oc = ot[:, None] * M + cols                                     # (cyc, M)
            wts = wp[oc[:, :, None], ic[:, None, :], kh[:, None, None], kw[:, None, None]]
            prods = unit.multiply(acts[:, None, :], wts)                    # (cyc, M, N*pf)
            np.add.at(y, (b[:, None], oc, oh[:, None], ow[:, None]), prods.sum(axis=-1))
        products = B * OC * OH * OW * KH * KW * IC
        report = BitFusionReport(cycles=len(sched), pf=pf, products=products,
                                 utilization=products / (len(sched) * N * M * pf))
        return y[:, :OC], report

    def gemm(self, A, B, a_bits=8, w_bits=8, a_signed=True, w_signed=True):
        """C = A @ B (A activations (rows, K), B weights (K, cols)) as a 1x1 conv, bit-exact."""
        A, B = np.asarray(A), np.asarray(B)
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
            raise ValueError(f"A and B must be 2-D with A.shape[1] == B.shape[0]; "
                             f"got A {A.shape}, B {B.shape}")
        if 0 in A.shape + B.shape:
            raise ValueError(f"A (M, K) and B (K, N) must be non-empty, got M, K, N = "
                             f"{A.shape[0]}, {A.shape[1]}, {B.shape[1]}")
        y, report = self.conv2d(A[:, :, None, None], B.T[:, :, None, None], 1,
                                a_bits, w_bits, a_signed, w_signed)
        return y[:, :, 0, 0], report
