"""int8 x int8 -> int32 GEMM, exact (Jacob et al. 2018, integer-only inference).

    C[i, j] = sum_k A[i, k] * B[k, j]      A (M, K) int8, B (K, N) int8 -> C (M, N) int32

The VNNI instruction `vpdpbusd` multiplies unsigned x signed bytes and adds groups
of four into int32 lanes (64 products per instruction). A is signed, so shift it:
    u = a + 128 (flip the sign bit),   sum_k a b = sum_k u b - 128 * sum_k b
and subtract 128 * colsum(B) when storing. Every step is int32 arithmetic mod 2^32,
so the result is exact whenever the true result fits int32. The largest product is
(-128)(-128) = 2**14, so every result fits for K <= MAX_K = (2**31 - 1) // 2**14 = 131071
(K = 131072 could reach 2**31, one past INT32_MAX); larger K raises ValueError.

The micro-kernel keeps a 4 x 64 block of C in 16 vector registers; B is repacked once
into panels (ceil(N/64), ceil(K/4), 64, 4) int8, so one 64-byte load gives 16
columns x 4 K-values. Without VNNI the same sums use generic vector code.
"""
import numpy as np
from numba import njit, prange

from ..validate import check_shape
from ._config import threads_for
from ._simd import vdpbusd, vstore_sub_i32, vzero_i32

__all__ = ["int8_matmul", "MAX_K"]

PANEL = 64          # columns of B per panel = 4 vectors of 16 int32 lanes
ROW_BLOCK = 32      # rows of A per parallel task
MAX_K = (2**31 - 1) // 2**14   # 131071: K * (-128)(-128) <= INT32_MAX for every input


@njit(cache=True)
def _panelize_int8(B, NP, KP):
    """B (K, N) int8 -> (NP, KP, 64, 4) int8 with out[p, q, c, t] = B[4q + t, 64p + c]."""
    K, N = B.shape
    out = np.zeros((NP, KP, PANEL, 4), np.int8)
    for k in range(K):
        q, t = k // 4, k % 4
        row = B[k]
        for j in range(N):
            out[j // PANEL, q, j % PANEL, t] = row[j]
    return out


@njit(cache=True, inline="always")
def _store_row(out, tmp, corr, i, j0, N, v0, v1, v2, v3):
    """out[i, j0:j0+64] = (v0 | v1 | v2 | v3) - corr[j0:j0+64]; a partial panel goes via tmp."""
    full = j0 + PANEL <= N
    dest = out[i] if full else tmp
    off = j0 if full else 0
    vstore_sub_i32(dest, off, v0, corr, j0)
    vstore_sub_i32(dest, off + 16, v1, corr, j0 + 16)
    vstore_sub_i32(dest, off + 32, v2, corr, j0 + 32)
    vstore_sub_i32(dest, off + 48, v3, corr, j0 + 48)
    if not full:
        out[i, j0:] = tmp[:N - j0]


@njit(parallel=True, cache=True)
def _int8_gemm(A4, Bpan, corr, N):
    """A4 (M, KP) int32 = 4 bytes a+128 each; Bpan from _panelize_int8; corr = 128*colsum(B)."""
    M, KP = A4.shape
    NP = Bpan.shape[0]
    out = np.empty((M, N), np.int32)
    nchunks = (M + ROW_BLOCK - 1) // ROW_BLOCK
    for ch in prange(nchunks):
        r0 = ch * ROW_BLOCK
        r1 = min(r0 + ROW_BLOCK, M)
        tmp = np.empty(PANEL, np.int32)
        for p in range(NP):
            bp = Bpan[p].reshape(KP, 4 * PANEL)
            j0 = p * PANEL
            for i0 in range(r0, r1, 4):
                nr = min(4, r1 - i0)                   # a short row block repeats its last row
                a0, a1 = A4[i0], A4[i0 + min(1, nr - 1)]
                a2, a3 = A4[i0 + min(2, nr - 1)], A4[i0 + nr - 1]
                c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = vzero_i32()
                c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = vzero_i32()
                for q in range(KP):
                    b = bp[q]
                    x = a0[q]
                    c00, c01 = vdpbusd(c00, x, b, 0), vdpbusd(c01, x, b, 64)
                    c02, c03 = vdpbusd(c02, x, b, 128), vdpbusd(c03, x, b, 192)
                    x = a1[q]
                    c10, c11 = vdpbusd(c10, x, b, 0), vdpbusd(c11, x, b, 64)
                    c12, c13 = vdpbusd(c12, x, b, 128), vdpbusd(c13, x, b, 192)
                    x = a2[q]
                    c20, c21 = vdpbusd(c20, x, b, 0), vdpbusd(c21, x, b, 64)
                    c22, c23 = vdpbusd(c22, x, b, 128), vdpbusd(c23, x, b, 192)
                    x = a3[q]
                    c30, c31 = vdpbusd(c30, x, b, 0), vdpbusd(c31, x, b, 64)
                    c32, c33 = vdpbusd(c32, x, b, 128), vdpbusd(c33, x, b, 192)
                _store_row(out, tmp, corr, i0, j0, N, c00, c01, c02, c03)
                if nr > 1:
                    _store_row(out, tmp, corr, i0 + 1, j0, N, c10, c11, c12, c13)
                if nr > 2:
                    _store_row(out, tmp, corr, i0 + 2, j0, N, c20, c21, c22, c23)
                if nr > 3:
                    _store_row(out, tmp, corr, i0 + 3, j0, N, c30, c31, c32, c33)
    return out


def _check_int8(x, name):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy int8 array, got {type(x).__name__}")
    if x.dtype != np.int8:
        raise TypeError(f"{name} must be int8, got {x.dtype}")
    check_shape(x, name, 2)


def int8_matmul(A, B):
    """Exact A @ B for int8 A (M, K) and B (K, N), accumulated in int32 -> (M, N) int32."""
    _check_int8(A, "A")
    _check_int8(B, "B")
    M, K = A.shape
    if B.shape[0] != K:
        raise ValueError(f"B must have {K} rows (A is {A.shape}), got shape {B.shape}")
    if K > MAX_K:
        raise ValueError(f"A has K = {K} columns; int32 accumulation is exact only for K <= {MAX_K} "
                         f"(K * 128 * 128 must fit int32); use int64 numpy (a.astype(np.int64) @ b) instead")
    N = B.shape[1]
    KP = (K + 3) // 4
    NP = (N + PANEL - 1) // PANEL
    A4 = np.zeros((M, 4 * KP), np.uint8)            # a + 128, zero-padded to a multiple of 4
    A4[:, :K] = A.view(np.uint8) ^ np.uint8(0x80)
    corr = np.zeros(NP * PANEL, np.int32)           # 128 * column sums of B (padded columns: 0)
    corr[:N] = 128 * B.sum(axis=0, dtype=np.int32)
    bpan = _panelize_int8(np.ascontiguousarray(B), NP, KP)
    with threads_for(M * N * KP, small=1 << 21):
        return _int8_gemm(A4.view(np.int32), bpan, corr, N)


def int8_matmul_reference(A, B):
    """What ``_int8_gemm``'s blocked kernel computes, readably (tests compare them): the +128 shift
    ``sum_k a b = sum_k (a + 128) b - 128 sum_k b``, in int64 numpy, returned as int32."""
    u = A.astype(np.int64) + 128
    return (u @ B.astype(np.int64) - 128 * B.sum(axis=0, dtype=np.int64)).astype(np.int32)
