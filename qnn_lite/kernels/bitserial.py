"""Bit-serial GEMM for 1..8-bit integer operands, by bit planes and AND-popcount.

Write x = sum_m 2^m c_m(x) with bit planes c_m(x) in {0, 1}. Then
    x . y = sum_m sum_n  s_m t_n 2^(m+n) popcount(c_m(x) AND c_n(y))
where s_m = t_n = 1, except that for a *signed* (two's-complement) operand the
top plane has weight -2^(bits-1) instead of +2^(bits-1)
(Umuroglu & Jahre 2017, "Streamlined deployment for quantized neural networks";
BitFusion, Sharma et al. 2018). The cost is a_bits * b_bits binary GEMMs: a
2-bit x 2-bit product costs 4 popcount GEMMs, an 8 x 8 one costs 64.

The planes of each operand are packed once (bitpack.pack_bitplanes_*); one call
of the shared popcount GEMM kernel (bgemm) loops over all plane pairs and adds
each pair's count with its weight into the int32 result.
"""
import numpy as np

from ..validate import check_shape
from .bitpack import pack_bitplanes_cols, pack_bitplanes_rows
from .bgemm import popcount_gemm

__all__ = ["bit_serial_matmul", "plane_weights"]


def plane_weights(bits, signed):
    """Weights of the bit planes: [1, 2, 4, ..., +-2^(bits-1)] (minus on the top plane if signed)."""
    w = [1 << m for m in range(bits)]
    if signed:
        w[-1] = -w[-1]
    return np.array(w, np.int64)


def bit_serial_matmul(A, B, a_bits, b_bits, a_signed=False, b_signed=False):
    """Exact A @ B -> (M, N) int32 for integer A (M, K) of a_bits and B (K, N) of b_bits.

    Values must fit the declared formats: unsigned 0..2^bits-1, signed
    -2^(bits-1)..2^(bits-1)-1 (else ValueError naming A or B). The int32 result
    cannot overflow: K * max|a| * max|b| must stay below 2^31 (else ValueError).
    """
    for x, name in ((A, "A"), (B, "B")):
        if isinstance(x, np.ndarray):
            check_shape(x, name, 2)
    if isinstance(A, np.ndarray) and isinstance(B, np.ndarray) and A.shape[1] != B.shape[0]:
        raise ValueError(f"B must have {A.shape[1]} rows (A is {A.shape}), got shape {B.shape}")
    Ap = pack_bitplanes_rows(A, a_bits, a_signed)          # (a_bits, M, W), validates A
    Bp = pack_bitplanes_cols(B, b_bits, b_signed)          # (b_bits, N, W), validates B
    wa, wb = plane_weights(a_bits, a_signed), plane_weights(b_bits, b_signed)
    amax, bmax = int(np.abs(wa).sum()), int(np.abs(wb).sum())       # bounds on |a|, |b|
    if A.shape[1] * amax * bmax >= 2**31:
        raise ValueError(f"K = {A.shape[1]} is too large for an exact int32 result with {a_bits}-bit x "
                         f"{b_bits}-bit operands (K * {amax} * {bmax} must be < 2^31)")
    return popcount_gemm(Ap, Bp, np.outer(wa, wb), 0, use_and=True)
