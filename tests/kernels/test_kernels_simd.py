"""The hand-unrolled kernels against their readable numpy references (same module, `*_reference`)."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from qnn_lite.kernels import _simd as S
from qnn_lite.kernels.bgemm import popcount_gemm, popcount_gemm_reference
from qnn_lite.kernels.intgemm import int8_matmul, int8_matmul_reference


@numba.njit
def _xorpop_andpop(acc_words, a_word, b):
    """Run vxorpop / vandpop once on (acc, splat(a), b[0:8]); store both through vaxpy (alpha 1)."""
    out = np.zeros(16, np.int32)
    acc = S.vload_u64(acc_words, 0)
    x, bv = S.vsplat_u64(a_word), S.vload_u64(b, 0)
    S.vaxpy_u64_i32(out, 0, S.vxorpop(acc, x, bv), 1, 0, False)
    S.vaxpy_u64_i32(out, 8, S.vandpop(acc, x, bv), 1, 0, False)
    return out


def _words(rng, n):
    return rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)


def test_vxorpop_and_vandpop_equal_their_references():
    rng = np.random.default_rng(0)
    for _ in range(20):
        acc = rng.integers(0, 1000, 8).astype(np.uint64)
        a, b = _words(rng, 1)[0], _words(rng, 8)
        got = _xorpop_andpop(acc, a, b)
        np.testing.assert_array_equal(got[:8], S.vxorpop_reference(acc, a, b).astype(np.int32))
        np.testing.assert_array_equal(got[8:], S.vandpop_reference(acc, a, b).astype(np.int32))


@numba.njit
def _axpy(arr, v_words, alpha, beta, accumulate):
    S.vaxpy_u64_i32(arr, 4, S.vload_u64(v_words, 0), alpha, beta, accumulate)


@pytest.mark.parametrize("accumulate", [False, True])
def test_vaxpy_equals_its_reference(accumulate):
    rng = np.random.default_rng(1)
    arr = rng.integers(-1000, 1000, 16).astype(np.int32)
    v = rng.integers(0, 5000, 8).astype(np.uint64)
    got, ref = arr.copy(), arr.copy()
    _axpy(got, v, -2, 7, accumulate)
    S.vaxpy_u64_i32_reference(ref, 4, v, -2, 7, accumulate)
    np.testing.assert_array_equal(got, ref)


@numba.njit
def _signbits(arr):
    return S.signbits64(arr, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int32])
def test_signbits64_equals_its_reference(dtype):
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 3, 64).astype(dtype)
    if x.dtype.kind == "f":
        x[[3, 40]] = np.nan
        x[5] = -0.0
    got = tuple(int(w) for w in _signbits(x))
    assert got == S.signbits64_reference(x, 0)


@numba.njit
def _dpbusd(acc_in, aquad, b, corr):
    out = np.empty(16, np.int32)
    acc = S.vzero_i32()
    acc = S.vdpbusd(acc, aquad, b, 0)
    S.vstore_sub_i32(out, 0, acc, corr, 0)
    return out


def test_vdpbusd_and_vstore_sub_equal_their_references():
    rng = np.random.default_rng(3)
    for _ in range(10):
        aquad = np.int32(rng.integers(-2**31, 2**31 - 1))
        b = rng.integers(-128, 128, 64).astype(np.int8)
        corr = rng.integers(-1000, 1000, 16).astype(np.int32)
        got = _dpbusd(np.zeros(16, np.int32), aquad, b, corr)
        ref = np.empty(16, np.int32)
        S.vstore_sub_i32_reference(ref, 0, S.vdpbusd_reference(np.zeros(16, np.int32), aquad, b, 0), corr, 0)
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("use_and", [False, True])
@pytest.mark.parametrize("pa, pb, m, n, w", [(1, 1, 1, 1, 1), (1, 1, 5, 33, 2), (2, 3, 9, 70, 3)])
def test_popcount_gemm_micro_kernel_equals_its_reference(use_and, pa, pb, m, n, w):
    rng = np.random.default_rng(4)
    A = _words(rng, pa * m * w).reshape(pa, m, w)
    B = _words(rng, pb * n * w).reshape(pb, n, w)
    weights = rng.integers(-4, 5, (pa, pb))
    np.testing.assert_array_equal(popcount_gemm(A, B, weights, 3, use_and),
                                  popcount_gemm_reference(A, B, weights, 3, use_and))


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (5, 7, 65), (33, 130, 70)])
def test_int8_gemm_kernel_equals_its_reference_and_numpy(m, k, n):
    rng = np.random.default_rng(5)
    A = rng.integers(-128, 128, (m, k)).astype(np.int8)
    B = rng.integers(-128, 128, (k, n)).astype(np.int8)
    ref = int8_matmul_reference(A, B)
    np.testing.assert_array_equal(int8_matmul(A, B), ref)
    np.testing.assert_array_equal(ref, A.astype(np.int64) @ B.astype(np.int64))
