"""Binary (XNOR-popcount) GEMM, linear and conv2d for +-1 operands.

For a, b in {-1, +1}^k packed into bits (+1 -> 1):
    a . b = (#matches) - (#mismatches) = k - 2 * popcount(a XOR b)
(XNOR-Net, Rastegari et al. 2016; BinaryNet, Courbariaux et al. 2016.)

The kernel is a register-blocked GEMM micro-kernel (as in BLIS, Van Zee & van de
Geijn 2015): 4 rows of A times a panel of 32 columns of B. Each step broadcasts
one 64-bit word of a row of A and XORs it with the same word of 8 different
columns at once, so 16 vector accumulators x 8 lanes hold 4 x 32 partial
popcounts and no horizontal sum is ever needed. B is repacked once into panels
(P, W, 32) so those 8 columns are contiguous; A is blocked into chunks of 32 rows
(one parallel task each, in cache while every panel streams past it). K is not
blocked: a panel is 256 bytes per word, 16 KB for K = 4096, so it stays in L1/L2.

The same kernel serves the bit-serial GEMM (`bitserial.py`): it runs over
bit planes, combines words with AND instead of XOR, and adds each plane pair's
count with weight w[m, n] into the int32 output:
    out[i, j] = beta + sum_{m,n} w[m, n] * sum_w popcount(op(A[m, i, w], B[n, j, w]))
"""
import numpy as np
from numba import njit, prange

from ..validate import check_int, check_shape
from ._config import threads_for
from ._simd import vandpop, vaxpy_u64_i32, vload_u64, vsplat_u64, vxorpop, vzero_u64
from .bitpack import WORD, num_words, pack_rows

__all__ = ["binary_matmul", "binary_linear", "binary_conv2d"]

PANEL = 32          # columns of B per panel = 4 vectors of 8 uint64 lanes
ROW_BLOCK = 32      # rows of A per parallel task


@njit(cache=True)
def _panelize(B):
    """(P, N, W) uint64 -> (P, ceil(N/32), W, 32): 32 columns side by side per word."""
    Pb, N, W = B.shape
    NP = (N + PANEL - 1) // PANEL
    out = np.zeros((Pb, NP, W, PANEL), np.uint64)
    for t in range(Pb * NP):
        m, p = t // NP, t % NP
        for c in range(min(PANEL, N - p * PANEL)):
            col = B[m, p * PANEL + c]
            for w in range(W):
                out[m, p, w, c] = col[w]
    return out


@njit(cache=True, inline="always")
def _micro_4x32(a0, a1, a2, a3, bp, use_and):
    """16 accumulators c[r][v] = sum_w popcount(op(a_r[w], bp[w, 8v:8v+8]))."""
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = vzero_u64()
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = vzero_u64()
    if use_and:
        for w in range(bp.shape[0]):
            b = bp[w]
            b0, b1, b2, b3 = vload_u64(b, 0), vload_u64(b, 8), vload_u64(b, 16), vload_u64(b, 24)
            x = vsplat_u64(a0[w])
            c00, c01, c02, c03 = vandpop(c00, x, b0), vandpop(c01, x, b1), vandpop(c02, x, b2), vandpop(c03, x, b3)
            x = vsplat_u64(a1[w])
            c10, c11, c12, c13 = vandpop(c10, x, b0), vandpop(c11, x, b1), vandpop(c12, x, b2), vandpop(c13, x, b3)
            x = vsplat_u64(a2[w])
            c20, c21, c22, c23 = vandpop(c20, x, b0), vandpop(c21, x, b1), vandpop(c22, x, b2), vandpop(c23, x, b3)
            x = vsplat_u64(a3[w])
            c30, c31, c32, c33 = vandpop(c30, x, b0), vandpop(c31, x, b1), vandpop(c32, x, b2), vandpop(c33, x, b3)
    else:
        for w in range(bp.shape[0]):
            b = bp[w]
            b0, b1, b2, b3 = vload_u64(b, 0), vload_u64(b, 8), vload_u64(b, 16), vload_u64(b, 24)
            x = vsplat_u64(a0[w])
            c00, c01, c02, c03 = vxorpop(c00, x, b0), vxorpop(c01, x, b1), vxorpop(c02, x, b2), vxorpop(c03, x, b3)
            x = vsplat_u64(a1[w])
            c10, c11, c12, c13 = vxorpop(c10, x, b0), vxorpop(c11, x, b1), vxorpop(c12, x, b2), vxorpop(c13, x, b3)
            x = vsplat_u64(a2[w])
            c20, c21, c22, c23 = vxorpop(c20, x, b0), vxorpop(c21, x, b1), vxorpop(c22, x, b2), vxorpop(c23, x, b3)
            x = vsplat_u64(a3[w])
            c30, c31, c32, c33 = vxorpop(c30, x, b0), vxorpop(c31, x, b1), vxorpop(c32, x, b2), vxorpop(c33, x, b3)
    return (c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33)


@njit(cache=True, inline="always")
def _store_row(dest, off, v0, v1, v2, v3, wt, beta, accumulate):
    """dest[off:off+32] = (dest[off:off+32] if accumulate else beta) + wt * (v0|v1|v2|v3)."""
    vaxpy_u64_i32(dest, off, v0, wt, beta, accumulate)
    vaxpy_u64_i32(dest, off + 8, v1, wt, beta, accumulate)
    vaxpy_u64_i32(dest, off + 16, v2, wt, beta, accumulate)
    vaxpy_u64_i32(dest, off + 24, v3, wt, beta, accumulate)


@njit(parallel=True, cache=True)
def _popcount_gemm(A, Bpan, N, weights, beta, use_and):
    """out (M, N) int32 = beta + sum_{m,n} weights[m,n] * popcount-GEMM(A[m], B[n])."""
    Pa, M, W = A.shape
    Pb, NP = Bpan.shape[0], Bpan.shape[1]
    out = np.empty((M, N), np.int32)
    nchunks = (M + ROW_BLOCK - 1) // ROW_BLOCK
    for ch in prange(nchunks):
        r0 = ch * ROW_BLOCK
        r1 = min(r0 + ROW_BLOCK, M)
        tmp = np.empty((4, PANEL), np.int32)           # the last, partial panel lands here
        for p in range(NP):
            j0 = p * PANEL
            full = j0 + PANEL <= N
            for i0 in range(r0, r1, 4):
                nr = min(4, r1 - i0)                   # a short row block repeats its last row
                first = True
                for m in range(Pa):
                    Am = A[m]
                    a0, a1 = Am[i0], Am[i0 + min(1, nr - 1)]
                    a2, a3 = Am[i0 + min(2, nr - 1)], Am[i0 + nr - 1]
                    for n in range(Pb):
                        c = _micro_4x32(a0, a1, a2, a3, Bpan[n, p], use_and)
                        wt, acc = weights[m, n], not first
                        # static tuple indices keep the 16 accumulators in registers
                        _store_row(out[i0] if full else tmp[0], j0 if full else 0,
                                   c[0], c[1], c[2], c[3], wt, beta, acc)
                        if nr > 1:
                            _store_row(out[i0 + 1] if full else tmp[1], j0 if full else 0,
                                       c[4], c[5], c[6], c[7], wt, beta, acc)
                        if nr > 2:
                            _store_row(out[i0 + 2] if full else tmp[2], j0 if full else 0,
                                       c[8], c[9], c[10], c[11], wt, beta, acc)
                        if nr > 3:
                            _store_row(out[i0 + 3] if full else tmp[3], j0 if full else 0,
                                       c[12], c[13], c[14], c[15], wt, beta, acc)
                        first = False
                if not full:
                    for r in range(nr):
                        for jj in range(N - j0):
                            out[i0 + r, j0 + jj] = tmp[r, jj]
    return out


def popcount_gemm(A_planes, B_planes, weights, beta, use_and):
    """Shared driver: A_planes (Pa, M, W), B_planes (Pb, N, W) uint64 -> (M, N) int32."""
    weights = np.ascontiguousarray(weights, dtype=np.int64)
    bpan = _panelize(np.ascontiguousarray(B_planes))
    (Pa, M, W), N = A_planes.shape, B_planes.shape[1]
    with threads_for(Pa * M * W * B_planes.shape[0] * N):
        return _popcount_gemm(np.ascontiguousarray(A_planes), bpan, N, weights, np.int64(beta), bool(use_and))


def popcount_gemm_reference(A_planes, B_planes, weights, beta, use_and):
    """What ``popcount_gemm``'s 16-accumulator micro-kernel computes, readably (tests compare them):

    ``out[i, j] = beta + sum_{m,n} weights[m, n] * sum_w popcount(op(A[m, i, w], B[n, j, w]))``.
    """
    op = np.bitwise_and if use_and else np.bitwise_xor
    out = np.full((A_planes.shape[1], B_planes.shape[1]), beta, dtype=np.int64)
    for m, a in enumerate(A_planes):
        for n, b in enumerate(B_planes):
            counts = np.bitwise_count(op(a[:, None, :], b[None, :, :])).sum(axis=-1, dtype=np.int64)
            out += int(weights[m][n]) * counts
    return out.astype(np.int32)


def _check_packed(x, name):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy uint64 array, got {type(x).__name__}")
    if x.dtype != np.uint64:
        raise TypeError(f"{name} must be uint64, got {x.dtype}")
    check_shape(x, name, 2, "(rows, words)")


def binary_matmul(A_packed, B_packed, k):
    """A @ B for +-1 operands, packed: (M, W) x (N, W) uint64 -> (M, N) int32 = k - 2*popcount(a^b).

    A_packed = pack_rows(A) for A (M, k); B_packed = pack_cols(B) for B (k, N)
    (or pack_rows(W) for a weight W (N, k), giving A @ W.T).
    """
    _check_packed(A_packed, "A_packed")
    _check_packed(B_packed, "B_packed")
    W = A_packed.shape[1]
    if B_packed.shape[1] != W:
        raise ValueError(f"B_packed must have {W} words per row like A_packed, got shape {B_packed.shape}")
    lo, hi = (WORD * (W - 1) + 1, WORD * W) if W else (0, 0)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not lo <= k <= hi:
        raise ValueError(f"k must be an int in {lo}..{hi} (ceil(k/64) = words = {W}), got {k!r}")
    return popcount_gemm(A_packed[None], B_packed[None], [[-2]], int(k), use_and=False)


def _check_real(x, name, ndim):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a bool, integer or float array, got {x.dtype}")
    check_shape(x, name, ndim)


def binary_linear(x_pm1, w_pm1):
    """y = sign(x) @ sign(w).T exactly, in int32. x (B, in), w (out, in) -> (B, out). sign(0) = +1."""
    _check_real(x_pm1, "x_pm1", 2)
    _check_real(w_pm1, "w_pm1", 2)
    if x_pm1.shape[1] != w_pm1.shape[1]:
        raise ValueError(f"w_pm1 must have in_features = {x_pm1.shape[1]} columns like x_pm1, got shape {w_pm1.shape}")
    k = x_pm1.shape[1]
    if k == 0:
        return np.zeros((x_pm1.shape[0], w_pm1.shape[0]), np.int32)
    return binary_matmul(pack_rows(x_pm1), pack_rows(w_pm1), k)


def _pair(v, name, low):
    """``v`` or ``(v_h, v_w)`` as two ints >= ``low``."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(vals) != 2:
        raise ValueError(f"{name} must be an int >= {low} or a pair of them, got {v!r}")
    return check_int(vals[0], name, low), check_int(vals[1], name, low)


def binary_conv2d(x, w, stride=1, padding=0):
    """conv2d(sign(x), sign(w)) with ZERO padding, exactly, in int32. x (N, C, H, W), w (O, C, kh, kw).

    Padding is not a +-1 value, so it cannot be packed. We pad with +1 instead and
    subtract a correction term: each padded position contributed (+1) * w[o, c, u, v],
    so  out = popcount-GEMM(+1-padded patches) - mask @ sum_c sign(w)[o, c, u, v],
    where mask[(y, x), (u, v)] = 1 if tap (u, v) of output (y, x) falls in the padding.
    The correction is a tiny (Ho*Wo, kh*kw) x (kh*kw, O) integer product.
    Returns (N, O, Ho, Wo) int32, Ho = (H + 2*pad - kh) // stride + 1.
    """
    _check_real(x, "x", 4)
    _check_real(w, "w", 4)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    N, C, H, Wd = x.shape
    O, Cw, kh, kw = w.shape
    if Cw != C:
        raise ValueError(f"w must have {C} input channels like x, got shape {w.shape}")
    Hp, Wp = H + 2 * ph, Wd + 2 * pw
    if kh > Hp or kw > Wp or kh == 0 or kw == 0:
        raise ValueError(f"w kernel size {(kh, kw)} must be in 1..padded input size {(Hp, Wp)}")
    for arr, nm in ((x, "x"), (w, "w")):
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValueError(f"{nm} contains NaN; binary_conv2d needs a sign for every element")
    Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    bits = np.pad(x >= 0 if x.dtype != np.bool_ else x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=True)
    win = np.lib.stride_tricks.sliding_window_view(bits, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * kh * kw)   # im2col (one bool copy)
    wflat = w.reshape(O, C * kh * kw)
    y = binary_matmul(pack_rows(cols), pack_rows(wflat), C * kh * kw) if N * Ho * Wo * O else \
        np.zeros((N * Ho * Wo, O), np.int32)
    pad = np.ones((Hp, Wp), np.int32)
    pad[ph:ph + H, pw:pw + Wd] = 0
    mask = np.lib.stride_tricks.sliding_window_view(pad, (kh, kw))[::sh, ::sw].reshape(Ho * Wo, kh * kw)
    if mask.any():
        wsum = np.where(wflat.reshape(O, C, kh * kw) >= 0, 1, -1).sum(axis=1, dtype=np.int32)
        y = (y.reshape(N, Ho * Wo, O) - (mask @ wsum.T)[None]).astype(np.int32)
    return np.ascontiguousarray(y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2))
