"""Bit packing: +-1 (or 0/1) tensors -> uint64 words along the reduction axis, and back.

Convention (XNOR-Net, Rastegari et al. 2016; BMXNet, Yang et al. 2017):
    bit = 1  for +1 (any value x >= 0, i.e. sign(0) = +1) or True
    bit = 0  for -1 (x < 0) or False
Element k of a row goes to word k // 64, bit k % 64 (least significant bit first).

Padding: when K is not a multiple of 64 the last word is padded with 0 bits, in
BOTH operands. Then XOR(pad, pad) = 0 (a "match") and AND(pad, pad) = 0, so for
+-1 operands  a . b = k - 2 * popcount(a XOR b)  holds with the *true* k, and the
padding never changes a result.

Shapes:
    pack_rows(A)  (M, K) -> (M, W)  uint64, W = ceil(K / 64)
    pack_cols(B)  (K, N) -> (N, W)  uint64, from strips of B's rows (no transposed copy)
    pack_bitplanes_rows(A, bits, signed)  (M, K) ints -> (bits, M, W)
    pack_bitplanes_cols(B, bits, signed)  (K, N) ints -> (bits, N, W)
Plane m holds bit m of the two's-complement code (for signed operands the top
plane, m = bits - 1, has weight -2**(bits - 1)).
"""
import numpy as np
from numba import njit, prange

from ..validate import check_bits, check_shape
from ._config import threads_for
from ._simd import signbits64

__all__ = ["num_words", "pack_rows", "pack_cols", "unpack_rows", "unpack_cols",
           "pack_bitplanes_rows", "pack_bitplanes_cols", "check_int_range"]

WORD = 64


def num_words(k):
    """Number of uint64 words holding k bits: ceil(k / 64)."""
    return (int(k) + WORD - 1) // WORD


# ----------------------------------------------------------------- kernels
@njit(parallel=True, cache=True)
def _pack_rows_kernel(A):
    """A (M, K) float32 -> (M, W) uint64 with bit = (x >= 0), and a NaN flag."""
    M, K = A.shape
    W = (K + 63) // 64
    full = K // 64
    out = np.zeros((M, W), np.uint64)
    bad = np.zeros(M, np.bool_)
    for i in prange(M):
        row = A[i]
        nan = np.uint64(0)
        for w in range(full):                   # 64 elements -> one compare mask -> one word
            word, isnan = signbits64(row, w * 64)
            out[i, w] = word
            nan |= isnan
        word = np.uint64(0)
        for t in range(K - full * 64):          # the last, partial word
            x = row[full * 64 + t]
            word |= np.uint64(x >= 0) << np.uint64(t)
            nan |= np.uint64(x != x)
        if full < W:
            out[i, full] = word
        bad[i] = nan != 0
    return out, bad.any()


@njit(parallel=True, cache=True)
def _pack_cols_kernel(B):
    """B (K, N) float32 -> (N, W): for each word, OR bit t of 512 columns from a strip of row t."""
    K, N = B.shape
    W = (K + 63) // 64
    out = np.zeros((N, W), np.uint64)
    CH = 512                                   # columns per task: a strip of B's rows
    nch = (N + CH - 1) // CH
    bad = np.zeros(nch, np.bool_)
    for c in prange(nch):
        j0 = c * CH
        nj = min(CH, N - j0)
        acc = np.empty(nj, np.uint64)
        nan = False
        for w in range(W):
            acc[:] = 0
            k0 = w * 64
            for t in range(min(64, K - k0)):
                row = B[k0 + t, j0:j0 + nj]     # contiguous strip of one row of B
                bit = np.uint64(1) << np.uint64(t)
                for jj in range(nj):
                    x = row[jj]
                    nan |= x != x
                    acc[jj] |= bit if x >= 0 else np.uint64(0)
            for jj in range(nj):
                out[j0 + jj, w] = acc[jj]
        bad[c] = nan
    return out, bad.any()


@njit(parallel=True, cache=True)
def _pack_planes_rows_kernel(A, bits):
    """A (M, K) int16 -> (bits, M, W): plane m holds bit m of the two's-complement code."""
    M, K = A.shape
    W = (K + 63) // 64
    out = np.zeros((bits, M, W), np.uint64)
    for i in prange(M):
        row = A[i]
        for m in range(bits):
            for w in range(W):
                k0 = w * 64
                word = np.uint64(0)
                for t in range(min(64, K - k0)):
                    word |= np.uint64((row[k0 + t] >> m) & 1) << np.uint64(t)
                out[m, i, w] = word
    return out


@njit(parallel=True, cache=True)
def _pack_planes_cols_kernel(B, bits):
    """B (K, N) int16 -> (bits, N, W), reading rows of B in strips like _pack_cols_kernel."""
    K, N = B.shape
    W = (K + 63) // 64
    out = np.zeros((bits, N, W), np.uint64)
    CH = 512
    for c in prange((N + CH - 1) // CH):
        j0 = c * CH
        nj = min(CH, N - j0)
        acc = np.empty((bits, nj), np.uint64)
        for w in range(W):
            acc[:] = 0
            k0 = w * 64
            for t in range(min(64, K - k0)):
                row = B[k0 + t, j0:j0 + nj]
                sh = np.uint64(t)
                for m in range(bits):
                    am = acc[m]
                    for jj in range(nj):
                        am[jj] |= np.uint64((row[jj] >> m) & 1) << sh
            for m in range(bits):
                for jj in range(nj):
                    out[m, j0 + jj, w] = acc[m, jj]
    return out


# ----------------------------------------------------------------- checks
def _as_real_2d(x, name):
    """Validate; float32 goes to the kernels as is, other dtypes become float32 +-1 first.

    One dtype means one compiled specialisation per kernel, which matters because
    numba compile time is paid by every cold test run.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a bool, integer or float array, got {x.dtype}")
    check_shape(x, name, 2)
    if x.dtype == np.float32:
        return x
    if x.dtype.kind == "f" and np.isnan(x).any():
        _raise_nan(True, name)
    return np.where(x if x.dtype == np.bool_ else x >= 0, np.float32(1), np.float32(-1))


def _raise_nan(found, name):
    if found:
        raise ValueError(f"{name} contains NaN; +-1 packing needs a sign for every element")


# ----------------------------------------------------------------- public API
def _pack_bool_rows(A):
    """A bool (M, K) -> (M, ceil(K/64)) uint64 by ``np.packbits`` (LSB first; 8 bytes read as one little-endian word).

    Bool rows skip the +-1 float copy of ``_as_real_2d``, which costs ~300x the packing itself.
    """
    M, K = A.shape
    packed = np.packbits(A, axis=1, bitorder="little")
    packed = np.pad(packed, ((0, 0), (0, 8 * num_words(K) - packed.shape[1])))
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False).reshape(M, num_words(K))


def pack_rows(A):
    """Pack each row of A (M, K) along K: (M, ceil(K/64)) uint64; bit = (A >= 0) or A (bool)."""
    if isinstance(A, np.ndarray) and A.dtype == np.bool_ and A.ndim == 2:
        return _pack_bool_rows(A)
    x = _as_real_2d(A, "A")
    with threads_for(x.size, small=1 << 20):
        out, nan = _pack_rows_kernel(np.ascontiguousarray(x))
    _raise_nan(nan, "A")
    return out


def pack_cols(B):
    """Pack each column of B (K, N) along K: (N, ceil(K/64)) uint64; bit = (B >= 0) or B (bool).

    Reads B's rows in strips of 512 columns and ORs bit t into 512 words at
    once, so no transposed copy of B is made. A Fortran-ordered
    B (e.g. `W.T` of a C-ordered weight) already has contiguous columns and is
    packed as the rows of `B.T`.
    """
    x = _as_real_2d(B, "B")
    with threads_for(x.size, small=1 << 20):
        if x.flags.f_contiguous and not x.flags.c_contiguous:
            out, nan = _pack_rows_kernel(x.T)
        else:
            out, nan = _pack_cols_kernel(np.ascontiguousarray(x))
    _raise_nan(nan, "B")
    return out


def _unpack_bits(packed, k, name):
    if not isinstance(packed, np.ndarray) or packed.dtype != np.uint64:
        got = packed.dtype if isinstance(packed, np.ndarray) else type(packed).__name__
        raise TypeError(f"{name} must be a uint64 array, got {got}")
    check_shape(packed, name, 2, "(rows, words)")
    words = packed.shape[1]
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) \
            or not (WORD * (words - 1) < k <= WORD * words or (words == 0 and k == 0)):
        lo = max(WORD * (words - 1) + 1, 0) if words else 0
        raise ValueError(f"k must be an int in {lo}..{WORD * words} for {words} words, got {k!r}")
    as_bytes = np.ascontiguousarray(packed).view(np.uint8)      # little-endian words
    return np.unpackbits(as_bytes, axis=1, count=int(k), bitorder="little").astype(bool)


def unpack_rows(packed, k, dtype=np.float32):
    """Inverse of pack_rows: (M, W) uint64 -> (M, k) of +-1 in `dtype` (bits if dtype is bool)."""
    bits = _unpack_bits(packed, k, "packed")
    return bits if np.dtype(dtype) == np.bool_ else np.where(bits, 1, -1).astype(dtype)


def unpack_cols(packed, k, dtype=np.float32):
    """Inverse of pack_cols: (N, W) uint64 -> (k, N) of +-1 in `dtype` (bits if dtype is bool)."""
    return unpack_rows(packed, k, dtype).T


def check_int_range(x, bits, signed, name):
    """Validate an integer operand of a `bits`-bit (un)signed format; return it as int16."""
    bits = check_bits(bits, f"{name[0].lower()}_bits", 1, 8)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got {x.dtype}")
    check_shape(x, name, 2)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if x.size and (x.min() < lo or x.max() > hi):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} has values outside the {bits}-bit {kind} range {lo}..{hi}: "
                         f"found min {x.min()}, max {x.max()}")
    return x.astype(np.int16, copy=False)


def pack_bitplanes_rows(A, bits, signed=False):
    """Bit planes of integer A (M, K), each packed along K: (bits, M, W) uint64."""
    a = check_int_range(A, bits, signed, "A")
    with threads_for(a.size * bits, small=1 << 20):
        return _pack_planes_rows_kernel(np.ascontiguousarray(a), int(bits))


def pack_bitplanes_cols(B, bits, signed=False):
    """Bit planes of integer B (K, N), each packed along K: (bits, N, W) uint64."""
    b = check_int_range(B, bits, signed, "B")
    with threads_for(b.size * bits, small=1 << 20):
        return _pack_planes_cols_kernel(np.ascontiguousarray(b), int(bits))
